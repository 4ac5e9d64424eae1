#include "fetcher/fetcher_module.h"

#include <map>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/fhir.h"
#include "common/log.h"
#include "common/status_util.h"
#include "fetcher/fetcher.h"
#include "fetcher/fetcher_metrics.h"
#include "fetcher/mfl_probe.h"
#include "fetcher/source_config.h"
#include "mflsync/v1/fetcher.grpc.pb.h"

namespace mflsync::fetcher {
namespace {

constexpr int kMaxAlreadySeen = 1000000;
constexpr int kMaxLocationIds = 100;

// OK when `ids` are at most kMaxLocationIds FHIR ids; else which is wrong.
absl::Status CheckLocationIds(const google::protobuf::RepeatedPtrField<std::string>& ids) {
  if (ids.size() > kMaxLocationIds)
    return absl::InvalidArgumentError(absl::StrCat("FetchChanges: ", ids.size(),
                                                   " location_ids exceed ", kMaxLocationIds));
  for (int i = 0; i < ids.size(); ++i) {
    if (!IsFhirId(ids[i]))
      return absl::InvalidArgumentError(absl::StrCat(
          "FetchChanges: location_ids[", i, "] '", ids[i].substr(0, 70),
          "' is not a FHIR id (1-64 characters of A-Z, a-z, 0-9, '-' and '.')"));
  }
  return absl::OkStatus();
}

// gRPC edge: picks the source, checks the request, streams Fetcher pages.
class FetcherGrpc final : public v1::FetcherService::Service {
 public:
  FetcherGrpc(std::vector<SourceConfig> sources, FetcherMetrics* metrics) : metrics_(metrics) {
    for (SourceConfig& s : sources) sources_.emplace(s.name, std::move(s));
  }

  grpc::Status FetchChanges(grpc::ServerContext* context,
                            const v1::FetchChangesRequest* request,
                            grpc::ServerWriter<v1::FetchChangesResponse>* writer) override {
    absl::StatusOr<const SourceConfig*> source = Pick(request->source_id());
    if (!source.ok()) return ToGrpcStatus(source.status());
    if (request->page_size() < 0 || request->page_size() > 10000)
      return ToGrpcStatus(absl::InvalidArgumentError(absl::StrCat(
          "FetchChanges: page_size = ", request->page_size(), " must be 0..10000")));
    if (request->already_seen_size() > kMaxAlreadySeen)
      return ToGrpcStatus(absl::InvalidArgumentError(absl::StrCat(
          "FetchChanges: ", request->already_seen_size(), " already_seen keys exceed ",
          kMaxAlreadySeen)));
    if (absl::Status s = CheckLocationIds(request->location_ids()); !s.ok())
      return ToGrpcStatus(s);
    FetchOptions options;
    options.location_ids.assign(request->location_ids().begin(), request->location_ids().end());
    if (request->has_since()) options.since = FromTimestamp(request->since());
    if (request->mode() == v1::FETCH_MODE_SEARCH) options.mode = FetchModeKind::kSearch;
    if (request->mode() == v1::FETCH_MODE_HISTORY) options.mode = FetchModeKind::kHistory;
    options.page_size = request->page_size();
    options.already_seen.assign(request->already_seen().begin(),
                                request->already_seen().end());
    Fetcher fetcher(**source);
    absl::Status status = fetcher.Fetch(
        options,
        [this, writer](v1::FetchChangesResponse& page) {
          metrics_->CountPage(page);
          return writer->Write(page);
        },
        [context] { return context->IsCancelled(); });
    return ToGrpcStatus(status);
  }

  grpc::Status ListSources(grpc::ServerContext*, const v1::ListSourcesRequest*,
                           v1::ListSourcesResponse* response) override {
    for (const auto& [name, s] : sources_) {
      v1::SourceInfo* info = response->add_sources();
      info->set_source_id(name);
      info->set_base_url(Redact(s.base_url));
      info->set_mode(s.mode == FetchModeKind::kHistory ? v1::FETCH_MODE_HISTORY
                                                       : v1::FETCH_MODE_SEARCH);
    }
    return grpc::Status::OK;
  }

 private:
  absl::StatusOr<const SourceConfig*> Pick(const std::string& id) const {
    if (sources_.empty())
      return absl::FailedPreconditionError(
          "no MFL source is configured: set sources.<name>.base_url in the fetcher's "
          "config file (or MFLSYNC_SOURCES__<NAME>__BASE_URL)");
    if (id.empty()) {
      if (sources_.size() == 1) return &sources_.begin()->second;
      return absl::InvalidArgumentError(absl::StrCat(
          "FetchChanges: source_id is empty but ", sources_.size(),
          " sources are configured (", Names(), "); name one"));
    }
    auto it = sources_.find(id);
    if (it == sources_.end())
      return absl::NotFoundError(absl::StrCat("FetchChanges: no source named '",
                                              id.substr(0, 64), "'; configured: ",
                                              sources_.empty() ? "none" : Names()));
    return &it->second;
  }

  std::string Names() const {
    std::vector<std::string> names;
    for (const auto& [name, s] : sources_) names.push_back(name);
    return absl::StrJoin(names, ", ");
  }

  std::map<std::string, SourceConfig> sources_;
  FetcherMetrics* metrics_;
};

class FetcherModule final : public ServiceModule {
 public:
  FetcherModule(std::vector<SourceConfig> sources, std::shared_ptr<FetcherMetrics> metrics)
      : metrics_(std::move(metrics)), sources_(sources), grpc_(std::move(sources), metrics_.get()) {}
  std::vector<grpc::Service*> GrpcServices() override { return {&grpc_}; }
  std::vector<std::shared_ptr<prometheus::Collectable>> MetricsCollectables() override {
    return {metrics_->registry()};
  }
  // One check per source: its MFL through the channel the fetcher reads.
  std::vector<DependencyProbe> DependencyProbes() override {
    std::vector<DependencyProbe> probes;
    for (const SourceConfig& source : sources_) {
      probes.push_back({absl::StrCat("mfl:", source.name), [&source](absl::Duration timeout) {
                          return ProbeMfl(source, timeout);
                        }});
    }
    return probes;
  }

 private:
  std::shared_ptr<FetcherMetrics> metrics_;
  const std::vector<SourceConfig> sources_;
  FetcherGrpc grpc_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<ServiceModule>> CreateFetcherModule(const Config& config) {
  absl::StatusOr<std::vector<SourceConfig>> sources = LoadSources(config);
  if (!sources.ok()) return sources.status();
  if (sources->empty()) {
    LogWarning("no MFL source configured; FetchChanges will answer FAILED_PRECONDITION",
               {{"hint", "set sources.<name>.base_url"}});
  }
  for (const SourceConfig& s : *sources) {
    LogInfo("MFL source", {{"source", s.name},
                           {"base_url", Redact(s.base_url)},
                           {"mode", s.mode == FetchModeKind::kHistory ? "history" : "search"},
                           {"tls_verify", s.tls.verify},
                           {"page_size", s.page_size}});
  }
  auto metrics = std::make_shared<FetcherMetrics>();
  for (SourceConfig& s : *sources) {
    s.on_response = [metrics, name = s.name](int http_status, absl::Duration took) {
      metrics->ObserveMflRequest(name, http_status, took);
    };
  }
  return std::make_unique<FetcherModule>(*std::move(sources), std::move(metrics));
}

ServiceSpec FetcherSpec() {
  ServiceSpec spec;
  spec.name = "fetcher";
  spec.summary = "streams changed facilities from the MFL (through openHIM)";
  spec.default_listen = "127.0.0.1:50051";
  spec.grpc_service_names = {mflsync::v1::FetcherService::service_full_name()};
  spec.schema = SourceSchema();
  // The sources' checks (URLs, auth completeness, TLS pairs), by --check-config too.
  spec.validate = [](const Config& config) { return LoadSources(config).status(); };
  spec.create = CreateFetcherModule;
  return spec;
}

}  // namespace mflsync::fetcher
