#include "scheduler/schedule.h"

#include <gtest/gtest.h>

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
  return Fmt(c->Next(after));
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

}  // namespace
}  // namespace mflsync::scheduler
