// How long one stage of a run took, over every batch that ran it: the summed
// time, and the wall-clock window from its first start to its last end (the
// two differ when batches overlap).
#ifndef MFLSYNC_SCHEDULER_STAGE_SPAN_H_
#define MFLSYNC_SCHEDULER_STAGE_SPAN_H_

#include <string>

#include "absl/time/time.h"
#include "mflsync/v1/scheduler.pb.h"

namespace mflsync::scheduler {

struct StageSpan {
  absl::Duration total;                        // summed over batches
  absl::Time first_start = absl::InfiniteFuture();
  absl::Time last_end = absl::InfinitePast();

  // Records one execution of the stage, from `start` to `end`.
  void Add(absl::Time start, absl::Time end);
  // Folds another span of the same stage into this one.
  void Merge(const StageSpan& other);
  bool empty() const { return first_start > last_end; }
  // The proto form, named `stage`.
  v1::StageTiming ToProto(const std::string& stage) const;
};

}  // namespace mflsync::scheduler

#endif  // MFLSYNC_SCHEDULER_STAGE_SPAN_H_
