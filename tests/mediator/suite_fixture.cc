#include "tests/mediator/suite_fixture.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "tests/writer/standin_process.h"

namespace mflsync::mediator::testing {

std::unique_ptr<ServiceModule> CreateModule(const ServiceSpec& spec,
                                            const std::map<std::string, std::string>& env) {
  absl::StatusOr<Config> config = LoadConfig(spec, env);
  EXPECT_TRUE(config.ok()) << spec.name << ": " << config.status();
  if (!config.ok()) return nullptr;
  auto module = spec.create(*config);
  EXPECT_TRUE(module.ok()) << spec.name << ": " << module.status();
  return module.ok() ? std::move(*module) : nullptr;
}

absl::Status MakePki(const std::string& dir) {
  const std::string command = absl::StrCat("sh '", writer::testing::SourceDir(),
                                           "/scripts/pki.sh' '", dir, "' > '", dir,
                                           ".pki.log' 2>&1");
  if (std::system(command.c_str()) != 0)
    return absl::InternalError(absl::StrCat("scripts/pki.sh failed; see ", dir, ".pki.log"));
  return absl::OkStatus();
}

absl::StatusOr<Config> LoadConfig(const ServiceSpec& spec,
                                  const std::map<std::string, std::string>& env) {
  std::vector<ConfigField> schema = CommonSchema(spec.default_listen);
  schema.insert(schema.end(), spec.schema.begin(), spec.schema.end());
  return Config::Load(schema, "", env);
}

absl::StatusOr<std::unique_ptr<InProcessServer>> InProcessServer::Start(
    std::vector<std::unique_ptr<ServiceModule>> modules) {
  std::unique_ptr<InProcessServer> s(new InProcessServer());
  s->modules_ = std::move(modules);
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &s->port_);
  for (auto& m : s->modules_)
    for (grpc::Service* service : m->GrpcServices()) builder.RegisterService(service);
  s->server_ = builder.BuildAndStart();
  if (s->server_ == nullptr || s->port_ <= 0)
    return absl::UnavailableError("the in-process gRPC server did not start");
  for (auto& m : s->modules_) {
    absl::Status st = m->Start();
    if (!st.ok()) return st;
  }
  return s;
}

InProcessServer::~InProcessServer() {
  for (auto& m : modules_) m->Stop();
  if (server_) server_->Shutdown();
}

std::string InProcessServer::address() const { return absl::StrCat("127.0.0.1:", port_); }

}  // namespace mflsync::mediator::testing
