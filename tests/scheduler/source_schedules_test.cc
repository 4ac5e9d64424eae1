#include "scheduler/source_schedules.h"

#include <filesystem>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "common/proto_time.h"
#include "testbed/peers/in_memory_peers.h"
#include "tests/scheduler/test_util.h"

namespace mflsync::scheduler {
namespace {

absl::Time Utc(int y, int mo, int d, int h, int mi) {
  return absl::FromCivil(absl::CivilMinute(y, mo, d, h, mi), absl::UTCTimeZone());
}

// Sources with a cron schedule in Nairobi, an interval, none, and one
// disabled, on a fresh state database.
class SourceSchedulesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::FreshTestDir("schedules_");
    auto store = StateStore::Open((dir_ / "s.db").string(), RetryPolicy{});
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    absl::StatusOr<absl::TimeZone> nairobi = LoadScheduleTimeZone("Africa/Nairobi");
    ASSERT_TRUE(nairobi.ok()) << nairobi.status();
    options_.sources["cron"] = SourceConfig{*Schedule::Parse("30 2 * * *", *nairobi), true, true};
    options_.sources["daily"] = SourceConfig{*Schedule::Parse("@daily"), false};
    options_.sources["interval"] = SourceConfig{*Schedule::Parse("6h"), true};
    options_.sources["manual"] = SourceConfig{*Schedule::Parse(""), true};
    options_.tick = absl::Hours(1);  // the schedule thread never fires in the test
    for (int i = 0; i < 3; ++i) peers_.Put(absl::StrCat("f", i), absl::StrCat("Facility ", i), 1000 + i);
    runs_ = std::make_unique<RunManager>(*store_, peers_, OrchestratorOptions{}, options_);
    ASSERT_TRUE(runs_->Start().ok());
  }
  void TearDown() override {
    runs_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::filesystem::path dir_;
  std::unique_ptr<StateStore> store_;
  testing::InMemoryPeers peers_;
  RunManagerOptions options_;
  std::unique_ptr<RunManager> runs_;
};

TEST_F(SourceSchedulesTest, ShowsScheduleZoneNextRunWatermarkAndLastRun) {
  const absl::Time now = absl::Now();
  absl::StatusOr<v1::ListSourceSchedulesResponse> before = ListSourceSchedules(*runs_, now);
  ASSERT_TRUE(before.ok()) << before.status();
  ASSERT_EQ(before->sources_size(), 4);
  const v1::SourceSchedule& cron = before->sources(0);
  EXPECT_EQ(cron.source_id(), "cron");
  EXPECT_EQ(cron.schedule(), "30 2 * * *");
  EXPECT_EQ(cron.time_zone(), "Africa/Nairobi");
  EXPECT_TRUE(cron.require_plan_approval());
  // 02:30 in Nairobi (UTC+3, no daylight saving) is 23:30 UTC the day before.
  const absl::CivilDay today = absl::ToCivilDay(now, absl::UTCTimeZone());
  absl::Time expected = Utc(static_cast<int>(today.year()), today.month(), today.day(), 23, 30);
  if (expected <= now) expected += absl::Hours(24);
  EXPECT_EQ(FromTimestamp(cron.next_run()), expected);
  EXPECT_FALSE(cron.has_watermark());
  EXPECT_FALSE(cron.has_last_run());
  const v1::SourceSchedule& daily = before->sources(1);
  EXPECT_FALSE(daily.enabled());
  EXPECT_FALSE(daily.has_next_run()) << "a disabled source has no next run";
  // A new database: the interval counts from the scheduler's start.
  ASSERT_TRUE(before->sources(2).has_next_run());
  const absl::Time interval_due = FromTimestamp(before->sources(2).next_run());
  EXPECT_GT(interval_due, now + absl::Hours(5));
  EXPECT_LE(interval_due, now + absl::Hours(6));
  EXPECT_EQ(before->sources(3).schedule(), "");
  EXPECT_FALSE(before->sources(3).has_next_run());

  auto run = runs_->TriggerSync("interval", false, v1::RUN_TRIGGER_MANUAL);
  ASSERT_TRUE(run.ok()) << run.status();
  ASSERT_TRUE(runs_->WaitIdle("interval", absl::Seconds(30)));
  absl::StatusOr<v1::ListSourceSchedulesResponse> after = ListSourceSchedules(*runs_, absl::Now());
  ASSERT_TRUE(after.ok()) << after.status();
  const v1::SourceSchedule& interval = after->sources(2);
  ASSERT_TRUE(interval.has_last_run());
  EXPECT_EQ(interval.last_run().run_id(), run->run.run_id());
  EXPECT_EQ(interval.last_run().state(), v1::RUN_STATE_SUCCEEDED);
  EXPECT_TRUE(interval.has_watermark());
  // Six hours after the scheduler's start (the time the schedule thread
  // waits for once it looked) or after the manual run's start (when it looks
  // only after that run): never earlier, never later.
  EXPECT_GE(FromTimestamp(interval.next_run()), interval_due);
  EXPECT_LE(FromTimestamp(interval.next_run()),
            FromTimestamp(interval.last_run().started_at()) + absl::Hours(6));
}

}  // namespace
}  // namespace mflsync::scheduler
