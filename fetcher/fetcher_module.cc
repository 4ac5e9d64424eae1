#include "fetcher/fetcher_module.h"

#include <memory>

#include "mflsync/v1/fetcher.grpc.pb.h"

namespace mflsync::fetcher {
namespace {

class FetcherGrpc final : public mflsync::v1::FetcherService::Service {};

class FetcherModule final : public ServiceModule {
 public:
  std::vector<grpc::Service*> GrpcServices() override { return {&grpc_}; }

 private:
  FetcherGrpc grpc_;
};

}  // namespace

ServiceSpec FetcherSpec() {
  ServiceSpec spec;
  spec.name = "fetcher";
  spec.summary = "streams changed facilities from the MFL (through openHIM)";
  spec.default_listen = "127.0.0.1:50051";
  spec.grpc_service_names = {mflsync::v1::FetcherService::service_full_name()};
  spec.create = [](const Config&) -> absl::StatusOr<std::unique_ptr<ServiceModule>> {
    return std::make_unique<FetcherModule>();
  };
  return spec;
}

}  // namespace mflsync::fetcher
