#include "cli/sources_format.h"

#include <gtest/gtest.h>

namespace mflsync::cli {
namespace {

namespace v1 = ::mflsync::v1;

TEST(SourcesTextTest, ScheduleZoneNextRunWatermarkAndLastRun) {
  v1::ListSourceSchedulesResponse resp;
  v1::SourceSchedule* kenya = resp.add_sources();
  kenya->set_source_id("kenya");
  kenya->set_schedule("30 2 * * *");
  kenya->set_time_zone("Africa/Nairobi");
  kenya->set_enabled(true);
  kenya->mutable_next_run()->set_seconds(1796772600);  // 2026-12-08 23:30:00 UTC
  kenya->mutable_watermark()->set_seconds(1796716800);  // 2026-12-08 08:00:00 UTC
  v1::Run* run = kenya->mutable_last_run();
  run->set_run_id("run-000012");
  run->set_trigger(v1::RUN_TRIGGER_SCHEDULE);
  run->set_state(v1::RUN_STATE_FAILED);
  run->mutable_started_at()->set_seconds(1796716800);
  run->set_error("openIMIS unreachable");
  kenya->set_require_plan_approval(true);
  v1::SourceSchedule* manual = resp.add_sources();
  manual->set_source_id("uganda");
  manual->set_time_zone("UTC");
  manual->set_enabled(true);
  EXPECT_EQ(SourcesText(resp, absl::UTCTimeZone()),
            "kenya\n"
            "  schedule   30 2 * * * (Africa/Nairobi)\n"
            "  next run   2026-12-08 23:30:00Z\n"
            "  watermark  2026-12-08 08:00:00Z\n"
            "  last run   run-000012 schedule failed, started 2026-12-08 08:00:00Z: "
            "openIMIS unreachable\n"
            "  real runs wait for a successful sync or an approved plan "
            "(require_plan_approval)\n"
            "uganda\n"
            "  schedule   off (manual runs only)\n"
            "  next run   none (manual only)\n"
            "  watermark  none (the next run fetches everything)\n"
            "  last run   none yet\n");
}

TEST(SourcesTextTest, DisabledAndNeverMatching) {
  v1::ListSourceSchedulesResponse resp;
  v1::SourceSchedule* off = resp.add_sources();
  off->set_source_id("kenya");
  off->set_schedule("@daily");
  off->set_time_zone("UTC");
  off->set_enabled(false);
  v1::SourceSchedule* never = resp.add_sources();
  never->set_source_id("feb30");
  never->set_schedule("0 0 30 2 *");
  never->set_time_zone("UTC");
  never->set_enabled(true);
  const std::string text = SourcesText(resp, absl::UTCTimeZone());
  EXPECT_NE(text.find("  next run   none (sources.kenya.enabled is false)\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("  next run   none (the schedule matches no time in the next five years)"),
            std::string::npos)
      << text;
  EXPECT_EQ(SourcesText({}, absl::UTCTimeZone()),
            "no source is configured (sources.<name>.* in the scheduler's configuration)\n");
}

}  // namespace
}  // namespace mflsync::cli
