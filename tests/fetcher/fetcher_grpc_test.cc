// The fetcher's gRPC edge in-process: FetchChanges streams one response per
// MFL page from the stand-in; ListSources; a fetcher without a source answers
// FAILED_PRECONDITION naming the setting; unknown sources and bad requests.
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "common/config.h"
#include "common/fhir.h"
#include "fetcher/bundle_page.h"
#include "fetcher/fetcher_module.h"
#include "mflsync/v1/fetcher.grpc.pb.h"
#include "tests/fetcher/mfl_standin.h"

namespace mflsync::fetcher {
namespace {

class GrpcFixture {
 public:
  explicit GrpcFixture(const std::map<std::string, std::string>& env) {
    absl::StatusOr<Config> config = Config::Load(FetcherSpec().schema, "", env);
    if (!config.ok()) {
      error_ = config.status();
      return;
    }
    absl::StatusOr<std::unique_ptr<ServiceModule>> module = CreateFetcherModule(*config);
    if (!module.ok()) {
      error_ = module.status();
      return;
    }
    module_ = *std::move(module);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    for (grpc::Service* s : module_->GrpcServices()) builder.RegisterService(s);
    server_ = builder.BuildAndStart();
    stub_ = v1::FetcherService::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  }
  ~GrpcFixture() {
    if (server_) server_->Shutdown();
  }
  const absl::Status& error() const { return error_; }
  v1::FetcherService::Stub& stub() { return *stub_; }

 private:
  absl::Status error_;
  std::unique_ptr<ServiceModule> module_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::FetcherService::Stub> stub_;
};

TEST(FetcherGrpcTest, WithoutASourceFetchChangesNamesTheMissingSetting) {
  GrpcFixture f({});
  ASSERT_TRUE(f.error().ok()) << f.error();
  grpc::ClientContext ctx;
  v1::FetchChangesRequest req;
  auto reader = f.stub().FetchChanges(&ctx, req);
  v1::FetchChangesResponse page;
  EXPECT_FALSE(reader->Read(&page));
  grpc::Status s = reader->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(s.error_message().find("sources.<name>.base_url"), std::string::npos)
      << s.error_message();
}

TEST(FetcherGrpcTest, StreamsPagesFromTheStandIn) {
  mflsync::testing::MflStandIn mfl;
  ASSERT_TRUE(mfl.Start({"--synthetic", "120", "--basic-user", "u1", "--basic-password",
                         "pw-grpc-secret"})
                  .ok());
  GrpcFixture f({{"MFLSYNC_SOURCES__KENYA__BASE_URL", mfl.BaseUrl()},
                 {"MFLSYNC_SOURCES__KENYA__AUTH__TYPE", "basic"},
                 {"MFLSYNC_SOURCES__KENYA__AUTH__USERNAME", "u1"},
                 {"MFLSYNC_SOURCES__KENYA__AUTH__PASSWORD", "pw-grpc-secret"},
                 {"MFLSYNC_SOURCES__OTHER__BASE_URL", "http://127.0.0.1:9/fhir"}});
  ASSERT_TRUE(f.error().ok()) << f.error();

  {
    grpc::ClientContext ctx;
    v1::ListSourcesResponse list;
    ASSERT_TRUE(f.stub().ListSources(&ctx, {}, &list).ok());
    ASSERT_EQ(list.sources_size(), 2);
    EXPECT_EQ(list.sources(0).source_id(), "kenya");
    EXPECT_EQ(list.sources(0).base_url(), mfl.BaseUrl());
    EXPECT_EQ(list.sources(0).mode(), v1::FETCH_MODE_SEARCH);
  }
  {
    grpc::ClientContext ctx;
    v1::FetchChangesRequest req;
    req.set_source_id("kenya");
    req.set_page_size(25);
    *req.mutable_since() = ToTimestamp(*ParseFhirInstant("2014-01-01T00:50:00Z"));
    auto reader = f.stub().FetchChanges(&ctx, req);
    v1::FetchChangesResponse page;
    int pages = 0, records = 0;
    while (reader->Read(&page)) {
      ++pages;
      EXPECT_EQ(page.page(), pages);
      EXPECT_LE(page.records_size(), 25);
      EXPECT_TRUE(page.has_high_watermark());
      EXPECT_EQ(page.server_total(), 120);
      records += page.records_size();
      for (const v1::SourceRecord& r : page.records()) EXPECT_EQ(r.source_id(), "kenya");
    }
    ASSERT_TRUE(reader->Finish().ok());
    EXPECT_EQ(pages, 5);
    EXPECT_EQ(records, 120);
  }
  {
    grpc::ClientContext ctx;
    v1::FetchChangesRequest req;  // two sources: source_id required
    auto reader = f.stub().FetchChanges(&ctx, req);
    v1::FetchChangesResponse page;
    EXPECT_FALSE(reader->Read(&page));
    grpc::Status s = reader->Finish();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(s.error_message().find("kenya, other"), std::string::npos) << s.error_message();
  }
  {
    grpc::ClientContext ctx;
    v1::FetchChangesRequest req;
    req.set_source_id("nowhere");
    auto reader = f.stub().FetchChanges(&ctx, req);
    v1::FetchChangesResponse page;
    EXPECT_FALSE(reader->Read(&page));
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::NOT_FOUND);
  }
  {
    grpc::ClientContext ctx;
    v1::FetchChangesRequest req;
    req.set_source_id("kenya");
    req.set_page_size(-3);
    auto reader = f.stub().FetchChanges(&ctx, req);
    v1::FetchChangesResponse page;
    EXPECT_FALSE(reader->Read(&page));
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
  {
    // A fault on the MFL side ends the stream with the page and the cause.
    ASSERT_TRUE(mfl.Faults(R"([{"kind":"status","status":403,"page":2}])").ok());
    grpc::ClientContext ctx;
    v1::FetchChangesRequest req;
    req.set_source_id("kenya");
    req.set_page_size(25);
    auto reader = f.stub().FetchChanges(&ctx, req);
    v1::FetchChangesResponse page;
    int pages = 0;
    while (reader->Read(&page)) ++pages;
    grpc::Status s = reader->Finish();
    EXPECT_EQ(pages, 1);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
    EXPECT_NE(s.error_message().find("page 2"), std::string::npos) << s.error_message();
    EXPECT_EQ(s.error_message().find("pw-grpc-secret"), std::string::npos);
  }
}

}  // namespace
}  // namespace mflsync::fetcher
