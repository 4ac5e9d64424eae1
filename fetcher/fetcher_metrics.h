// The fetcher's Prometheus metrics, defined in one place
// (docs/operations.md lists them): the duration of each request to the MFL
// by source and HTTP status class, and the records it streamed. Thread-safe.
#ifndef MFLSYNC_FETCHER_FETCHER_METRICS_H_
#define MFLSYNC_FETCHER_FETCHER_METRICS_H_

#include <memory>
#include <string>

#include <prometheus/registry.h>

#include "absl/time/time.h"
#include "common/metrics.h"
#include "mflsync/v1/fetcher.pb.h"

namespace mflsync::fetcher {

class FetcherMetrics {
 public:
  FetcherMetrics();
  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

  // mflsync_mfl_request_duration_seconds{source, status_class}: one HTTP
  // request to a source's MFL (status 0: no answer).
  void ObserveMflRequest(const std::string& source, int http_status, absl::Duration took);
  // mflsync_records_total{stage="fetch", outcome}: each record of a page
  // streamed, "fetched", or "rejected" when the entry itself was unusable
  // (fetch_rejections).
  void CountPage(const v1::FetchChangesResponse& page);

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Histogram>& mfl_requests_;
  prometheus::Counter& fetched_;
  prometheus::Counter& rejected_;
};

}  // namespace mflsync::fetcher

#endif  // MFLSYNC_FETCHER_FETCHER_METRICS_H_
