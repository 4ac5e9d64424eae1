#include "writer/writer_metrics.h"

#include <string>

#include <prometheus/histogram.h>

#include "absl/strings/ascii.h"
#include "absl/strings/strip.h"

namespace mflsync::writer {

WriterMetrics::WriterMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      openimis_requests_(RequestDurationFamily(*registry_, "openimis", "openIMIS")),
      shared_requests_(prometheus::BuildHistogram()
                           .Name("mflsync_openimis_shared_request_writes")
                           .Help("Writes carried by one GraphQL request that writes share "
                                 "(kind: mutations or outcome_polls)")
                           .Register(*registry_)),
      records_(RecordsFamily(*registry_)) {}

void WriterMetrics::ObserveOpenImisRequest(int http_status, absl::Duration took) {
  openimis_requests_.Add({{"status_class", StatusClass(http_status)}}, RequestDurationBuckets())
      .Observe(absl::ToDoubleSeconds(took));
}

void WriterMetrics::ObserveSharedRequest(const char* kind, size_t writes) {
  static const prometheus::Histogram::BucketBoundaries kBuckets = {1, 2, 4, 8, 16, 32, 50};
  shared_requests_.Add({{"kind", kind}}, kBuckets).Observe(static_cast<double>(writes));
}

void WriterMetrics::CountWrites(const v1::WriteFacilitiesResponse& response) {
  for (const v1::WriteResult& result : response.results()) {
    const std::string outcome = absl::AsciiStrToLower(
        absl::StripPrefix(v1::WriteOutcome_Name(result.outcome()), "WRITE_OUTCOME_"));
    records_.Add({{"stage", "write"}, {"outcome", outcome}}).Increment();
  }
}

}  // namespace mflsync::writer
