#include "common/metrics.h"

#include <exception>
#include <utility>

#include <prometheus/exposer.h>

#include "absl/strings/str_cat.h"
#include "common/service_main.h"

namespace mflsync {

MetricsListener::MetricsListener(
    std::unique_ptr<prometheus::Exposer> exposer, std::string address,
    std::vector<std::shared_ptr<prometheus::Collectable>> collectables)
    : collectables_(std::move(collectables)),
      exposer_(std::move(exposer)),
      address_(std::move(address)) {}

MetricsListener::~MetricsListener() = default;

absl::StatusOr<std::unique_ptr<MetricsListener>> MetricsListener::Start(
    const std::string& listen,
    std::vector<std::shared_ptr<prometheus::Collectable>> collectables) {
  std::unique_ptr<prometheus::Exposer> exposer;
  try {
    exposer = std::make_unique<prometheus::Exposer>(listen, 1);
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("metrics_listen ", listen,
                                               ": cannot listen (address in use or not local): ",
                                               e.what()));
  }
  std::vector<int> ports = exposer->GetListeningPorts();
  if (ports.empty()) {
    return absl::UnavailableError(absl::StrCat("metrics_listen ", listen, ": no port bound"));
  }
  for (const std::shared_ptr<prometheus::Collectable>& c : collectables) {
    exposer->RegisterCollectable(c);
  }
  const std::string host = listen.substr(0, listen.rfind(':'));
  return std::unique_ptr<MetricsListener>(new MetricsListener(
      std::move(exposer), absl::StrCat(host, ":", ports.front()), std::move(collectables)));
}

std::string StatusClass(int http_status) {
  if (http_status < 100 || http_status > 599) return "error";
  return absl::StrCat(http_status / 100, "xx");
}

prometheus::Family<prometheus::Counter>& RecordsFamily(prometheus::Registry& registry) {
  return prometheus::BuildCounter()
      .Name("mflsync_records_total")
      .Help("Records this service handled, by the stage it owns and their outcome.")
      .Register(registry);
}

prometheus::Family<prometheus::Histogram>& RequestDurationFamily(
    prometheus::Registry& registry, absl::string_view peer, absl::string_view system_name) {
  return prometheus::BuildHistogram()
      .Name(absl::StrCat("mflsync_", peer, "_request_duration_seconds"))
      .Help(absl::StrCat("Duration of each HTTP request to ", system_name,
                         ", by HTTP status class (error: no answer)."))
      .Register(registry);
}

const prometheus::Histogram::BucketBoundaries& RequestDurationBuckets() {
  static const prometheus::Histogram::BucketBoundaries kBuckets = {
      0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
  return kBuckets;
}

CommonMetrics::CommonMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      dependency_up_(prometheus::BuildGauge()
                         .Name("mflsync_dependency_up")
                         .Help("1 when the dependency's last health check passed, else 0.")
                         .Register(*registry_)) {
  prometheus::BuildGauge()
      .Name("mflsync_build_info")
      .Help("Always 1; the version is a label.")
      .Register(*registry_)
      .Add({{"version", kMflsyncVersion}})
      .Set(1);
}

void CommonMetrics::SetDependencyUp(const std::string& dependency, bool up) {
  dependency_up_.Add({{"dependency", dependency}}).Set(up ? 1 : 0);
}

}  // namespace mflsync
