// Asks a gRPC server's standard health service (grpc.health.v1.Health/Check)
// whether it is SERVING, without needing the health proto compiled in.
#ifndef MFLSYNC_COMMON_HEALTH_PROBE_H_
#define MFLSYNC_COMMON_HEALTH_PROBE_H_

#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace mflsync {

// Returns "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN" or "UNKNOWN" for
// `service` ("" is the whole server), or the RPC error.
absl::StatusOr<std::string> CheckHealth(std::shared_ptr<grpc::Channel> channel,
                                        const std::string& service,
                                        absl::Duration timeout);

}  // namespace mflsync

#endif  // MFLSYNC_COMMON_HEALTH_PROBE_H_
