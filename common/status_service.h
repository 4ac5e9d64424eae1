// The StatusService every mflsync service serves (protos/mflsync/v1/
// status.proto): its name, whether it is SERVING, each dependency check's
// last result (from DependencyHealth, never waiting for a check) and the
// address of its /metrics listener. ServiceMain registers it.
#ifndef MFLSYNC_COMMON_STATUS_SERVICE_H_
#define MFLSYNC_COMMON_STATUS_SERVICE_H_

#include <string>

#include "common/dependency_health.h"
#include "mflsync/v1/status.grpc.pb.h"

namespace mflsync {

// The answer of GetStatus from `health`'s last results.
v1::GetStatusResponse StatusOf(const std::string& service, const DependencyHealth& health,
                               const std::string& metrics_address);

class StatusServiceImpl final : public v1::StatusService::Service {
 public:
  StatusServiceImpl(std::string service, const DependencyHealth* health,
                    std::string metrics_address)
      : service_(std::move(service)),
        health_(health),
        metrics_address_(std::move(metrics_address)) {}

  grpc::Status GetStatus(grpc::ServerContext* context, const v1::GetStatusRequest* request,
                         v1::GetStatusResponse* response) override;

 private:
  const std::string service_;
  const DependencyHealth* health_;
  const std::string metrics_address_;
};

}  // namespace mflsync

#endif  // MFLSYNC_COMMON_STATUS_SERVICE_H_
