#include "fetcher/fetcher_metrics.h"

namespace mflsync::fetcher {

FetcherMetrics::FetcherMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      mfl_requests_(RequestDurationFamily(*registry_, "mfl", "the MFL (through openHIM)")),
      fetched_(RecordsFamily(*registry_).Add({{"stage", "fetch"}, {"outcome", "fetched"}})),
      rejected_(RecordsFamily(*registry_).Add({{"stage", "fetch"}, {"outcome", "rejected"}})) {}

void FetcherMetrics::ObserveMflRequest(const std::string& source, int http_status,
                                       absl::Duration took) {
  mfl_requests_
      .Add({{"source", source}, {"status_class", StatusClass(http_status)}},
           RequestDurationBuckets())
      .Observe(absl::ToDoubleSeconds(took));
}

void FetcherMetrics::CountPage(const v1::FetchChangesResponse& page) {
  for (const v1::SourceRecord& record : page.records()) {
    (record.fetch_rejections_size() > 0 ? rejected_ : fetched_).Increment();
  }
}

}  // namespace mflsync::fetcher
