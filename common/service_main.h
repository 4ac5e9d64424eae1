// The process wiring shared by every mflsync service: flags, configuration,
// logging, the gRPC server with health and reflection, and graceful
// shutdown on SIGTERM. A service supplies only its schema and its module.
#ifndef MFLSYNC_COMMON_SERVICE_MAIN_H_
#define MFLSYNC_COMMON_SERVICE_MAIN_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/config.h"
#include "common/dependency_health.h"
#include "common/known_environment.h"

namespace prometheus {
class Collectable;
}  // namespace prometheus

namespace mflsync {

// A running service's logic as the wiring sees it.
class ServiceModule {
 public:
  virtual ~ServiceModule() = default;
  // The gRPC services to register; owned by the module.
  virtual std::vector<grpc::Service*> GrpcServices() = 0;
  // The checks of what the service needs (peers, outside systems); run in
  // the background by DependencyHealth from after Start() until Stop(). The
  // service is SERVING while every one passes; none: always SERVING.
  virtual std::vector<DependencyProbe> DependencyProbes() { return {}; }
  // The service's own Prometheus metrics (its registry, and collectors that
  // read state at each scrape), served on metrics_listen beside the common
  // ones.
  virtual std::vector<std::shared_ptr<prometheus::Collectable>> MetricsCollectables() {
    return {};
  }
  // Called once the server listens (start background work here).
  virtual absl::Status Start() { return absl::OkStatus(); }
  // Called on SIGTERM/SIGINT before the server shuts down; must return
  // promptly (background work is asked to stop, not awaited forever).
  virtual void Stop() {}
};

// The suite's version (every service binary and the mflsync command).
inline constexpr char kMflsyncVersion[] = "0.1.0";

struct ServiceSpec {
  std::string name;            // "fetcher": binary mflsync-fetcher
  std::string summary;         // one line for --help
  std::string default_listen;  // "127.0.0.1:50051"
  // Full names of the gRPC services served ("mflsync.v1.FetcherService"),
  // reported SERVING by the standard health service.
  std::vector<std::string> grpc_service_names;
  std::vector<ConfigField> schema;  // service keys; common keys are added
  // Start-up checks beyond the schema, run before `create` and by
  // --check-config (empty: none). InvalidArgument names the key and why.
  std::function<absl::Status(const Config&)> validate;
  std::function<absl::StatusOr<std::unique_ptr<ServiceModule>>(const Config&)>
      create;
};

// The keys every service has (listen_address, log.*, grpc.tls.*, grpc.auth.*,
// shutdown_grace, health.*, metrics_listen), with the service's default listen address.
std::vector<ConfigField> CommonSchema(const std::string& default_listen);

// The configuration of `spec` from `config_path` (else the file
// MFLSYNC_CONFIG names) and `env`, with every start-up check: no MFLSYNC_*
// variable that `environment` does not know, the schema, gRPC security,
// the health checks' pace, then spec.validate. --check-config and start-up
// both call it, so they refuse the same configurations with the same message.
absl::StatusOr<Config> LoadCheckedConfig(const ServiceSpec& spec,
                                         const KnownEnvironment& environment,
                                         std::string config_path,
                                         std::map<std::string, std::string> env);

// Runs the service until SIGTERM/SIGINT. Returns the process exit code:
// 0 after a clean shutdown, 2 for bad flags or configuration, 1 when the
// service cannot start (port taken, dependency unreadable). `environment`
// is the suite's list of variables (suite/suite_environment.h).
int ServiceMain(int argc, char** argv, const ServiceSpec& spec,
                const KnownEnvironment& environment);

}  // namespace mflsync

#endif  // MFLSYNC_COMMON_SERVICE_MAIN_H_
