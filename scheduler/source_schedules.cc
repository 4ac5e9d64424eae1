#include "scheduler/source_schedules.h"

#include <optional>
#include <string>
#include <vector>

#include "common/proto_time.h"

namespace mflsync::scheduler {
namespace {

// The newest run of `source` (live while it runs), if any.
absl::StatusOr<std::optional<v1::Run>> LastRun(RunManager& runs, const std::string& source) {
  std::string next;
  absl::StatusOr<std::vector<v1::Run>> newest = runs.store().ListRuns(source, 1, "", &next);
  if (!newest.ok()) return newest.status();
  if (newest->empty()) return std::optional<v1::Run>();
  absl::StatusOr<v1::Run> live = runs.GetRun(newest->front().run_id());
  return std::optional<v1::Run>(live.ok() ? *live : newest->front());
}

}  // namespace

absl::StatusOr<v1::ListSourceSchedulesResponse> ListSourceSchedules(RunManager& runs,
                                                                    absl::Time now) {
  v1::ListSourceSchedulesResponse response;
  for (const auto& [name, config] : runs.sources()) {
    v1::SourceSchedule* source = response.add_sources();
    source->set_source_id(name);
    source->set_schedule(config.schedule.text());
    source->set_time_zone(config.schedule.time_zone());
    source->set_enabled(config.enabled);
    source->set_require_plan_approval(config.require_plan_approval);
    if (std::optional<absl::Time> next = runs.NextScheduledRun(name, now)) {
      *source->mutable_next_run() = ToTimestamp(*next);
    }
    absl::StatusOr<std::optional<absl::Time>> watermark = runs.store().GetWatermark(name);
    if (!watermark.ok()) return watermark.status();
    if (watermark->has_value()) *source->mutable_watermark() = ToTimestamp(**watermark);
    absl::StatusOr<std::optional<v1::Run>> last = LastRun(runs, name);
    if (!last.ok()) return last.status();
    if (last->has_value()) *source->mutable_last_run() = **last;
  }
  return response;
}

}  // namespace mflsync::scheduler
