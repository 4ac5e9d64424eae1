#include "cli/cli.h"

#include <sstream>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "common/config.h"
#include "scheduler/scheduler_module.h"

namespace mflsync::cli {
namespace {

struct Result {
  int code;
  std::string out;
  std::string err;
};

Result RunCmd(std::vector<std::string> args) {
  std::ostringstream out, err;
  int code = RunCli(args, out, err, /*interactive=*/false);
  return {code, out.str(), err.str()};
}

// The real scheduler module served in-process on a loopback port.
class SchedulerServer {
 public:
  SchedulerServer() {
    ServiceSpec spec = scheduler::SchedulerSpec();
    std::vector<ConfigField> schema = CommonSchema(spec.default_listen);
    schema.insert(schema.end(), spec.schema.begin(), spec.schema.end());
    absl::StatusOr<Config> config = Config::Load(schema, "", {});
    EXPECT_TRUE(config.ok()) << config.status();
    auto module = spec.create(*config);
    EXPECT_TRUE(module.ok()) << module.status();
    module_ = std::move(*module);
    grpc::EnableDefaultHealthCheckService(true);
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    for (grpc::Service* s : module_->GrpcServices()) builder.RegisterService(s);
    server_ = builder.BuildAndStart();
  }
  ~SchedulerServer() { server_->Shutdown(); }
  std::string Address() const { return absl::StrCat("127.0.0.1:", port_); }

 private:
  std::unique_ptr<ServiceModule> module_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

TEST(CliTest, HelpAndUsageErrors) {
  Result help = RunCmd({"--help"});
  EXPECT_EQ(help.code, 0);
  EXPECT_NE(help.out.find("Usage: mflsync"), std::string::npos);
  EXPECT_EQ(RunCmd({}).code, 2);
  Result unknown = RunCmd({"frobnicate"});
  EXPECT_EQ(unknown.code, 2);
  EXPECT_NE(unknown.err.find("unknown command 'frobnicate'"), std::string::npos);
  EXPECT_EQ(RunCmd({"runs", "--limit", "0"}).code, 2);
  EXPECT_EQ(RunCmd({"runs", "--limit"}).code, 2);
  EXPECT_EQ(RunCmd({"failure"}).code, 2);
  EXPECT_EQ(RunCmd({"failure", "abc"}).code, 2);
  EXPECT_EQ(RunCmd({"retry"}).code, 2);
  EXPECT_EQ(RunCmd({"retry", "1", "--all"}).code, 2);
  EXPECT_EQ(RunCmd({"dismiss"}).code, 2);
  EXPECT_EQ(RunCmd({"failures", "--state", "closed"}).code, 2);
  EXPECT_EQ(RunCmd({"health", "nonsense"}).code, 2);
}

TEST(CliTest, HealthReportsServingAndDown) {
  SchedulerServer server;
  Result r = RunCmd({"health", absl::StrCat("scheduler=", server.Address()),
                  "nothing=127.0.0.1:1"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("scheduler"), std::string::npos);
  EXPECT_NE(r.out.find("SERVING"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("nothing"), std::string::npos);
  EXPECT_NE(r.out.find("DOWN"), std::string::npos) << r.out;
  Result ok = RunCmd({"health", absl::StrCat("scheduler=", server.Address())});
  EXPECT_EQ(ok.code, 0) << ok.out;
}

TEST(CliTest, SchedulerUnreachableIsAClearError) {
  Result r = RunCmd({"--scheduler", "127.0.0.1:1", "runs"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("scheduler at 127.0.0.1:1"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("UNAVAILABLE"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace mflsync::cli
