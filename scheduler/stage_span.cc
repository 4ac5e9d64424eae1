#include "scheduler/stage_span.h"

#include <algorithm>

#include "scheduler/state_store.h"

namespace mflsync::scheduler {

void StageSpan::Add(absl::Time start, absl::Time end) {
  if (end < start) end = start;
  total += end - start;
  first_start = std::min(first_start, start);
  last_end = std::max(last_end, end);
}

void StageSpan::Merge(const StageSpan& other) {
  total += other.total;
  first_start = std::min(first_start, other.first_start);
  last_end = std::max(last_end, other.last_end);
}

v1::StageTiming StageSpan::ToProto(const std::string& stage) const {
  v1::StageTiming out;
  out.set_stage(stage);
  out.set_millis(absl::ToInt64Milliseconds(total));
  if (!empty()) {
    *out.mutable_first_started_at() = ToTimestamp(first_start);
    *out.mutable_last_finished_at() = ToTimestamp(last_end);
  }
  return out;
}

}  // namespace mflsync::scheduler
