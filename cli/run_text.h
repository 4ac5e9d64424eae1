// How the `mflsync` command shows times, durations, a run's stage times and
// its progress to people. One format for every time it prints: UTC with the
// zone shown ("2026-12-07 14:31:08Z"), or under --local the zone of TZ with
// its offset ("2026-12-07 17:31:08+03:00"). Pure functions, unit-tested.
#ifndef MFLSYNC_CLI_RUN_TEXT_H_
#define MFLSYNC_CLI_RUN_TEXT_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/time/time.h"
#include "google/protobuf/timestamp.pb.h"
#include "mflsync/v1/scheduler.pb.h"

namespace mflsync::cli {

// `t` in `zone`: "2026-12-07 14:31:08Z" in UTC, "2026-12-07 17:31:08+03:00"
// elsewhere.
std::string TimeText(absl::Time t, const absl::TimeZone& zone);
// The same for a proto time; "-" when it is unset (zero).
std::string TimeText(const google::protobuf::Timestamp& ts, const absl::TimeZone& zone);

// "850ms", "12.5s", "1m05s".
std::string DurationText(int64_t millis);

// The records of a run that reached an outcome (created, updated, unchanged,
// rejected, failed, skipped or stale): the progress's "done".
int64_t DoneRecords(const mflsync::v1::RunCounts& counts);

// A run's progress: with the MFL's total, "1200 of 5000 records (24%), about
// 3m10s left" (the time left estimated from the pace so far: `elapsed` for
// `done`; "estimating the time left" before the first record is done);
// without it, "1200 records (the MFL gave no total)".
std::string ProgressText(int64_t done, std::optional<int64_t> total, absl::Duration elapsed);

// The run's stage times, labelled as sums over the batches that ran in
// parallel, beside the run's wall time; one line each, two-space indented;
// "" when the run has none.
std::string StagesText(const mflsync::v1::Run& run);

}  // namespace mflsync::cli

#endif  // MFLSYNC_CLI_RUN_TEXT_H_
