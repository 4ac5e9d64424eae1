// What the writer asks of openIMIS, whichever of its APIs speaks it (the
// GraphQL API, the default, or the FHIR R4 module: `openimis.api`): one
// attempt of a create or an update, a look-up by HF code and the index
// load. The exactly-once rules
// (retries, look-ups after an ambiguous attempt, one create per code at a
// time) live above it, in FacilityWriter, once for both APIs.
#ifndef MFLSYNC_WRITER_OPENIMIS_API_H_
#define MFLSYNC_WRITER_OPENIMIS_API_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "mflsync/v1/records.pb.h"
#include "writer/facility_index.h"

namespace mflsync::writer {

// The outcome of one create or update request.
struct WriteAttempt {
  enum class Kind {
    // openIMIS committed it.
    kWritten,
    // openIMIS refused it by one of its rules; nothing was written.
    kRefused,
    // openIMIS refused a create because the HF code exists (which may be a
    // create of ours whose answer was lost).
    kDuplicateCode,
    // Refused before it was handled (rate limit, unavailable, connection
    // refused): sending it again is safe.
    kNotHandled,
    // It may or may not have been committed (timeout, reset, 5xx, a
    // mutation still pending past the bound): look up before any retry.
    kUnknown,
    // This openIMIS cannot take the write at all (credentials, a known
    // upstream defect of the configured API): no retry helps.
    kFatal,
  };
  Kind kind = Kind::kUnknown;
  // openIMIS's own words, or the fault.
  std::string message;
  int http_status = 0;
  // What openIMIS holds after kWritten, when the API says it (the uuid
  // always, the other columns when read back).
  std::optional<mflsync::v1::HealthFacility> stored;
  // The server's Retry-After, when it sent one.
  absl::Duration retry_after = absl::ZeroDuration();
  // Set after kWritten when a follow-up the write needs failed (the FHIR
  // path's Location view: status, level, parent): the facility is in
  // openIMIS but not as sent, so the write counts as failed and is retried.
  std::string incomplete;
};

// One connection's worth of openIMIS. Not thread-safe: one per thread (the
// ConnectionPool hands them out).
class OpenImisApi {
 public:
  virtual ~OpenImisApi() = default;

  // The API's name for messages ("GraphQL", "FHIR R4").
  virtual std::string name() const = 0;

  // Feeds every administrative area, then every current health facility,
  // to `builder`, page by page.
  virtual absl::Status LoadIndex(SnapshotBuilder& builder, int page_size) = 0;

  // Whether LoadChanges works; without it every refresh is a LoadIndex.
  virtual bool incremental_reads() const { return false; }
  // Feeds every administrative area, then the current health facilities
  // that changed at or after `since` (openIMIS's validityFrom), newest
  // first, each with its validityFrom, to `builder`; sets `total` to the
  // number of current facilities openIMIS holds. Deletions do not show
  // (a count that differs from the index's tells of them; a full LoadIndex
  // finds them).
  virtual absl::Status LoadChanges(SnapshotBuilder& builder, absl::Time since, int page_size,
                                   int64_t* total) {
    (void)builder;
    (void)since;
    (void)page_size;
    (void)total;
    return absl::UnimplementedError(name() + " cannot list facilities changed since a time");
  }

  // True when FindByCode and WriteAttempt::stored carry every column the
  // writer sends, so that they can be compared with what was sent.
  virtual bool complete_reads() const = 0;

  // The current facility holding `code`, nullopt when none; an error when
  // openIMIS could not say.
  virtual absl::StatusOr<std::optional<mflsync::v1::HealthFacility>> FindByCode(
      const std::string& code) = 0;

  // One create request of `facility` (no uuid; district uuid and id set).
  virtual WriteAttempt Create(const mflsync::v1::HealthFacility& facility) = 0;

  // One update request replacing the whole record of `facility.uuid()`.
  virtual WriteAttempt Update(const mflsync::v1::HealthFacility& facility) = 0;

  // Brings what openIMIS holds for `stored` (uuid set), found by a lookup
  // after a write whose answer was lost, in line with it where a write has
  // follow-ups (WriteAttempt::incomplete); the error says what is left.
  virtual absl::Status FinishWrite(const mflsync::v1::HealthFacility& stored) {
    (void)stored;
    return absl::OkStatus();
  }
};

// Makes one OpenImisApi per connection.
using OpenImisApiFactory = std::function<std::unique_ptr<OpenImisApi>()>;

}  // namespace mflsync::writer

#endif  // MFLSYNC_WRITER_OPENIMIS_API_H_
