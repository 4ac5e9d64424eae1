// The mediator's view of the suite: the scheduler, which runs every record
// through the one record flow (sync and push alike); an interface for the
// push and sync paths, and its gRPC implementation.
#ifndef MFLSYNC_MEDIATOR_PEERS_H_
#define MFLSYNC_MEDIATOR_PEERS_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/grpc_channel.h"
#include "mflsync/v1/scheduler.grpc.pb.h"

namespace mflsync::mediator {

class SuitePeers {
 public:
  virtual ~SuitePeers() = default;
  // Runs pushed records through the suite's record flow (the scheduler's
  // PushRecords) and returns what became of each.
  virtual absl::StatusOr<v1::PushRecordsResponse> PushRecords(
      const v1::PushRecordsRequest& r) = 0;
  virtual absl::StatusOr<v1::TriggerSyncResponse> TriggerSync(
      const v1::TriggerSyncRequest& r) = 0;
  // Streams the run until it ends; `on_update` sees every update. Returns
  // the last state seen.
  virtual absl::StatusOr<v1::Run> WatchRun(const std::string& run_id,
                                          const std::function<void(const v1::Run&)>& on_update) = 0;
  virtual absl::StatusOr<v1::ListFailuresResponse> ListFailures(
      const v1::ListFailuresRequest& r) = 0;
  // Ends every WatchRun in progress (shutdown).
  virtual void CancelWatches() {}
};

struct GrpcPeersOptions {
  std::string scheduler_address;
  ClientSecurity security;  // TLS and token to the peers
  absl::Duration rpc_timeout = absl::Seconds(120);
  absl::Duration watch_timeout = absl::Hours(6);
};

std::unique_ptr<SuitePeers> MakeGrpcPeers(const GrpcPeersOptions& options);

}  // namespace mflsync::mediator

#endif  // MFLSYNC_MEDIATOR_PEERS_H_
