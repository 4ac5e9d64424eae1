#include "mapper/mapper_metrics.h"

namespace mflsync::mapper {

MapperMetrics::MapperMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      mapped_(RecordsFamily(*registry_).Add({{"stage", "map"}, {"outcome", "mapped"}})),
      rejected_(RecordsFamily(*registry_).Add({{"stage", "map"}, {"outcome", "rejected"}})) {}

void MapperMetrics::CountMapped(const v1::MapFacilitiesResponse& response) {
  for (const v1::MappedRecord& record : response.results()) {
    (record.rejections_size() > 0 ? rejected_ : mapped_).Increment();
  }
}

}  // namespace mflsync::mapper
