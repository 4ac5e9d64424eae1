#include "scheduler/version_order.h"

#include "scheduler/state_store.h"

namespace mflsync::scheduler {

bool IsStale(const v1::SourceRecord& record, const v1::RecordKey& newest, bool reverify_equal) {
  const int64_t seen = ToMicros(record.last_updated());
  const int64_t held = ToMicros(newest.last_updated());
  if (seen != held) return seen < held;
  return record.version_id() == newest.version_id() && !reverify_equal;
}

}  // namespace mflsync::scheduler
