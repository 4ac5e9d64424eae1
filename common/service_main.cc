#include "common/service_main.h"

#include <malloc.h>
#include <pthread.h>
#include <signal.h>

#include <cstdlib>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/grpc_server_credentials.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/status_service.h"
#include "grpc/health/v1/health.pb.h"

namespace mflsync {
namespace {

void PrintHelp(const ServiceSpec& spec) {
  std::cout << "mflsync-" << spec.name << " " << kMflsyncVersion << ": " << spec.summary
            << "\n\nUsage: mflsync-" << spec.name << " [--config FILE] "
            << "[--check-config] [--print-schema] [--version]\n\n"
               "  --config FILE    JSON configuration (also MFLSYNC_CONFIG)\n"
               "  --check-config   validate the configuration, print it with\n"
               "                   secrets redacted, and exit\n"
               "  --print-schema   print every configuration key as Markdown\n"
               "  --print-environment  print the other MFLSYNC_* variables the\n"
               "                   suite reads (CLI, scripts, tests) as Markdown\n"
               "\nEvery key can be overridden by an environment variable\n"
               "MFLSYNC_<KEY> (dots become __), e.g. MFLSYNC_LISTEN_ADDRESS.\n";
}

}  // namespace

std::vector<ConfigField> CommonSchema(const std::string& default_listen) {
  return {
      {.key = "listen_address", .type = ConfigType::kAddress,
       .default_value = default_listen,
       .help = "Address the gRPC server listens on (port 0 picks a free one).",
       .required = true},
      {.key = "log.format", .type = ConfigType::kEnum, .default_value = "text",
       .help = "Log line format: text, or JSON lines.",
       .choices = {"text", "json"}},
      {.key = "log.level", .type = ConfigType::kEnum, .default_value = "info",
       .help = "Lowest level written.",
       .choices = {"debug", "info", "warning", "error"}},
      {.key = "grpc.tls.cert_file", .type = ConfigType::kFile,
       .help = "PEM certificate chain; with key_file, the server speaks TLS and "
               "this service presents it as its client certificate to the "
               "services it calls. Without it the server serves loopback "
               "callers only (gRPC local credentials)."},
      {.key = "grpc.tls.key_file", .type = ConfigType::kFile,
       .help = "PEM private key for grpc.tls.cert_file."},
      {.key = "grpc.tls.ca_file", .type = ConfigType::kFile,
       .help = "PEM CA bundle of the suite: verifies the services this one "
               "calls and the client certificates of its callers (mutual "
               "TLS). Empty: plaintext to the services it calls (loopback)."},
      {.key = "grpc.auth.access_file", .type = ConfigType::kFile,
       .help = "Who may call this service: lines `NAME ROLES cert` (a client "
               "certificate by its CN) or `NAME ROLES sha256:HEX` (a bearer "
               "token by its SHA-256); roles viewer, operator, service "
               "(docs/security.md). Required unless "
               "grpc.auth.allow_unauthenticated."},
      {.key = "grpc.auth.allow_unauthenticated", .type = ConfigType::kBool,
       .default_value = "false",
       .help = "Without grpc.auth.access_file, serve every RPC to any caller "
               "that reaches the port. For isolated development only."},
      {.key = "grpc.auth.token", .type = ConfigType::kString,
       .help = "Bearer token this service sends when it calls the other "
               "services (besides its client certificate, if any).",
       .secret = true},
      {.key = "ready_file", .type = ConfigType::kString,
       .help = "When set, the bound host:port is written to this file once "
               "the server serves (for scripts that start it on port 0)."},
      {.key = "shutdown_grace", .type = ConfigType::kDuration,
       .default_value = "3s",
       .help = "How long in-flight calls may finish after SIGTERM."},
      {.key = "health.check_interval", .type = ConfigType::kDuration,
       .default_value = "5s",
       .help = "How often each dependency check runs in the background; the gRPC "
               "health turns NOT_SERVING within this plus health.check_timeout of a "
               "dependency going down (docs/operations.md)."},
      {.key = "health.check_timeout", .type = ConfigType::kDuration,
       .default_value = "2s",
       .help = "Time-out of one dependency check; a check that takes longer fails."},
      {.key = "metrics_listen", .type = ConfigType::kAddress,
       .help = "host:port of the Prometheus /metrics HTTP listener (port 0 picks a free "
               "one; GetStatus and the log say which). Empty: off. It has no "
               "authentication: keep it on loopback or a private network "
               "(docs/security.md)."},
  };
}

namespace {

// Blocks termination signals before any thread starts, so that sigwait()
// in WaitForSignalAndStop is the only place they are delivered; returns
// them.
sigset_t BlockTerminationSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return signals;
}

// What the command line asks of a service that is to run (or check its
// configuration).
struct Arguments {
  std::string config_path;
  bool check_only = false;
};

// Parses the command line into `args`. Answers --help, --version and
// --print-schema itself, and rejects unknown arguments: returns the exit
// code then.
std::optional<int> ParseArguments(int argc, char** argv, const ServiceSpec& spec,
                                  const std::vector<ConfigField>& schema,
                                  const KnownEnvironment& environment, Arguments* args) {
  const std::string prog = absl::StrCat("mflsync-", spec.name);
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      PrintHelp(spec);
      return 0;
    } else if (arg == "--version") {
      std::cout << prog << " " << kMflsyncVersion << "\n";
      return 0;
    } else if (arg == "--print-schema") {
      std::cout << Config::SchemaMarkdown(schema);
      return 0;
    } else if (arg == "--print-environment") {
      std::cout << environment.OthersMarkdown();
      return 0;
    } else if (arg == "--check-config") {
      args->check_only = true;
    } else if (arg == "--config" && i + 1 < argc) {
      args->config_path = argv[++i];
    } else if (absl::StartsWith(arg, "--config=")) {
      args->config_path = arg.substr(9);
    } else {
      std::cerr << prog << ": unknown argument '" << arg
                << "' (see --help)\n";
      return 2;
    }
  }
  return std::nullopt;
}

void StartLogging(const Config& config, const std::string& service) {
  LogLevel level = LogLevel::kInfo;
  LogFormat format = LogFormat::kText;
  (void)ParseLogLevel(config.GetString("log.level"), &level);
  (void)ParseLogFormat(config.GetString("log.format"), &format);
  InitLogging(service, format, level);
}

// The gRPC services whose RPCs need a role: the service's and StatusService.
std::vector<std::string> AuthorizedServices(const ServiceSpec& spec) {
  std::vector<std::string> names = spec.grpc_service_names;
  names.push_back(v1::StatusService::service_full_name());
  return names;
}

// health.check_interval and health.check_timeout are positive.
absl::Status ValidateHealthChecks(const Config& config) {
  for (const char* key : {"health.check_interval", "health.check_timeout"}) {
    if (config.GetDuration(key) <= absl::ZeroDuration()) {
      return absl::InvalidArgumentError(
          absl::StrCat(key, " must be positive (e.g. 5s): it paces the dependency checks"));
    }
  }
  return absl::OkStatus();
}

// The start-up checks beyond the schema: gRPC security, the health checks'
// pace, then the service's.
absl::Status ValidateConfig(const Config& config, const ServiceSpec& spec) {
  if (absl::Status valid = ValidateGrpcSecurity(config, AuthorizedServices(spec));
      !valid.ok()) {
    return valid;
  }
  if (absl::Status valid = ValidateHealthChecks(config); !valid.ok()) return valid;
  return spec.validate ? spec.validate(config) : absl::OkStatus();
}

// The service's schema: the common keys, then its own.
std::vector<ConfigField> FullSchema(const ServiceSpec& spec) {
  std::vector<ConfigField> schema = CommonSchema(spec.default_listen);
  schema.insert(schema.end(), spec.schema.begin(), spec.schema.end());
  return schema;
}

// What a running service is made of; members are destroyed in reverse
// order: the server before the status service, the checks before the module.
struct Running {
  std::unique_ptr<ServiceModule> module;
  CommonMetrics common_metrics;
  std::unique_ptr<MetricsListener> metrics;
  std::unique_ptr<DependencyHealth> health;
  std::unique_ptr<StatusServiceImpl> status;
  std::unique_ptr<grpc::Server> server;
};

// Sets the health of the server and of each of `spec`'s services.
void SetServing(grpc::Server& server, const ServiceSpec& spec, bool serving) {
  grpc::HealthCheckServiceInterface* health = server.GetHealthCheckService();
  if (health == nullptr) return;
  for (const std::string& name : spec.grpc_service_names) health->SetServingStatus(name, serving);
  health->SetServingStatus(serving);
}

// Starts the /metrics listener when metrics_listen is set.
absl::Status StartMetrics(const Config& config, Running& running) {
  const std::string listen = config.GetString("metrics_listen");
  if (listen.empty()) return absl::OkStatus();
  std::vector<std::shared_ptr<prometheus::Collectable>> collectables =
      running.module->MetricsCollectables();
  collectables.push_back(running.common_metrics.registry());
  absl::StatusOr<std::unique_ptr<MetricsListener>> metrics =
      MetricsListener::Start(listen, collectables);
  if (!metrics.ok()) return metrics.status();
  running.metrics = *std::move(metrics);
  LogInfo("metrics serving", {{"address", running.metrics->address()}, {"path", "/metrics"}});
  if (!IsLoopbackHost(listen.substr(0, listen.rfind(':')))) {
    LogWarning("metrics_listen is not a loopback address: /metrics has no authentication");
  }
  return absl::OkStatus();
}

// The dependency checks and the StatusService that shows them; the checks
// set the server's health once it runs.
void MakeHealth(const Config& config, const ServiceSpec& spec, Running& running) {
  DependencyHealthOptions options;
  options.period = config.GetDuration("health.check_interval");
  options.timeout = config.GetDuration("health.check_timeout");
  running.health = std::make_unique<DependencyHealth>(
      running.module->DependencyProbes(), options,
      [&running, &spec](bool serving) {
        if (running.server != nullptr) SetServing(*running.server, spec, serving);
      },
      [&running](const std::string& name, bool up) {
        running.common_metrics.SetDependencyUp(name, up);
      });
  running.status = std::make_unique<StatusServiceImpl>(
      spec.name, running.health.get(),
      running.metrics != nullptr ? running.metrics->address() : std::string());
}

// Builds and starts the gRPC server with `module`'s services, health and
// reflection; sets `bound_port`. Prints why and returns null when it cannot.
std::unique_ptr<grpc::Server> StartServer(const std::string& prog, const Config& config,
                                          const ServiceSpec& spec, Running& running,
                                          int* bound_port) {
  grpc::EnableDefaultHealthCheckService(true);
  // Links health.proto's descriptor so that reflection can describe the
  // default health service to grpcurl.
  (void)grpc::health::v1::HealthCheckRequest::descriptor();
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> creds =
      MakeServerCredentials(config, AuthorizedServices(spec));
  if (!creds.ok()) {
    std::cerr << prog << ": cannot start: " << Redact(creds.status().message()) << "\n";
    return nullptr;
  }
  const std::string address = config.GetString("listen_address");
  builder.AddListeningPort(address, *creds, bound_port);
  builder.SetMaxReceiveMessageSize(64 * 1024 * 1024);
  for (grpc::Service* service : running.module->GrpcServices()) builder.RegisterService(service);
  builder.RegisterService(running.status.get());
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || *bound_port == 0) {
    std::cerr << prog << ": cannot start: cannot listen on " << address
              << " (address in use or not local)\n";
    return nullptr;
  }
  return server;
}

// Writes `bound` to the ready_file, if one is configured, in one rename.
void WriteReadyFile(const Config& config, const std::string& bound) {
  const std::string ready_file = config.GetString("ready_file");
  if (ready_file.empty()) return;
  std::ofstream out(ready_file + ".tmp");
  out << bound << "\n";
  out.close();
  std::rename((ready_file + ".tmp").c_str(), ready_file.c_str());
}

void LogServing(const Config& config, const std::string& bound) {
  LogInfo("serving", {{"address", bound},
                      {"version", kMflsyncVersion},
                      {"tls", !config.GetString("grpc.tls.cert_file").empty()},
                      {"authenticated", !config.GetString("grpc.auth.access_file").empty()}});

  if (config.GetString("grpc.auth.access_file").empty()) {
    LogWarning("gRPC authentication is off: any caller that reaches the port may call "
               "every RPC (grpc.auth.allow_unauthenticated)");
  }
}

// Serves until one of `signals` arrives, then stops the dependency checks
// and the module, lets in-flight calls finish within shutdown_grace, and
// destroys the module.
void WaitForSignalAndStop(const sigset_t& signals, const Config& config, const ServiceSpec& spec,
                          Running& running) {
  int received = 0;
  sigwait(&signals, &received);
  LogInfo("shutting down", {{"signal", received == SIGTERM ? "SIGTERM" : "SIGINT"}});
  grpc::Server& server = *running.server;
  running.health->Stop();
  SetServing(server, spec, false);
  std::unique_ptr<ServiceModule>& module = running.module;
  module->Stop();
  const absl::Duration grace = config.GetDuration("shutdown_grace");
  server.Shutdown(std::chrono::system_clock::now() +
                  std::chrono::milliseconds(absl::ToInt64Milliseconds(grace)));
  server.Wait();
  running.health.reset();
  module.reset();
  LogInfo("stopped");
}

// Builds the module, its metrics listener, health checks and gRPC server,
// serves until SIGTERM/SIGINT and stops; returns the exit code.
int RunService(const std::string& prog, const Config& config, const ServiceSpec& spec,
               const sigset_t& signals) {
  Running running;
  absl::StatusOr<std::unique_ptr<ServiceModule>> module = spec.create(config);
  if (!module.ok()) {
    std::cerr << prog << ": cannot start: " << Redact(module.status().message()) << "\n";
    return module.status().code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  }
  running.module = *std::move(module);
  if (absl::Status metrics = StartMetrics(config, running); !metrics.ok()) {
    std::cerr << prog << ": cannot start: " << Redact(metrics.message()) << "\n";
    return 1;
  }
  MakeHealth(config, spec, running);
  int bound_port = 0;
  running.server = StartServer(prog, config, spec, running, &bound_port);
  if (running.server == nullptr) return 1;
  SetServing(*running.server, spec, false);  // until the first round of checks
  absl::Status started = running.module->Start();
  if (!started.ok()) {
    std::cerr << prog << ": cannot start: " << Redact(started.message()) << "\n";
    running.server->Shutdown(std::chrono::system_clock::now());
    return 1;
  }
  running.health->Start();  // the first round sets SERVING or NOT_SERVING
  const std::string address = config.GetString("listen_address");
  const std::string bound = absl::StrCat(address.substr(0, address.rfind(':')), ":", bound_port);
  WriteReadyFile(config, bound);
  LogServing(config, bound);
  WaitForSignalAndStop(signals, config, spec, running);
  return 0;
}

// glibc gives each thread that allocates at once an arena of its own (up to
// 8 per core) and keeps what is freed in each: with gRPC's and the batch
// threads that was a third of a service's RSS (bench/e2e at 10,000
// facilities: scheduler 57.5 → 43.9 MB, fetcher 50.7 → 37.6 MB with two
// arenas, CPU unchanged). Two, unless MALLOC_ARENA_MAX says otherwise.
void LimitMallocArenas() {
#ifdef M_ARENA_MAX
  if (std::getenv("MALLOC_ARENA_MAX") == nullptr) mallopt(M_ARENA_MAX, 2);
#endif
}

}  // namespace

absl::StatusOr<Config> LoadCheckedConfig(const ServiceSpec& spec,
                                         const KnownEnvironment& environment,
                                         std::string config_path,
                                         std::map<std::string, std::string> env) {
  if (absl::Status known = environment.Check(env); !known.ok()) return known;
  if (config_path.empty() && env.count("MFLSYNC_CONFIG")) config_path = env["MFLSYNC_CONFIG"];
  env.erase("MFLSYNC_CONFIG");
  absl::StatusOr<Config> config = Config::Load(FullSchema(spec), config_path, env);
  if (!config.ok()) return config.status();
  if (absl::Status valid = ValidateConfig(*config, spec); !valid.ok()) {
    return absl::Status(valid.code(), Redact(valid.message()));
  }
  return config;
}

int ServiceMain(int argc, char** argv, const ServiceSpec& spec,
                const KnownEnvironment& environment) {
  LimitMallocArenas();
  const std::string prog = absl::StrCat("mflsync-", spec.name);
  const sigset_t signals = BlockTerminationSignals();
  Arguments args;
  if (std::optional<int> exit =
          ParseArguments(argc, argv, spec, FullSchema(spec), environment, &args)) {
    return *exit;
  }
  absl::StatusOr<Config> config =
      LoadCheckedConfig(spec, environment, args.config_path, Config::ProcessEnvironment());
  if (!config.ok()) {
    std::cerr << prog << ": configuration error: " << config.status().message() << "\n";
    return 2;
  }
  StartLogging(*config, spec.name);
  if (args.check_only) {
    std::cout << config->DescribeRedacted();
    return 0;
  }

  return RunService(prog, *config, spec, signals);
}

}  // namespace mflsync
