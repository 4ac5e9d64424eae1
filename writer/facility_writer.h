// Writes health facilities to openIMIS through the health-facility
// Organization (type prov) over a pool of keep-alive connections, with
// bounded retries, exactly-once creates (an ambiguous POST is resolved by a
// lookup by code, never repeated blindly) and a consistent Location view.
#ifndef MFLSYNC_WRITER_FACILITY_WRITER_H_
#define MFLSYNC_WRITER_FACILITY_WRITER_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "mflsync/v1/writer.pb.h"
#include "writer/facility_index.h"
#include "writer/openimis_client.h"

namespace mflsync::writer {

// A fixed set of OpenImisClient connections sharing one session; a caller
// borrows one for as long as it works on a record.
class ConnectionPool {
 public:
  ConnectionPool(std::shared_ptr<OpenImisSession> session, int size);

  // A borrowed connection, returned when the lease goes away.
  class Lease {
   public:
    Lease(ConnectionPool* pool, OpenImisClient* client) : pool_(pool), client_(client) {}
    Lease(Lease&& other) noexcept : pool_(other.pool_), client_(other.client_) {
      other.client_ = nullptr;
    }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    OpenImisClient& operator*() { return *client_; }
    OpenImisClient* operator->() { return client_; }

   private:
    ConnectionPool* pool_;
    OpenImisClient* client_;
  };

  // Blocks until a connection is free.
  Lease Acquire();
  int size() const { return static_cast<int>(clients_.size()); }
  OpenImisSession& session() { return *session_; }

 private:
  std::shared_ptr<OpenImisSession> session_;
  std::vector<std::unique_ptr<OpenImisClient>> clients_;
  absl::Mutex mu_;
  std::vector<OpenImisClient*> free_ ABSL_GUARDED_BY(mu_);
};

struct RetryPolicy {
  // HTTP attempts per record (lookups after an ambiguous POST included).
  int max_attempts = 4;
  absl::Duration initial_backoff = absl::Milliseconds(200);
  absl::Duration max_backoff = absl::Seconds(5);
};

struct FacilityWriterOptions {
  RetryPolicy retry;
  // After each write, read the facility's Location (si) view and PUT it when
  // code, name, level or parent differ from what was written.
  bool check_location_view = true;
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

  // Writes one item over `client`.
  mflsync::v1::WriteResult WriteOne(OpenImisClient& client,
                                    const mflsync::v1::WriteItem& item);

 private:
  mflsync::v1::WriteResult Create(OpenImisClient& client,
                                  const std::string& record_key,
                                  mflsync::v1::HealthFacility facility);
  mflsync::v1::WriteResult Update(OpenImisClient& client,
                                  const std::string& record_key,
                                  mflsync::v1::HealthFacility facility);
  // The facility openIMIS holds under `code` (its Location view), nullopt
  // when openIMIS answers 404, or the fault.
  absl::StatusOr<std::optional<mflsync::v1::HealthFacility>> LookupByCode(
      OpenImisClient& client, const std::string& code);
  // Records a successful write: index, Location view.
  void Written(OpenImisClient& client, mflsync::v1::HealthFacility facility,
               mflsync::v1::WriteResult* result);
  // Sleeps before attempt `attempt` + 1 (exponential with jitter, or the
  // server's Retry-After, capped by max_backoff).
  void Backoff(int attempt, absl::Duration retry_after);

  ConnectionPool* pool_;
  FacilityIndex* index_;
  FacilityWriterOptions options_;
};

}  // namespace mflsync::writer

#endif  // MFLSYNC_WRITER_FACILITY_WRITER_H_
