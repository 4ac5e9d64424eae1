#include "writer/writer_module.h"

#include <memory>

#include "mflsync/v1/writer.grpc.pb.h"

namespace mflsync::writer {
namespace {

class WriterGrpc final : public mflsync::v1::WriterService::Service {};

class WriterModule final : public ServiceModule {
 public:
  std::vector<grpc::Service*> GrpcServices() override { return {&grpc_}; }

 private:
  WriterGrpc grpc_;
};

}  // namespace

ServiceSpec WriterSpec() {
  ServiceSpec spec;
  spec.name = "writer";
  spec.summary = "writes health facilities to openIMIS and keeps its index";
  spec.default_listen = "127.0.0.1:50053";
  spec.grpc_service_names = {mflsync::v1::WriterService::service_full_name()};
  spec.create = [](const Config&) -> absl::StatusOr<std::unique_ptr<ServiceModule>> {
    return std::make_unique<WriterModule>();
  };
  return spec;
}

}  // namespace mflsync::writer
