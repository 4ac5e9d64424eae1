#include "common/status_service.h"

#include "common/proto_time.h"

namespace mflsync {

v1::GetStatusResponse StatusOf(const std::string& service, const DependencyHealth& health,
                               const std::string& metrics_address) {
  v1::GetStatusResponse response;
  response.set_service(service);
  response.set_metrics_address(metrics_address);
  bool serving = true;
  for (const DependencyState& state : health.States()) {
    v1::DependencyStatus* dependency = response.add_dependencies();
    dependency->set_name(state.name);
    dependency->set_ok(state.status.ok());
    if (!state.status.ok()) dependency->set_cause(std::string(state.status.message()));
    if (state.checked_at != absl::InfinitePast()) {
      *dependency->mutable_checked_at() = ToTimestamp(state.checked_at);
      *dependency->mutable_since() = ToTimestamp(state.since);
    }
    serving = serving && state.status.ok();
  }
  response.set_serving(serving);
  return response;
}

grpc::Status StatusServiceImpl::GetStatus(grpc::ServerContext*, const v1::GetStatusRequest*,
                                          v1::GetStatusResponse* response) {
  *response = StatusOf(service_, *health_, metrics_address_);
  return grpc::Status::OK;
}

}  // namespace mflsync
