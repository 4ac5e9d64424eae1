#include "scheduler/schedule.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mflsync::scheduler {
namespace {

absl::Time Utc(int y, int mo, int d, int h, int mi) {
  return absl::FromCivil(absl::CivilMinute(y, mo, d, h, mi), absl::UTCTimeZone());
}

std::string Fmt(std::optional<absl::Time> t) {
  if (!t.has_value()) return "never";
  return absl::FormatTime("%Y-%m-%d %H:%M %a", *t, absl::UTCTimeZone());
}

std::string NextAfter(const std::string& expr, absl::Time after) {
  absl::StatusOr<CronExpression> c = CronExpression::Parse(expr);
  EXPECT_TRUE(c.ok()) << c.status();
  if (!c.ok()) return "parse error";
  return Fmt(c->Next(after, absl::UTCTimeZone()));
}

TEST(CronTest, NextMatches) {
  absl::Time t = Utc(2024, 5, 1, 10, 30);  // a Wednesday
  EXPECT_EQ(NextAfter("* * * * *", t), "2024-05-01 10:31 Wed");
  EXPECT_EQ(NextAfter("0 2 * * *", t), "2024-05-02 02:00 Thu");
  EXPECT_EQ(NextAfter("*/15 * * * *", t), "2024-05-01 10:45 Wed");
  EXPECT_EQ(NextAfter("30 10 * * *", t), "2024-05-02 10:30 Thu");  // strictly after
  EXPECT_EQ(NextAfter("0 9-17/4 * * mon-fri", t), "2024-05-01 13:00 Wed");
  EXPECT_EQ(NextAfter("0 0 * * 0", t), "2024-05-05 00:00 Sun");
  EXPECT_EQ(NextAfter("0 0 * * 7", t), "2024-05-05 00:00 Sun");
  EXPECT_EQ(NextAfter("0 0 1 jan *", t), "2025-01-01 00:00 Wed");
  EXPECT_EQ(NextAfter("5,10 3 29 2 *", t), "2028-02-29 03:05 Tue");
  // Both day fields restricted: either matches (Vixie cron).
  EXPECT_EQ(NextAfter("0 0 15 * fri", t), "2024-05-03 00:00 Fri");
  // Year rollover.
  EXPECT_EQ(NextAfter("59 23 31 12 *", Utc(2024, 12, 31, 23, 59)), "2025-12-31 23:59 Wed");
  // Never matches.
  EXPECT_EQ(NextAfter("0 0 30 2 *", t), "never");
}

TEST(CronTest, ParseErrorsNameTheField) {
  struct Case {
    const char* expr;
    const char* needle;
  } cases[] = {
      {"* * * *", "has 4 fields"},
      {"60 * * * *", "minute field: '60'"},
      {"* 24 * * *", "hour field"},
      {"* * 0 * *", "day-of-month field: '0'"},
      {"* * * 13 *", "month field"},
      {"* * * * 8", "day-of-week field"},
      {"5-1 * * * *", "runs backwards"},
      {"*/0 * * * *", "step '0'"},
      {"1,,2 * * * *", "empty list item"},
      {"x * * * *", "'x' is not a value"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<CronExpression> r = CronExpression::Parse(c.expr);
    ASSERT_FALSE(r.ok()) << c.expr;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(c.needle), std::string::npos)
        << c.expr << " → " << r.status().message();
  }
}

TEST(ScheduleTest, IntervalsAndManual) {
  absl::Time now = Utc(2024, 5, 1, 10, 0);
  absl::StatusOr<Schedule> off = Schedule::Parse("");
  ASSERT_TRUE(off.ok());
  EXPECT_TRUE(off->manual_only());
  EXPECT_FALSE(off->NextRun(now, std::nullopt).has_value());
  ASSERT_TRUE(Schedule::Parse("off").ok());

  absl::StatusOr<Schedule> six = Schedule::Parse("6h");
  ASSERT_TRUE(six.ok());
  EXPECT_FALSE(six->manual_only());
  EXPECT_EQ(six->NextRun(now, std::nullopt), now);  // never ran: due now
  EXPECT_EQ(six->NextRun(now, now - absl::Hours(1)), now + absl::Hours(5));
  EXPECT_EQ(six->NextRun(now, now - absl::Hours(9)), now);  // overdue

  absl::StatusOr<Schedule> cron = Schedule::Parse("0 2 * * *");
  ASSERT_TRUE(cron.ok());
  EXPECT_EQ(cron->NextRun(now, now), Utc(2024, 5, 2, 2, 0));

  for (const char* bad : {"6 hours", "soon", "0s", "500ms", "1 2 3"}) {
    absl::StatusOr<Schedule> s = Schedule::Parse(bad);
    EXPECT_FALSE(s.ok()) << bad;
  }
  absl::StatusOr<Schedule> word = Schedule::Parse("soon");
  EXPECT_NE(word.status().message().find("neither an interval"), std::string::npos);
}

TEST(ScheduleTest, Shorthands) {
  const absl::Time now = Utc(2024, 5, 1, 10, 30);  // a Wednesday
  struct Case {
    const char* text;
    const char* next;
  } cases[] = {
      {"@yearly", "2025-01-01 00:00 Wed"},  {"@annually", "2025-01-01 00:00 Wed"},
      {"@monthly", "2024-06-01 00:00 Sat"}, {"@weekly", "2024-05-05 00:00 Sun"},
      {"@daily", "2024-05-02 00:00 Thu"},   {"@midnight", "2024-05-02 00:00 Thu"},
      {"@hourly", "2024-05-01 11:00 Wed"},  {"@DAILY", "2024-05-02 00:00 Thu"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<Schedule> s = Schedule::Parse(c.text);
    ASSERT_TRUE(s.ok()) << c.text << ": " << s.status();
    EXPECT_EQ(Fmt(s->NextRun(now, now)), c.next) << c.text;
  }
  absl::StatusOr<Schedule> bad = Schedule::Parse("@fortnightly");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            "schedule '@fortnightly' is not a shorthand: use @yearly, @annually, @monthly, "
            "@weekly, @daily, @midnight or @hourly");
}

absl::TimeZone Berlin() {
  absl::StatusOr<absl::TimeZone> zone = LoadScheduleTimeZone("Europe/Berlin");
  EXPECT_TRUE(zone.ok()) << zone.status() << " (is tzdata installed?)";
  return zone.ok() ? *zone : absl::UTCTimeZone();
}

TEST(ScheduleTest, CronInATimeZone) {
  absl::StatusOr<Schedule> s = Schedule::Parse("0 2 * * *", Berlin());
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->time_zone(), "Europe/Berlin");
  // 02:00 in Berlin is 01:00 UTC in winter (CET) and 00:00 UTC in summer (CEST).
  EXPECT_EQ(Fmt(s->NextRun(Utc(2026, 1, 10, 12, 0), std::nullopt)), "2026-01-11 01:00 Sun");
  EXPECT_EQ(Fmt(s->NextRun(Utc(2026, 7, 10, 12, 0), std::nullopt)), "2026-07-11 00:00 Sat");
  // An interval ignores the zone.
  absl::StatusOr<Schedule> interval = Schedule::Parse("6h", Berlin());
  ASSERT_TRUE(interval.ok());
  EXPECT_EQ(interval->NextRun(Utc(2026, 1, 10, 12, 0), Utc(2026, 1, 10, 11, 0)),
            Utc(2026, 1, 10, 17, 0));
}

TEST(ScheduleTest, SpringForwardRunsASkippedTimeOnceAfterTheChange) {
  // 2026-03-29: Berlin's clocks go from 02:00 CET to 03:00 CEST; 02:30 does
  // not exist that day and runs at 03:30 CEST (01:30 UTC), once.
  absl::StatusOr<Schedule> s = Schedule::Parse("30 2 * * *", Berlin());
  ASSERT_TRUE(s.ok());
  std::vector<std::string> runs;
  absl::Time at = Utc(2026, 3, 27, 12, 0);
  for (int i = 0; i < 4; ++i) {
    std::optional<absl::Time> next = s->NextRun(at, at);
    ASSERT_TRUE(next.has_value());
    runs.push_back(Fmt(next));
    at = *next;
  }
  EXPECT_EQ(runs, (std::vector<std::string>{"2026-03-28 01:30 Sat",    // 02:30 CET
                                            "2026-03-29 01:30 Sun",    // 03:30 CEST
                                            "2026-03-30 00:30 Mon",    // 02:30 CEST
                                            "2026-03-31 00:30 Tue"}));
}

TEST(ScheduleTest, FallBackRunsARepeatedTimeOnceAtItsFirstOccurrence) {
  // 2026-10-25: Berlin's clocks go from 03:00 CEST back to 02:00 CET; 02:30
  // happens at 00:30 UTC (CEST) and again at 01:30 UTC (CET): it runs at the
  // first only.
  absl::StatusOr<Schedule> s = Schedule::Parse("30 2 * * *", Berlin());
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(Fmt(s->NextRun(Utc(2026, 10, 24, 12, 0), std::nullopt)), "2026-10-25 00:30 Sun");
  EXPECT_EQ(Fmt(s->NextRun(Utc(2026, 10, 25, 0, 30), std::nullopt)), "2026-10-26 01:30 Mon");
  // Asked during the repeated hour, after the first 02:30 (01:00 UTC is 02:00
  // CET): not again that night.
  EXPECT_EQ(Fmt(s->NextRun(Utc(2026, 10, 25, 1, 0), std::nullopt)), "2026-10-26 01:30 Mon");
}

TEST(ScheduleTest, TimeZoneNames) {
  EXPECT_TRUE(LoadScheduleTimeZone("UTC").ok());
  EXPECT_TRUE(LoadScheduleTimeZone("Africa/Nairobi").ok());
  for (const char* bad : {"", "Mars/Olympus", "Europe/Berln", "/etc/passwd", "../zoneinfo/UTC",
                          "Europe/Berlin\n"}) {
    absl::StatusOr<absl::TimeZone> zone = LoadScheduleTimeZone(bad);
    ASSERT_FALSE(zone.ok()) << bad;
    EXPECT_NE(zone.status().message().find("is not a known time zone"), std::string::npos)
        << zone.status();
  }
}

}  // namespace
}  // namespace mflsync::scheduler
