// The Prometheus side every mflsync service shares: the /metrics listener
// (prometheus-cpp's Exposer on `metrics_listen`), the metric families more
// than one service has (mflsync_records_total, mflsync_dependency_up, the
// HTTP request-duration histogram) and the HTTP status-class label. Each
// service keeps its own metrics in one registry class beside its module
// (e.g. writer/writer_metrics.h); docs/operations.md lists them all.
#ifndef MFLSYNC_COMMON_METRICS_H_
#define MFLSYNC_COMMON_METRICS_H_

#include <memory>
#include <string>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace prometheus {
class Exposer;
}  // namespace prometheus

namespace mflsync {

// Serves GET /metrics (Prometheus text format 0.0.4) on one HTTP port.
class MetricsListener {
 public:
  // Binds `listen` ("127.0.0.1:9464"; port 0 picks a free one) and serves
  // `collectables` (kept alive by the listener). Unavailable (naming the
  // address) when it cannot bind.
  static absl::StatusOr<std::unique_ptr<MetricsListener>> Start(
      const std::string& listen,
      std::vector<std::shared_ptr<prometheus::Collectable>> collectables);
  ~MetricsListener();

  // host:port actually bound.
  const std::string& address() const { return address_; }

 private:
  MetricsListener(std::unique_ptr<prometheus::Exposer> exposer, std::string address,
                  std::vector<std::shared_ptr<prometheus::Collectable>> collectables);
  std::vector<std::shared_ptr<prometheus::Collectable>> collectables_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::string address_;
};

// "2xx", "3xx", "4xx", "5xx" for an HTTP status; "error" for 0 (no answer:
// refused, reset, timed out).
std::string StatusClass(int http_status);

// mflsync_records_total{stage, outcome}: records a service handled, by the
// stage it owns (fetch, map, write) and their outcome.
prometheus::Family<prometheus::Counter>& RecordsFamily(prometheus::Registry& registry);

// mflsync_<peer>_request_duration_seconds{status_class}: the duration of
// each HTTP request to an outside system (`peer`: "mfl", "openimis"), with
// `system_name` in its help text ("openIMIS").
prometheus::Family<prometheus::Histogram>& RequestDurationFamily(
    prometheus::Registry& registry, absl::string_view peer, absl::string_view system_name);
// The buckets of every request-duration histogram (seconds).
const prometheus::Histogram::BucketBoundaries& RequestDurationBuckets();

// The metrics every service has: mflsync_dependency_up{dependency} (1 when
// the dependency's last check passed) and mflsync_build_info{version}.
class CommonMetrics {
 public:
  CommonMetrics();
  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }
  void SetDependencyUp(const std::string& dependency, bool up);

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Gauge>& dependency_up_;
};

}  // namespace mflsync

#endif  // MFLSYNC_COMMON_METRICS_H_
