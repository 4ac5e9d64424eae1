#include "mapper/mapper_module.h"

#include <memory>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status_util.h"
#include "mapper/mapper.h"
#include "mapper/mapper_metrics.h"
#include "mapper/mapping.h"
#include "mflsync/v1/mapper.grpc.pb.h"

namespace mflsync::mapper {
namespace {

// gRPC edge: checks batch sizes, then hands over to Mapper.
class MapperGrpc final : public mflsync::v1::MapperService::Service {
 public:
  MapperGrpc(Mapping mapping, int64_t max_batch, MapperMetrics* metrics)
      : mapping_(std::move(mapping)), mapper_(&mapping_), max_batch_(max_batch),
        metrics_(metrics) {}

  grpc::Status MapFacilities(grpc::ServerContext*, const v1::MapFacilitiesRequest* request,
                             v1::MapFacilitiesResponse* response) override {
    if (request->records_size() > max_batch_)
      return ToGrpcStatus(absl::InvalidArgumentError(
          absl::StrCat("MapFacilities: ", request->records_size(),
                       " records exceed max_batch_records = ", max_batch_)));
    *response = mapper_.MapBatch(*request);
    metrics_->CountMapped(*response);
    return grpc::Status::OK;
  }

  // Deprecated: the writer owns facility identity now.
  grpc::Status ReconcileFacilities(grpc::ServerContext*, const v1::ReconcileFacilitiesRequest*,
                                   v1::ReconcileFacilitiesResponse*) override {
    return grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                        "MapperService.ReconcileFacilities is deprecated: reconciliation "
                        "moved to the writer, which holds what openIMIS has; call "
                        "mflsync.v1.WriterService/PlanWrites with the mapped records");
  }

  grpc::Status GetMappingInfo(grpc::ServerContext*, const v1::GetMappingInfoRequest*,
                              v1::GetMappingInfoResponse* response) override {
    response->set_path(mapping_.source());
    response->set_schema_version(mapping_.schema_version());
    response->set_name(mapping_.name());
    for (const auto& [table, size] : mapping_.TableSizes())
      (*response->mutable_table_sizes())[table] = size;
    return grpc::Status::OK;
  }

 private:
  const Mapping mapping_;
  const Mapper mapper_;
  const int64_t max_batch_;
  MapperMetrics* metrics_;
};

class MapperModule final : public ServiceModule {
 public:
  MapperModule(Mapping mapping, int64_t max_batch)
      : grpc_(std::move(mapping), max_batch, &metrics_) {}
  std::vector<grpc::Service*> GrpcServices() override { return {&grpc_}; }
  std::vector<std::shared_ptr<prometheus::Collectable>> MetricsCollectables() override {
    return {metrics_.registry()};
  }

 private:
  MapperMetrics metrics_;
  MapperGrpc grpc_;
};

// The mapping file of `config`, read and validated: the mapper's start-up
// check (--check-config runs it too) and what Create serves.
absl::StatusOr<Mapping> LoadMapping(const Config& config) {
  const std::string path = config.GetString("mapping_file");
  if (path.empty())
    return absl::InvalidArgumentError(
        "mapping_file is not set (MFLSYNC_MAPPING_FILE): the mapper needs a mapping file, "
        "e.g. mapper/mappings/synthetic.json");
  absl::StatusOr<Mapping> mapping = Mapping::LoadFile(path);
  if (!mapping.ok())
    return absl::InvalidArgumentError(mapping.status().message());
  return mapping;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ServiceModule>> CreateMapperModule(const Config& config) {
  absl::StatusOr<Mapping> mapping = LoadMapping(config);
  if (!mapping.ok()) return mapping.status();
  const std::string path = config.GetString("mapping_file");
  LogInfo("mapping loaded", {{"path", path},
                             {"name", mapping->name()},
                             {"schema_version", mapping->schema_version()},
                             {"tables", mapping->TableSizes()}});
  return std::make_unique<MapperModule>(std::move(*mapping), config.GetInt("max_batch_records"));
}

ServiceSpec MapperSpec() {
  ServiceSpec spec;
  spec.name = "mapper";
  spec.summary = "validates MFL facilities and maps them to openIMIS";
  spec.default_listen = "127.0.0.1:50052";
  spec.grpc_service_names = {mflsync::v1::MapperService::service_full_name()};
  spec.schema = {
      {.key = "mapping_file",
       .type = ConfigType::kFile,
       .help = "Mapping file (JSON, docs/mapping.md): facility types, owners, services, "
               "areas → districts, crosswalk. Required; the mapper refuses to start when it "
               "is missing or invalid."},
      {.key = "max_batch_records",
       .type = ConfigType::kInt,
       .default_value = "10000",
       .help = "Most records accepted in one MapFacilities call.",
       .min = 1,
       .max = 1000000},
  };
  spec.validate = [](const Config& config) { return LoadMapping(config).status(); };
  spec.create = CreateMapperModule;
  return spec;
}

}  // namespace mflsync::mapper
