#include "mapper/mapper_module.h"

#include <memory>

#include "mflsync/v1/mapper.grpc.pb.h"

namespace mflsync::mapper {
namespace {

class MapperGrpc final : public mflsync::v1::MapperService::Service {};

class MapperModule final : public ServiceModule {
 public:
  std::vector<grpc::Service*> GrpcServices() override { return {&grpc_}; }

 private:
  MapperGrpc grpc_;
};

}  // namespace

ServiceSpec MapperSpec() {
  ServiceSpec spec;
  spec.name = "mapper";
  spec.summary = "validates MFL facilities and maps them to openIMIS";
  spec.default_listen = "127.0.0.1:50052";
  spec.grpc_service_names = {mflsync::v1::MapperService::service_full_name()};
  spec.create = [](const Config&) -> absl::StatusOr<std::unique_ptr<ServiceModule>> {
    return std::make_unique<MapperModule>();
  };
  return spec;
}

}  // namespace mflsync::mapper
