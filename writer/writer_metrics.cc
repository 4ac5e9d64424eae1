#include "writer/writer_metrics.h"

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/strip.h"

namespace mflsync::writer {

WriterMetrics::WriterMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      openimis_requests_(RequestDurationFamily(*registry_, "openimis", "openIMIS")),
      records_(RecordsFamily(*registry_)) {}

void WriterMetrics::ObserveOpenImisRequest(int http_status, absl::Duration took) {
  openimis_requests_.Add({{"status_class", StatusClass(http_status)}}, RequestDurationBuckets())
      .Observe(absl::ToDoubleSeconds(took));
}

void WriterMetrics::CountWrites(const v1::WriteFacilitiesResponse& response) {
  for (const v1::WriteResult& result : response.results()) {
    const std::string outcome = absl::AsciiStrToLower(
        absl::StripPrefix(v1::WriteOutcome_Name(result.outcome()), "WRITE_OUTCOME_"));
    records_.Add({{"stage", "write"}, {"outcome", outcome}}).Increment();
  }
}

}  // namespace mflsync::writer
