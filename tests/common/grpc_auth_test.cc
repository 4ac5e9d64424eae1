#include "common/grpc_auth.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include <gtest/gtest.h>
#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "common/config.h"
#include "common/grpc_channel.h"
#include "common/grpc_server_credentials.h"
#include "common/service_main.h"
#include "mflsync/v1/fetcher.pb.h"
#include "mflsync/v1/mapper.pb.h"
#include "mflsync/v1/mediator.pb.h"
#include "mflsync/v1/scheduler.grpc.pb.h"
#include "mflsync/v1/writer.grpc.pb.h"

namespace mflsync {
namespace {

constexpr char kViewerToken[] = "viewer-token-0123456789";
constexpr char kOperatorToken[] = "operator-token-0123456789";
constexpr char kServiceToken[] = "service-token-0123456789";

std::string AccessText() {
  return absl::StrCat("# test principals\n",
                      "dashboard viewer sha256:", TokenSha256(kViewerToken), "\n",
                      "alice operator sha256:", TokenSha256(kOperatorToken), "  # ops\n",
                      "batch service sha256:", TokenSha256(kServiceToken), "\n",
                      "scheduler service cert\n",
                      "mediator service,operator cert\n");
}

CallAuthorizer Authorizer() {
  absl::StatusOr<AccessFile> access = AccessFile::Parse(AccessText(), "access");
  EXPECT_TRUE(access.ok()) << access.status();
  absl::StatusOr<std::map<std::string, Role>> roles =
      MethodRoles({"mflsync.v1.SchedulerService", "mflsync.v1.WriterService"});
  EXPECT_TRUE(roles.ok()) << roles.status();
  return CallAuthorizer(*access, *roles);
}

constexpr char kTrigger[] = "/mflsync.v1.SchedulerService/TriggerSync";
constexpr char kListRuns[] = "/mflsync.v1.SchedulerService/ListRuns";
constexpr char kWrite[] = "/mflsync.v1.WriterService/WriteFacilities";

TEST(RolesTest, ParsesAndPrints) {
  EXPECT_EQ(*ParseRoles("viewer"), kRoleViewer);
  EXPECT_EQ(*ParseRoles("service,operator"), kRoleService | kRoleOperator);
  EXPECT_EQ(RolesToString(kRoleService | kRoleOperator), "operator,service");
  absl::StatusOr<RoleSet> bad = ParseRoles("viewer,admin");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("'admin'"), std::string::npos);
}

TEST(TokenSha256Test, KnownVector) {
  EXPECT_EQ(TokenSha256("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(AccessFileTest, ParsesPrincipals) {
  absl::StatusOr<AccessFile> file = AccessFile::Parse(AccessText(), "access");
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->by_token_sha256.size(), 3u);
  EXPECT_EQ(file->by_cert_name.at("mediator").roles, kRoleService | kRoleOperator);
  EXPECT_EQ(file->by_token_sha256.at(TokenSha256(kOperatorToken)).name, "alice");
}

TEST(AccessFileTest, ErrorsNameTheLine) {
  struct Case {
    std::string text;
    std::string expected;
  };
  const std::string hash = TokenSha256("x");
  for (const Case& c : std::vector<Case>{
           {"ok viewer cert\nbad viewer\n", "f:2: expected three words"},
           {"a admin cert\n", "f:1: unknown role 'admin'"},
           {"a viewer sha256:ABC\n", "f:1: the credential is 'cert' or 'sha256:'"},
           {"a viewer sha256:" + hash.substr(0, 63) + "g\n", "f:1: the credential"},
           {"a viewer cert\na operator cert\n", "f:2: certificate name 'a' is listed twice"},
           {"a viewer sha256:" + hash + "\nb viewer sha256:" + hash + "\n",
            "f:2: this token is listed twice"},
       }) {
    absl::StatusOr<AccessFile> file = AccessFile::Parse(c.text, "f");
    ASSERT_FALSE(file.ok()) << c.text;
    EXPECT_NE(file.status().message().find(c.expected), std::string::npos)
        << file.status().message();
  }
}

TEST(MethodRolesTest, EveryRpcOfEveryServiceDeclaresARole) {
  // Links each service's generated file into the descriptor pool.
  (void)v1::FetchChangesRequest::descriptor();
  (void)v1::MapFacilitiesRequest::descriptor();
  (void)v1::GetMediatorStatusRequest::descriptor();
  absl::StatusOr<std::map<std::string, Role>> roles = MethodRoles(
      {"mflsync.v1.FetcherService", "mflsync.v1.MapperService", "mflsync.v1.WriterService",
       "mflsync.v1.SchedulerService", "mflsync.v1.MediatorService"});
  ASSERT_TRUE(roles.ok()) << roles.status();
  EXPECT_EQ(roles->size(), 2u + 3u + 5u + 20u + 1u);
  EXPECT_EQ(roles->at("/mflsync.v1.SchedulerService/ListSourceSchedules"), kRoleViewer);
  EXPECT_EQ(roles->at(kTrigger), kRoleOperator);
  EXPECT_EQ(roles->at(kListRuns), kRoleViewer);
  EXPECT_EQ(roles->at(kWrite), kRoleService);
  EXPECT_EQ(MethodRoles({"mflsync.v1.NoSuchService"}).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(CallAuthorizerTest, OpenPathsNeedNothing) {
  CallAuthorizer auth = Authorizer();
  EXPECT_TRUE(auth.Authorize("/grpc.health.v1.Health/Check", {}).status.ok());
  EXPECT_TRUE(auth.Authorize("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
                             {}).status.ok());
}

TEST(CallAuthorizerTest, NoOrUnknownCredentialsAreUnauthenticated) {
  CallAuthorizer auth = Authorizer();
  CallAuthorizer::Decision none = auth.Authorize(kListRuns, {});
  EXPECT_EQ(none.status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(none.status.message().find("no credentials"), std::string::npos);
  CallAuthorizer::Decision unknown = auth.Authorize(kListRuns, {"guessed-token-1", ""});
  EXPECT_EQ(unknown.status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(unknown.status.message().find("guessed-token-1"), std::string::npos);
  CallAuthorizer::Decision stranger = auth.Authorize(kWrite, {"", "intruder"});
  EXPECT_EQ(stranger.status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(stranger.status.message().find("'intruder'"), std::string::npos);
}

TEST(CallAuthorizerTest, RolesDecide) {
  CallAuthorizer auth = Authorizer();
  EXPECT_TRUE(auth.Authorize(kListRuns, {kViewerToken, ""}).status.ok());
  CallAuthorizer::Decision viewer_trigger = auth.Authorize(kTrigger, {kViewerToken, ""});
  EXPECT_EQ(viewer_trigger.status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(viewer_trigger.caller, "dashboard");
  EXPECT_NE(viewer_trigger.status.message().find("needs the operator role"),
            std::string::npos);
  EXPECT_TRUE(auth.Authorize(kTrigger, {kOperatorToken, ""}).status.ok());
  EXPECT_TRUE(auth.Authorize(kListRuns, {kOperatorToken, ""}).status.ok());  // ⊇ viewer
  EXPECT_EQ(auth.Authorize(kWrite, {kOperatorToken, ""}).status.code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(auth.Authorize(kWrite, {kServiceToken, ""}).status.ok());
  EXPECT_EQ(auth.Authorize(kListRuns, {kServiceToken, ""}).status.code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(auth.Authorize(kWrite, {"", "scheduler"}).status.ok());
  EXPECT_TRUE(auth.Authorize(kTrigger, {"", "mediator"}).status.ok());
  EXPECT_EQ(auth.Authorize(kTrigger, {"", "scheduler"}).status.code(),
            absl::StatusCode::kPermissionDenied);
  // A verified certificate admits its holder even beside a stale token.
  EXPECT_TRUE(auth.Authorize(kWrite, {"wrong", "scheduler"}).status.ok());
}

// A real gRPC server with the credentials ServiceMain builds: local
// credentials on loopback and the access file's processor.
class AuthServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/mflsync_grpc_auth_XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    std::ofstream(dir_ + "/access") << AccessText();
    std::vector<ConfigField> schema = CommonSchema("127.0.0.1:0");
    absl::StatusOr<Config> config = Config::Load(
        schema, "", {{"MFLSYNC_GRPC__AUTH__ACCESS_FILE", dir_ + "/access"}});
    ASSERT_TRUE(config.ok()) << config.status();
    const std::vector<std::string> names = {"mflsync.v1.WriterService",
                                            "mflsync.v1.SchedulerService"};
    ASSERT_TRUE(ValidateGrpcSecurity(*config, names).ok());
    absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> creds =
        MakeServerCredentials(*config, names);
    ASSERT_TRUE(creds.ok()) << creds.status();
    grpc::EnableDefaultHealthCheckService(true);
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", *creds, &port_);
    builder.RegisterService(&writer_);
    builder.RegisterService(&scheduler_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
  }
  void TearDown() override {
    if (server_) server_->Shutdown();
    std::filesystem::remove_all(dir_);
  }

  grpc::StatusCode Write(const std::string& token) {
    auto stub = v1::WriterService::NewStub(MakeChannel(
        absl::StrCat("127.0.0.1:", port_), ClientSecurity{.token = token}));
    grpc::ClientContext ctx;
    v1::WriteFacilitiesRequest req;
    v1::WriteFacilitiesResponse resp;
    return stub->WriteFacilities(&ctx, req, &resp).error_code();
  }
  grpc::StatusCode Trigger(const std::string& token) {
    auto stub = v1::SchedulerService::NewStub(MakeChannel(
        absl::StrCat("127.0.0.1:", port_), ClientSecurity{.token = token}));
    grpc::ClientContext ctx;
    v1::TriggerSyncRequest req;
    v1::TriggerSyncResponse resp;
    return stub->TriggerSync(&ctx, req, &resp).error_code();
  }

  std::string dir_;
  int port_ = 0;
  v1::WriterService::Service writer_;        // every RPC: UNIMPLEMENTED
  v1::SchedulerService::Service scheduler_;  // once past authentication
  std::unique_ptr<grpc::Server> server_;
};

TEST_F(AuthServerTest, RefusesWithoutCredentialsAndByRole) {
  EXPECT_EQ(Write(""), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Write("not-a-known-token"), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Write(kViewerToken), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Write(kServiceToken), grpc::StatusCode::UNIMPLEMENTED);  // admitted
  EXPECT_EQ(Trigger(kViewerToken), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Trigger(kOperatorToken), grpc::StatusCode::UNIMPLEMENTED);
}

TEST(GrpcSecurityConfigTest, StartUpChecks) {
  std::vector<ConfigField> schema = CommonSchema("127.0.0.1:0");
  const std::vector<std::string> names = {"mflsync.v1.WriterService"};
  auto check = [&](std::map<std::string, std::string> env) {
    absl::StatusOr<Config> config = Config::Load(schema, "", env);
    EXPECT_TRUE(config.ok()) << config.status();
    return ValidateGrpcSecurity(*config, names);
  };
  absl::Status no_access = check({});
  EXPECT_NE(no_access.message().find("grpc.auth.access_file is not set"), std::string::npos);
  EXPECT_TRUE(check({{"MFLSYNC_GRPC__AUTH__ALLOW_UNAUTHENTICATED", "true"}}).ok());
  absl::Status open_port = check({{"MFLSYNC_LISTEN_ADDRESS", "0.0.0.0:0"},
                                  {"MFLSYNC_GRPC__AUTH__ALLOW_UNAUTHENTICATED", "true"}});
  EXPECT_NE(open_port.message().find("is not a loopback address"), std::string::npos);
  char path[] = "/tmp/mflsync_access_XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  std::ofstream(path) << "x superuser cert\n";
  absl::Status bad_file = check({{"MFLSYNC_GRPC__AUTH__ACCESS_FILE", path}});
  EXPECT_NE(bad_file.message().find(":1: unknown role 'superuser'"), std::string::npos)
      << bad_file.message();
  std::remove(path);
}

}  // namespace
}  // namespace mflsync
