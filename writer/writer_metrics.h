// The writer's Prometheus metrics, defined in one place (docs/operations.md
// lists them): the duration of each openIMIS request by HTTP status class,
// how many writes each shared GraphQL request carries, and the outcome of
// each record it wrote. Thread-safe.
#ifndef MFLSYNC_WRITER_WRITER_METRICS_H_
#define MFLSYNC_WRITER_WRITER_METRICS_H_

#include <memory>

#include <prometheus/registry.h>

#include "absl/time/time.h"
#include "common/metrics.h"
#include "mflsync/v1/writer.pb.h"

namespace mflsync::writer {

class WriterMetrics {
 public:
  WriterMetrics();
  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

  // mflsync_openimis_request_duration_seconds{status_class}: one HTTP
  // request to openIMIS (status 0: no answer).
  void ObserveOpenImisRequest(int http_status, absl::Duration took);
  // mflsync_openimis_shared_request_writes{kind}: one GraphQL request that
  // writes share (kind "mutations" or "outcome_polls"), observed with how
  // many it carries: _sum / _count is the writes per request.
  void ObserveSharedRequest(const char* kind, size_t writes);
  // mflsync_records_total{stage="write", outcome}: each result of a
  // WriteFacilities answer (created, updated, unchanged, rejected, failed).
  void CountWrites(const v1::WriteFacilitiesResponse& response);

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Histogram>& openimis_requests_;
  prometheus::Family<prometheus::Histogram>& shared_requests_;
  prometheus::Family<prometheus::Counter>& records_;
};

}  // namespace mflsync::writer

#endif  // MFLSYNC_WRITER_WRITER_METRICS_H_
