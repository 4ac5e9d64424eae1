// What ListSourceSchedules shows of each configured source: its schedule and
// time zone, the next scheduled run, the watermark and the last run.
#ifndef MFLSYNC_SCHEDULER_SOURCE_SCHEDULES_H_
#define MFLSYNC_SCHEDULER_SOURCE_SCHEDULES_H_

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "mflsync/v1/scheduler.pb.h"
#include "scheduler/run_manager.h"

namespace mflsync::scheduler {

// Every source `runs` is configured with, by name, as of `now`.
absl::StatusOr<v1::ListSourceSchedulesResponse> ListSourceSchedules(RunManager& runs,
                                                                    absl::Time now);

}  // namespace mflsync::scheduler

#endif  // MFLSYNC_SCHEDULER_SOURCE_SCHEDULES_H_
