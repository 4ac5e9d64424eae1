#include "cli/run_text.h"

#include <gtest/gtest.h>

#include "common/proto_time.h"

namespace mflsync::cli {
namespace {

TEST(RunTextTest, TimesShowTheirZone) {
  const absl::Time t = absl::FromUnixSeconds(1796653868);  // 2026-12-07T14:31:08Z
  EXPECT_EQ(TimeText(t, absl::UTCTimeZone()), "2026-12-07 14:31:08Z");
  EXPECT_EQ(TimeText(t, absl::FixedTimeZone(3 * 3600)), "2026-12-07 17:31:08+03:00");
  EXPECT_EQ(TimeText(t, absl::FixedTimeZone(-(5 * 3600 + 30 * 60))), "2026-12-07 09:01:08-05:30");
  EXPECT_EQ(TimeText(ToTimestamp(t), absl::UTCTimeZone()), "2026-12-07 14:31:08Z");
  EXPECT_EQ(TimeText(google::protobuf::Timestamp(), absl::UTCTimeZone()), "-");
}

TEST(RunTextTest, Durations) {
  EXPECT_EQ(DurationText(850), "850ms");
  EXPECT_EQ(DurationText(12500), "12.5s");
  EXPECT_EQ(DurationText(65500), "1m05s");
}

TEST(RunTextTest, ProgressWithTheMflTotalEstimatesTheTimeLeft) {
  // 1200 of 5000 in 30 s: 3800 more at 40 per second, 95 s.
  EXPECT_EQ(ProgressText(1200, 5000, absl::Seconds(30)),
            "1200 of 5000 records (24%), about 1m35s left");
  EXPECT_EQ(ProgressText(0, 5000, absl::Seconds(3)),
            "0 of 5000 records (0%), estimating the time left");
  EXPECT_EQ(ProgressText(5000, 5000, absl::Seconds(90)), "5000 of 5000 records (100%)");
  // More than the total (the MFL changed meanwhile): never past 100%.
  EXPECT_EQ(ProgressText(5100, 5000, absl::Seconds(90)), "5100 of 5000 records (100%)");
  EXPECT_EQ(ProgressText(0, 0, absl::Seconds(1)), "0 of 0 records (100%)");
}

TEST(RunTextTest, ProgressWithoutATotalIsACount) {
  EXPECT_EQ(ProgressText(1200, std::nullopt, absl::Seconds(30)),
            "1200 records (the MFL gave no total)");
  EXPECT_EQ(ProgressText(7, -1, absl::Seconds(30)), "7 records (the MFL gave no total)");
}

TEST(RunTextTest, DoneCountsEveryOutcome) {
  mflsync::v1::RunCounts c;
  c.set_fetched(100);  // fetched is not done
  c.set_created(1);
  c.set_updated(2);
  c.set_unchanged(3);
  c.set_rejected(4);
  c.set_failed(5);
  c.set_skipped(6);
  c.set_stale(7);
  c.set_future(50);  // counted in the others already
  EXPECT_EQ(DoneRecords(c), 28);
}

TEST(RunTextTest, StageTimesAreLabelledAsSumsBesideTheWallTime) {
  mflsync::v1::Run run;
  EXPECT_EQ(StagesText(run), "");
  run.set_duration_millis(10000);
  mflsync::v1::StageTiming* write = run.add_stages();
  write->set_stage("write");
  write->set_millis(32000);
  *write->mutable_first_started_at() = ToTimestamp(absl::FromUnixSeconds(100));
  *write->mutable_last_finished_at() = ToTimestamp(absl::FromUnixSeconds(108));
  mflsync::v1::StageTiming* fetch = run.add_stages();
  fetch->set_stage("fetch");
  fetch->set_millis(900);
  EXPECT_EQ(StagesText(run),
            "  stage times, each summed over the batches that ran in parallel (together they "
            "can exceed the run's wall time, 10.0s):\n"
            "    write         32.0s summed, within 8.0s of wall time\n"
            "    fetch         900ms summed\n");
}

}  // namespace
}  // namespace mflsync::cli
