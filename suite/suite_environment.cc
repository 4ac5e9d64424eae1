#include "suite/suite_environment.h"

#include "common/service_main.h"
#include "fetcher/fetcher_module.h"
#include "mapper/mapper_module.h"
#include "mediator/mediator_module.h"
#include "scheduler/scheduler_module.h"
#include "writer/writer_module.h"

namespace mflsync {
namespace {

constexpr char kCli[] = "mflsync (CLI)";
constexpr char kStack[] = "scripts/stack.sh";
constexpr char kTests[] = "tests (ctest)";

// The mflsync command's variables (cli/cli.cc).
std::vector<EnvironmentVariable> CliVariables() {
  return {
      {"MFLSYNC_SCHEDULER_ADDRESS", kCli, "the scheduler's host:port (`--scheduler`)"},
      {"MFLSYNC_FETCHER_ADDRESS", kCli, "the fetcher's host:port for `mflsync health`"},
      {"MFLSYNC_MAPPER_ADDRESS", kCli, "the mapper's host:port for `mflsync health`"},
      {"MFLSYNC_WRITER_ADDRESS", kCli, "the writer's host:port for `mflsync health`"},
      {"MFLSYNC_MEDIATOR_ADDRESS", kCli, "the mediator's gRPC host:port for `mflsync health`"},
      {"MFLSYNC_TOKEN", kCli, "bearer token (`--token`; secret)"},
      {"MFLSYNC_TOKEN_FILE", kCli, "file holding the bearer token (`--token-file`)"},
      {"MFLSYNC_CA_FILE", kCli, "PEM CA that verifies the services (`--ca-file`)"},
      {"MFLSYNC_CERT_FILE", kCli, "PEM client certificate (`--cert`)"},
      {"MFLSYNC_KEY_FILE", kCli, "PEM key of the client certificate (`--key`)"},
  };
}

// The scripts' variables (scripts/, testbed/, bench/).
std::vector<EnvironmentVariable> ScriptVariables() {
  return {
      {"MFLSYNC_CONFIG", "every service", "the JSON configuration file (`--config`)"},
      {"MFLSYNC_DATA_DIR", kStack, "data folder of the loopback stack (default ./data)"},
      {"MFLSYNC_BUILD_DIR", "scripts/", "where the binaries are (default ./build)"},
      {"MFLSYNC_MFL_FACILITIES", kStack, "size of the synthetic MFL (default 5000)"},
      {"MFLSYNC_MFL_DATA", kStack, "NDJSON file(s) the MFL stand-in serves instead"},
      {"MFLSYNC_PORT_BASE", kStack, "offset added to every port"},
      {"MFLSYNC_GRPC_PORT_BASE", kStack, "first gRPC port (default 50050)"},
      {"MFLSYNC_VIA_OPENHIM", kStack, "1 (default): MFL and openIMIS through openHIM; 0: directly"},
      {"MFLSYNC_OPENIMIS_REAL", kStack, "1: the real openIMIS backend instead of the stand-in"},
      {"MFLSYNC_OPENIMIS_AREAS", kStack, "openIMIS areas seed file"},
      {"MFLSYNC_STACK_ROOT", kStack, "set for each process it starts: the checkout"},
      {"MFLSYNC_STACK_DATA", kStack, "set for each process it starts: the data folder"},
      {"MFLSYNC_STACK_MFL_PORT", kStack, "set for each process it starts: the MFL stand-in's port"},
      {"MFLSYNC_STACK_OPENIMIS_PORT", kStack, "set for each process it starts: openIMIS's port"},
      {"MFLSYNC_STACK_OPENIMIS_URL", kStack, "set for each process it starts: openIMIS's API root"},
      {"MFLSYNC_STACK_OPENHIM_PORT", kStack, "set for each process it starts: openHIM's API port"},
      {"MFLSYNC_STACK_OPENHIM_ROUTER_PORT", kStack,
       "set for each process it starts: openHIM's router port"},
      {"MFLSYNC_STACK_MEDIATOR_HTTP_PORT", kStack,
       "set for each process it starts: the mediator's HTTP port"},
      {"MFLSYNC_JOBS", "scripts/build.sh", "parallel build jobs (default: the CPU count)"},
      {"MFLSYNC_CACHE", "scripts/install-deps.sh, testbed/", "cache folder (~/.cache/mflsync)"},
      {"MFLSYNC_SHARED", "testbed/, tests", "the shared peers and data (default ../shared)"},
      {"MFLSYNC_CELERY_BROKER_DIR", "testbed/openimis-real", "the real openIMIS's queue folder"},
      {"MFLSYNC_BENCH_E2E_SIZES", "bench/e2e", "MFL sizes the end-to-end benchmark runs"},
  };
}

// The tests' variables (set by ctest or by a person debugging a test).
std::vector<EnvironmentVariable> TestVariables() {
  return {
      {"MFLSYNC_BIN_DIR", kTests, "the build folder of the process-level tests"},
      {"MFLSYNC_SOURCE_DIR", kTests, "the checkout"},
      {"MFLSYNC_OPENIMIS_REAL_ENV", kTests, "the real openIMIS's openimis.env"},
      {"MFLSYNC_OPENHIM_REAL_ENV", kTests, "the real openHIM's openhim.env"},
      {"MFLSYNC_E2E_FACILITIES", kTests, "size of the end-to-end tests' MFL"},
      {"MFLSYNC_E2E_KEEP", kTests, "keep the end-to-end tests' folders"},
      {"MFLSYNC_E2E_<NAME>_BIN", kTests, "another build's binary for service NAME"},
      {"MFLSYNC_TEST_KEEP", kTests, "keep the stand-ins' folders"},
  };
}

}  // namespace

std::vector<EnvironmentVariable> OtherEnvironmentVariables() {
  std::vector<EnvironmentVariable> all = CliVariables();
  for (auto more : {ScriptVariables(), TestVariables()}) all.insert(all.end(), more.begin(), more.end());
  return all;
}

KnownEnvironment SuiteEnvironment() {
  std::vector<ConfigField> schema = CommonSchema("127.0.0.1:0");
  for (const ServiceSpec& spec : {scheduler::SchedulerSpec(), fetcher::FetcherSpec(),
                                  mapper::MapperSpec(), writer::WriterSpec(),
                                  mediator::MediatorSpec()}) {
    schema.insert(schema.end(), spec.schema.begin(), spec.schema.end());
  }
  return KnownEnvironment(std::move(schema), OtherEnvironmentVariables());
}

}  // namespace mflsync
