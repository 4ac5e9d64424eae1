#include "writer/writer_module.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/http_client.h"
#include "common/status_util.h"
#include "mflsync/v1/writer.grpc.pb.h"
#include "writer/openimis_probe.h"
#include "writer/writer_core.h"
#include "writer/writer_metrics.h"

namespace mflsync::writer {
namespace {

using grpc::ServerContext;

class WriterGrpc final : public mflsync::v1::WriterService::Service {
 public:
  WriterGrpc(WriterCore* core, WriterMetrics* metrics) : core_(core), metrics_(metrics) {}

  grpc::Status WriteFacilities(ServerContext*, const mflsync::v1::WriteFacilitiesRequest* request,
                               mflsync::v1::WriteFacilitiesResponse* response) override {
    grpc::Status status = Answer(core_->Write(*request), response);
    if (status.ok()) metrics_->CountWrites(*response);
    return status;
  }
  grpc::Status LookupFacilities(ServerContext*,
                                const mflsync::v1::LookupFacilitiesRequest* request,
                                mflsync::v1::LookupFacilitiesResponse* response) override {
    return Answer(core_->Lookup(*request), response);
  }
  grpc::Status ListDistricts(ServerContext*, const mflsync::v1::ListDistrictsRequest*,
                             mflsync::v1::ListDistrictsResponse* response) override {
    return Answer(core_->ListDistricts(), response);
  }
  grpc::Status PlanWrites(ServerContext*, const mflsync::v1::PlanWritesRequest* request,
                          mflsync::v1::PlanWritesResponse* response) override {
    return Answer(core_->Plan(*request), response);
  }
  grpc::Status RefreshIndex(ServerContext*, const mflsync::v1::RefreshIndexRequest* request,
                            mflsync::v1::RefreshIndexResponse* response) override {
    return Answer(core_->Refresh(request->mode()), response);
  }

 private:
  template <typename T>
  static grpc::Status Answer(absl::StatusOr<T> result, T* response) {
    if (!result.ok()) return ToGrpcStatus(result.status());
    *response = *std::move(result);
    return grpc::Status::OK;
  }

  WriterCore* core_;
  WriterMetrics* metrics_;
};

class WriterModule final : public ServiceModule {
 public:
  WriterModule(WriterCoreOptions options, std::shared_ptr<WriterMetrics> metrics)
      : metrics_(std::move(metrics)),
        probe_options_(options),
        core_(std::move(options)),
        grpc_(&core_, metrics_.get()) {}
  std::vector<std::shared_ptr<prometheus::Collectable>> MetricsCollectables() override {
    return {metrics_->registry()};
  }
  std::vector<grpc::Service*> GrpcServices() override { return {&grpc_}; }
  std::vector<DependencyProbe> DependencyProbes() override {
    return {{"openimis",
             [this](absl::Duration timeout) { return ProbeOpenImis(probe_options_, timeout); }}};
  }
  absl::Status Start() override {
    core_.StartBackgroundLoad();
    return absl::OkStatus();
  }
  void Stop() override { core_.Stop(); }

 private:
  std::shared_ptr<WriterMetrics> metrics_;
  const WriterCoreOptions probe_options_;
  WriterCore core_;
  WriterGrpc grpc_;
};

ConfigField Field(std::string key, ConfigType type, std::string default_value,
                  std::string help) {
  ConfigField field;
  field.key = std::move(key);
  field.type = type;
  field.default_value = std::move(default_value);
  field.help = std::move(help);
  return field;
}

ConfigField IntField(std::string key, std::string default_value, int64_t min, int64_t max,
                     std::string help) {
  ConfigField field = Field(std::move(key), ConfigType::kInt, std::move(default_value),
                            std::move(help));
  field.min = min;
  field.max = max;
  return field;
}

std::vector<ConfigField> Schema() {
  std::vector<ConfigField> schema = {
      Field("openimis.base_url", ConfigType::kUrl, "http://127.0.0.1:8082/api",
            "openIMIS's API root (…/api, the Django SITE_ROOT); the GraphQL endpoint is "
            "{root}/graphql, the FHIR R4 module {root}/api_fhir_r4/"),
      Field("openimis.username", ConfigType::kString, "",
            "openIMIS API user; it must cover every district written to (row security). "
            "Without it the writer starts but cannot load its index"),
  };
  ConfigField api = Field(
      "openimis.api", ConfigType::kEnum, "graphql",
      "which openIMIS API writes: graphql (createHealthFacility / updateHealthFacility, "
      "the path the released backend accepts) or fhir (the FHIR R4 module's Organization; "
      "api-fhir-r4 1.10.0 answers 500 to every health-facility write)");
  api.choices = {"graphql", "fhir"};
  schema.push_back(api);
  std::vector<ConfigField> openimis_tls = TlsConfigFields("openimis.tls.", "openIMIS");
  schema.insert(schema.end(), openimis_tls.begin(), openimis_tls.end());
  std::vector<ConfigField> more = {
      Field("openimis.connect_timeout", ConfigType::kDuration, "10s",
            "TCP/TLS connect timeout per request"),
      Field("openimis.request_timeout", ConfigType::kDuration, "60s",
            "whole-request timeout; a POST that times out is resolved by a lookup by code"),
      IntField("openimis.max_response_bytes", "67108864", 1024, int64_t{1} << 32,
               "largest response body accepted from openIMIS"),
      IntField("openimis.connections", "16", 1, 64,
               "writes in progress at once, each with a connection of its own for its "
               "look-ups. On the GraphQL path their mutations share at most "
               "openimis.mutation_requests_in_flight requests and their outcome polls one, "
               "so openIMIS sees a few requests at a time however many writes wait; on the "
               "FHIR path each write is a request of its own"),
      Field("openimis.token_renew_margin", ConfigType::kDuration, "60s",
            "log in again this long before the JWT's exp (at most half its lifetime)"),
      Field("openimis.mutation_timeout", ConfigType::kDuration, "30s",
            "graphql: how long a mutation may stay pending in openIMIS's mutation log "
            "(queued for its Celery worker) before the attempt counts as unknown and is "
            "resolved by a look-up by code"),
      Field("openimis.read_back", ConfigType::kBool, "false",
            "graphql: read every column of each written facility back in its outcome poll "
            "and note any difference from what was sent (one more query of openIMIS per "
            "write). Off: a create reads only its uuid and validityFrom, an update nothing, "
            "since openIMIS stores a mutation's input as sent (an update replaces the whole "
            "record: checked on the released server, tests/writer/real_openimis_test.cc)"),
      IntField("openimis.mutations_per_request", "8", 1, 50,
               "graphql: the writes of several connections share a request: at most this "
               "many health-facility mutations in one (aliased fields, which openIMIS runs "
               "one after the other, each with its own mutation log); 1 sends each alone. "
               "On the released server a request of 8 costs openIMIS about half the CPU per "
               "facility of 8 requests (docs/benchmarks.md)"),
      IntField("openimis.mutation_requests_in_flight", "2", 1, 64,
               "graphql: mutation requests out at once, shared by every connection; match "
               "the workers openIMIS runs (gunicorn --workers), as one request's mutations "
               "run on one worker"),
      IntField("retry.max_attempts", "4", 1, 20,
               "HTTP attempts per facility write (lookups after a lost answer included) "
               "before it is reported FAILED"),
      Field("retry.initial_backoff", ConfigType::kDuration, "200ms",
            "first wait between attempts; doubles, with jitter"),
      Field("retry.max_backoff", ConfigType::kDuration, "5s",
            "longest wait between attempts (also caps Retry-After)"),
      IntField("index.page_size", "100", 1, 1000,
               "page size of the searches that load the index (GraphQL caps it at 100)"),
      Field("index.include_organizations", ConfigType::kBool, "true",
            "fhir: also page the HF Organizations so the index carries care type, legal "
            "form, address and contacts (needed for no-op detection)"),
      Field("index.retry_interval", ConfigType::kDuration, "5s",
            "first wait after a failed background index load; doubles up to 60s"),
      Field("index.path", ConfigType::kString, "./data/writer-index.db",
            "SQLite file that keeps the index between runs and restarts, so that a refresh "
            "reads only what changed in openIMIS (graphql); empty: memory only, every start "
            "reads openIMIS in full. A cache: deleting it costs one full read"),
      Field("index.overlap", ConfigType::kDuration, "5s",
            "an incremental refresh also reads again what changed this long before the "
            "newest change the previous one saw (openIMIS's validityFrom): a write committed "
            "after a later one. Additions and deletions missed otherwise change the facility "
            "count, which makes the refresh a full read"),
      Field("index.verify_interval", ConfigType::kDuration, "168h",
            "a refresh reads everything (a verification that repairs the index and reports "
            "drift) when the last full read is older than this; `mflsync sync --full` "
            "always does"),
      Field("write.check_location_view", ConfigType::kBool, "true",
            "fhir: after each write, read the facility's Location (physicalType si) and PUT it "
            "when code, name, level, parent or status differ; when that fails the write is "
            "a failed one, retried (off: a closed facility may stay active in openIMIS)"),
      Field("openhim.base_url", ConfigType::kUrl, "",
            "when set, every openIMIS request goes to this openHIM channel instead of "
            "openimis.base_url (same relative paths: graphql, or api_fhir_r4/…). The "
            "channel must match them and its route must set "
            "forwardAuthHeader: true, because openHIM otherwise strips the "
            "Authorization: Bearer <JWT> header openIMIS needs; the writer therefore "
            "authenticates to openHIM by mutual TLS (openhim.tls.client_*), not Basic auth"),
  };
  schema.insert(schema.end(), more.begin(), more.end());
  std::vector<ConfigField> openhim_tls = TlsConfigFields("openhim.tls.", "openHIM");
  schema.insert(schema.end(), openhim_tls.begin(), openhim_tls.end());
  ConfigField password = Field("openimis.password", ConfigType::kString, "",
                               "password of openimis.username");
  password.secret = true;
  schema.insert(schema.begin() + 2, password);
  return schema;
}

WriterCoreOptions OptionsFrom(const Config& config) {
  WriterCoreOptions options;
  OpenImisOptions& oi = options.openimis;
  const std::string openhim = config.GetString("openhim.base_url");
  oi.via_openhim = !openhim.empty();
  oi.base_url = oi.via_openhim ? openhim : config.GetString("openimis.base_url");
  oi.username = config.GetString("openimis.username");
  oi.password = config.GetString("openimis.password");
  const std::string tls = oi.via_openhim ? "openhim.tls." : "openimis.tls.";
  oi.http.tls = TlsOptionsFromConfig(config, tls);
  oi.http.connect_timeout = config.GetDuration("openimis.connect_timeout");
  oi.http.request_timeout = config.GetDuration("openimis.request_timeout");
  oi.http.max_response_bytes =
      static_cast<size_t>(config.GetInt("openimis.max_response_bytes"));
  oi.http.user_agent = "mflsync-writer/0.1";
  oi.token_renew_margin = config.GetDuration("openimis.token_renew_margin");
  options.api = config.GetString("openimis.api") == "fhir" ? OpenImisApiKind::kFhir
                                                           : OpenImisApiKind::kGraphql;
  options.graphql.mutation_timeout = config.GetDuration("openimis.mutation_timeout");
  options.graphql.read_back = config.GetBool("openimis.read_back");
  options.graphql.mutations_per_request =
      static_cast<int>(config.GetInt("openimis.mutations_per_request"));
  options.graphql.mutation_requests_in_flight =
      static_cast<int>(config.GetInt("openimis.mutation_requests_in_flight"));
  options.connections = static_cast<int>(config.GetInt("openimis.connections"));
  options.write.retry.max_attempts = static_cast<int>(config.GetInt("retry.max_attempts"));
  options.write.retry.initial_backoff = config.GetDuration("retry.initial_backoff");
  options.write.retry.max_backoff = config.GetDuration("retry.max_backoff");
  options.fhir.check_location_view = config.GetBool("write.check_location_view");
  options.index_page_size = static_cast<int>(config.GetInt("index.page_size"));
  options.fhir.index_organizations = config.GetBool("index.include_organizations");
  options.index_retry_interval = config.GetDuration("index.retry_interval");
  options.index_path = config.GetString("index.path");
  options.index_overlap = config.GetDuration("index.overlap");
  options.index_verify_interval = config.GetDuration("index.verify_interval");
  return options;
}

// The writer's start-up checks beyond the schema (--check-config runs them
// too): each TLS edge's client certificate and key set together.
absl::Status ValidateWriterConfig(const Config& config) {
  for (const char* prefix : {"openimis.tls.", "openhim.tls."}) {
    if (absl::Status tls = ValidateTlsConfig(config, prefix); !tls.ok()) return tls;
  }
  return absl::OkStatus();
}

}  // namespace

std::unique_ptr<ServiceModule> MakeWriterModule(WriterCoreOptions options) {
  auto metrics = std::make_shared<WriterMetrics>();
  options.on_shared_request = [metrics](const char* kind, size_t writes) {
    metrics->ObserveSharedRequest(kind, writes);
  };
  options.openimis.http.on_response = [metrics](int http_status, absl::Duration took) {
    metrics->ObserveOpenImisRequest(http_status, took);
  };
  return std::make_unique<WriterModule>(std::move(options), std::move(metrics));
}

ServiceSpec WriterSpec() {
  ServiceSpec spec;
  spec.name = "writer";
  spec.summary = "writes health facilities to openIMIS and keeps its index";
  spec.default_listen = "127.0.0.1:50053";
  spec.grpc_service_names = {mflsync::v1::WriterService::service_full_name()};
  spec.schema = Schema();
  spec.validate = ValidateWriterConfig;
  spec.create = [](const Config& config) -> absl::StatusOr<std::unique_ptr<ServiceModule>> {
    return MakeWriterModule(OptionsFrom(config));
  };
  return spec;
}

}  // namespace mflsync::writer
