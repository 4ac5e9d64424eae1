// Test fixture pieces shared by the push and sync tests: the real mapper
// and writer modules served in-process on a loopback gRPC port, the
// openIMIS stand-in, and a mediator module configured against them.
#ifndef MFLSYNC_TESTS_MEDIATOR_SUITE_FIXTURE_H_
#define MFLSYNC_TESTS_MEDIATOR_SUITE_FIXTURE_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/config.h"
#include "common/service_main.h"

namespace mflsync::mediator::testing {

// Loads `spec`'s schema (with the common keys) from environment-style
// overrides ({"MFLSYNC_MAPPING_FILE", "..."}).
absl::StatusOr<Config> LoadConfig(const ServiceSpec& spec,
                                  const std::map<std::string, std::string>& env);

// `spec`'s module configured from `env` (LoadConfig), or null after a
// gtest failure saying why.
std::unique_ptr<ServiceModule> CreateModule(const ServiceSpec& spec,
                                            const std::map<std::string, std::string>& env);

// The suite's private CA and service certificates in `dir`, made by
// scripts/pki.sh (ca.pem, mediator.pem, mediator-key.pem, ...).
absl::Status MakePki(const std::string& dir);

// Modules served on one in-process gRPC server on 127.0.0.1:0.
class InProcessServer {
 public:
  // Takes ownership; calls Start() on each after the server is up.
  static absl::StatusOr<std::unique_ptr<InProcessServer>> Start(
      std::vector<std::unique_ptr<ServiceModule>> modules);
  ~InProcessServer();
  std::string address() const;

 private:
  std::vector<std::unique_ptr<ServiceModule>> modules_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace mflsync::mediator::testing

#endif  // MFLSYNC_TESTS_MEDIATOR_SUITE_FIXTURE_H_
