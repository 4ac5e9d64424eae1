// The mapper's gRPC edge, served in-process on a loopback port with the real
// module factory and the shipped synthetic mapping.
#include "mapper/mapper_module.h"

#include <fstream>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "mflsync/v1/mapper.grpc.pb.h"
#include "tests/mapper/test_util.h"

namespace mflsync::mapper {
namespace {

absl::StatusOr<std::unique_ptr<ServiceModule>> Create(
    const std::map<std::string, std::string>& env) {
  ServiceSpec spec = MapperSpec();
  std::vector<ConfigField> schema = CommonSchema(spec.default_listen);
  schema.insert(schema.end(), spec.schema.begin(), spec.schema.end());
  absl::StatusOr<Config> config = Config::Load(schema, "", env);
  if (!config.ok()) return config.status();
  return spec.create(*config);
}

std::string SyntheticMapping() {
  return std::string(MFLSYNC_SOURCE_DIR) + "/mapper/mappings/synthetic.json";
}

class MapperServer {
 public:
  explicit MapperServer(std::map<std::string, std::string> env) {
    auto module = Create(env);
    EXPECT_TRUE(module.ok()) << module.status();
    module_ = std::move(*module);
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    for (grpc::Service* s : module_->GrpcServices()) builder.RegisterService(s);
    server_ = builder.BuildAndStart();
    stub_ = v1::MapperService::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", port_), grpc::InsecureChannelCredentials()));
  }
  ~MapperServer() { server_->Shutdown(); }
  v1::MapperService::Stub* stub() { return stub_.get(); }

 private:
  std::unique_ptr<ServiceModule> module_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::MapperService::Stub> stub_;
  int port_ = 0;
};

TEST(MapperModuleTest, RefusesToStartWithoutAValidMappingFile) {
  auto none = Create({});
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("mapping_file is not set"), std::string::npos);
  std::string path = ::testing::TempDir() + "/bad-mapping.json";
  nlohmann::json doc = testing::TestMappingJson();
  doc["facility_types"][0]["level"] = "CLINIC";
  std::ofstream(path) << doc.dump();
  auto bad = Create({{"MFLSYNC_MAPPING_FILE", path}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find(path + ": facility_types[0].level: 'CLINIC'"),
            std::string::npos)
      << bad.status();
  auto missing = Create({{"MFLSYNC_MAPPING_FILE", "/nonexistent/m.json"}});
  EXPECT_FALSE(missing.ok());
}

TEST(MapperModuleTest, ServesTheThreeRpcs) {
  MapperServer server({{"MFLSYNC_MAPPING_FILE", SyntheticMapping()}});
  grpc::ClientContext info_ctx;
  v1::GetMappingInfoResponse info;
  ASSERT_TRUE(server.stub()->GetMappingInfo(&info_ctx, {}, &info).ok());
  EXPECT_EQ(info.path(), SyntheticMapping());
  EXPECT_EQ(info.schema_version(), 1);
  EXPECT_EQ(info.table_sizes().at("owners"), 4);

  // A record in the synthetic data's shape (ward partOf replaced by the address).
  nlohmann::json loc = testing::GoodLocation();
  loc.erase("partOf");
  v1::MapFacilitiesRequest map_req;
  *map_req.add_records() = testing::Record(loc);
  nlohmann::json bad = loc;
  bad["id"] = "fac 1";
  *map_req.add_records() = testing::Record(bad);
  grpc::ClientContext map_ctx;
  v1::MapFacilitiesResponse mapped;
  ASSERT_TRUE(server.stub()->MapFacilities(&map_ctx, map_req, &mapped).ok());
  ASSERT_EQ(mapped.results_size(), 2);
  // The synthetic areas have no "Laikipia East": rejected with the area rule.
  ASSERT_GT(mapped.results(0).rejections_size(), 0);
  EXPECT_EQ(mapped.results(0).rejections(0).rule(), "mapping.area.unknown");
  EXPECT_EQ(mapped.results(1).rejections(0).rule(), "fhir.id.syntax");

  // Reconciliation moved to the writer (WriterService.PlanWrites): the
  // deprecated RPC says where.
  grpc::ClientContext rec_ctx;
  v1::ReconcileFacilitiesResponse reconciled;
  grpc::Status moved = server.stub()->ReconcileFacilities(&rec_ctx, {}, &reconciled);
  EXPECT_EQ(moved.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_NE(moved.error_message().find("WriterService/PlanWrites"), std::string::npos)
      << moved.error_message();
}

TEST(MapperModuleTest, RefusesOversizedBatches) {
  MapperServer server(
      {{"MFLSYNC_MAPPING_FILE", SyntheticMapping()}, {"MFLSYNC_MAX_BATCH_RECORDS", "2"}});
  v1::MapFacilitiesRequest req;
  for (int i = 0; i < 3; ++i) *req.add_records() = testing::Record(testing::GoodLocation());
  grpc::ClientContext ctx;
  v1::MapFacilitiesResponse resp;
  grpc::Status status = server.stub()->MapFacilities(&ctx, req, &resp);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("max_batch_records = 2"), std::string::npos);
}

}  // namespace
}  // namespace mflsync::mapper
