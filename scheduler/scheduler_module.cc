#include "scheduler/scheduler_module.h"

#include <memory>

#include "mflsync/v1/scheduler.grpc.pb.h"

namespace mflsync::scheduler {
namespace {

class SchedulerGrpc final : public mflsync::v1::SchedulerService::Service {};

class SchedulerModule final : public ServiceModule {
 public:
  std::vector<grpc::Service*> GrpcServices() override { return {&grpc_}; }

 private:
  SchedulerGrpc grpc_;
};

}  // namespace

ServiceSpec SchedulerSpec() {
  ServiceSpec spec;
  spec.name = "scheduler";
  spec.summary = "runs the sync: schedules, run history, failure queue";
  spec.default_listen = "127.0.0.1:50050";
  spec.grpc_service_names = {mflsync::v1::SchedulerService::service_full_name()};
  spec.create = [](const Config&) -> absl::StatusOr<std::unique_ptr<ServiceModule>> {
    return std::make_unique<SchedulerModule>();
  };
  return spec;
}

}  // namespace mflsync::scheduler
