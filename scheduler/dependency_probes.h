// The scheduler's dependency checks (common/dependency_health.h): each
// peer it calls (fetcher, mapper, writer) answers its gRPC health service
// with SERVING, and its state database opens and reads. A peer that answers
// NOT_SERVING fails the check too: the scheduler cannot sync then, and the
// peer's own status (mflsync health) names the outside system at fault.
#ifndef MFLSYNC_SCHEDULER_DEPENDENCY_PROBES_H_
#define MFLSYNC_SCHEDULER_DEPENDENCY_PROBES_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/dependency_health.h"
#include "common/grpc_channel.h"

namespace mflsync::scheduler {

// "peer:NAME": grpc.health.v1 Check of the peer at `address` over a fresh
// channel (so that a peer that came back is seen at once, not after the
// channel's reconnect backoff); OK only for SERVING.
absl::Status ProbePeer(const std::string& name, const std::string& address,
                       const ClientSecurity& security, absl::Duration timeout);

// "state_db": the SQLite file exists, opens and reads its schema version
// within `timeout` (busy time-out). Never creates the file.
absl::Status ProbeStateDb(const std::string& path, absl::Duration timeout);

// The scheduler's probes: peer:fetcher, peer:mapper, peer:writer, state_db.
std::vector<DependencyProbe> SchedulerProbes(const std::string& fetcher_address,
                                             const std::string& mapper_address,
                                             const std::string& writer_address,
                                             const ClientSecurity& security,
                                             const std::string& state_db);

}  // namespace mflsync::scheduler

#endif  // MFLSYNC_SCHEDULER_DEPENDENCY_PROBES_H_
