// Writes health facilities to openIMIS over a pool of connections, through
// whichever API is configured (OpenImisApi), exactly once: one create or
// update per HF code at a time across every connection and every caller
// (sync, retry, push), a look-up by code before any retry of an attempt that
// may have been committed, bounded retries with backoff, and openIMIS's own
// duplicate-code refusal resolved by a look-up.
#ifndef MFLSYNC_WRITER_FACILITY_WRITER_H_
#define MFLSYNC_WRITER_FACILITY_WRITER_H_

#include <memory>
#include <set>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "mflsync/v1/writer.pb.h"
#include "writer/facility_index.h"
#include "writer/openimis_api.h"

namespace mflsync::writer {

// A fixed set of OpenImisApi connections; a caller borrows one for as long
// as it works on a record.
class ConnectionPool {
 public:
  ConnectionPool(const OpenImisApiFactory& make, int size);

  // A borrowed connection, returned when the lease goes away.
  class Lease {
   public:
    Lease(ConnectionPool* pool, OpenImisApi* client) : pool_(pool), client_(client) {}
    Lease(Lease&& other) noexcept : pool_(other.pool_), client_(other.client_) {
      other.client_ = nullptr;
    }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    OpenImisApi& operator*() { return *client_; }
    OpenImisApi* operator->() { return client_; }

   private:
    ConnectionPool* pool_;
    OpenImisApi* client_;
  };

  // Blocks until a connection is free.
  Lease Acquire();
  int size() const { return static_cast<int>(clients_.size()); }

 private:
  std::vector<std::unique_ptr<OpenImisApi>> clients_;
  absl::Mutex mu_;
  std::vector<OpenImisApi*> free_ ABSL_GUARDED_BY(mu_);
};

// Exclusive use of an HF code: while a caller holds it, no other create or
// update of that code runs in this writer (openIMIS has no unique
// constraint on the code, so two concurrent creates make two facilities).
class CodeLocks {
 public:
  class Held {
   public:
    Held(CodeLocks* locks, std::string code) : locks_(locks), code_(std::move(code)) {}
    Held(const Held&) = delete;
    Held& operator=(const Held&) = delete;
    ~Held();

   private:
    CodeLocks* locks_;
    std::string code_;
  };
  // Blocks while another caller holds `code`.
  std::unique_ptr<Held> Lock(const std::string& code);

 private:
  absl::Mutex mu_;
  std::set<std::string> held_ ABSL_GUARDED_BY(mu_);
};

struct RetryPolicy {
  // HTTP attempts per record (lookups after an ambiguous POST included).
  int max_attempts = 4;
  absl::Duration initial_backoff = absl::Milliseconds(200);
  absl::Duration max_backoff = absl::Seconds(5);
};

struct FacilityWriterOptions {
  RetryPolicy retry;
};

class FacilityWriter {
 public:
  // `pool` and `index` must outlive the writer.
  FacilityWriter(ConnectionPool* pool, FacilityIndex* index,
                 FacilityWriterOptions options);

  // Writes every item, in parallel over the pool (items sharing an HF code
  // in order, one after the other); one result per item, in order. NOOP
  // items are UNCHANGED without a call. Successful writes update the index.
  mflsync::v1::WriteFacilitiesResponse Write(
      const mflsync::v1::WriteFacilitiesRequest& request);

  // Writes one item over `api`.
  mflsync::v1::WriteResult WriteOne(OpenImisApi& api, const mflsync::v1::WriteItem& item);

 private:
  class Creation;  // one create to a known outcome (facility_writer.cc)

  mflsync::v1::WriteResult Create(OpenImisApi& api, const std::string& record_key,
                                  mflsync::v1::HealthFacility facility);
  mflsync::v1::WriteResult Update(OpenImisApi& api, const std::string& record_key,
                                  mflsync::v1::HealthFacility facility);
  // Records a successful write: the index takes what openIMIS holds (`held`,
  // when `api` reads every column back) or what was sent with held's uuid; a
  // read-back that differs is noted in the message.
  void Written(const OpenImisApi& api, const mflsync::v1::HealthFacility& sent,
               const std::optional<mflsync::v1::HealthFacility>& held,
               mflsync::v1::WriteResult* result);
  // A write openIMIS committed whose follow-up failed (`problem`): FAILED,
  // so that it is queued and retried, with the uuid; the index is left as it
  // was, so the retry writes the facility again and finishes it.
  static void Unfinished(absl::string_view done, absl::string_view problem,
                         const std::optional<mflsync::v1::HealthFacility>& held,
                         mflsync::v1::WriteResult* result);
  // Sleeps before attempt `attempt` + 1 (exponential with jitter, or the
  // server's Retry-After, capped by max_backoff).
  void Backoff(int attempt, absl::Duration retry_after);

  ConnectionPool* pool_;
  FacilityIndex* index_;
  FacilityWriterOptions options_;
  CodeLocks code_locks_;
};

}  // namespace mflsync::writer

#endif  // MFLSYNC_WRITER_FACILITY_WRITER_H_
