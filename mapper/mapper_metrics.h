// The mapper's Prometheus metrics, defined in one place (docs/operations.md
// lists them): the outcome of each record it mapped. Thread-safe.
#ifndef MFLSYNC_MAPPER_MAPPER_METRICS_H_
#define MFLSYNC_MAPPER_MAPPER_METRICS_H_

#include <memory>

#include <prometheus/registry.h>

#include "common/metrics.h"
#include "mflsync/v1/mapper.pb.h"

namespace mflsync::mapper {

class MapperMetrics {
 public:
  MapperMetrics();
  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

  // mflsync_records_total{stage="map", outcome}: each record of a
  // MapFacilities answer, "mapped" or "rejected" (it carries rejections).
  void CountMapped(const v1::MapFacilitiesResponse& response);

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Counter& mapped_;
  prometheus::Counter& rejected_;
};

}  // namespace mflsync::mapper

#endif  // MFLSYNC_MAPPER_MAPPER_METRICS_H_
