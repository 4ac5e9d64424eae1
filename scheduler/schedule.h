// When a source's next scheduled run is due: a fixed interval ("6h"), a
// five-field cron expression ("0 2 * * 1-5") or a shorthand ("@daily"),
// evaluated in the source's time zone (an IANA name; UTC by default).
//
// Daylight saving time: a cron time that does not exist on a day (a clock
// moved forward over it, 02:30 in Europe/Berlin on the last Sunday of March)
// runs once, as far after the change as it was into the gap (02:30 → 03:30
// local time); a time that happens twice (the clock moved back, 02:30 on the
// last Sunday of October) runs once, at its first occurrence.
#ifndef MFLSYNC_SCHEDULER_SCHEDULE_H_
#define MFLSYNC_SCHEDULER_SCHEDULE_H_

#include <bitset>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace mflsync::scheduler {

// A parsed five-field cron expression: minute hour day-of-month month
// day-of-week. Fields take "*", numbers, ranges "a-b", lists "a,b", steps
// "*/n" and "a-b/n"; months and weekdays also take names (jan, mon). Day of
// week 0 and 7 are Sunday. As in Vixie cron, when both day fields are
// restricted a day matches either.
class CronExpression {
 public:
  // The error names the field, the offending text and the allowed range.
  static absl::StatusOr<CronExpression> Parse(absl::string_view text);

  // The first minute strictly after `after` that matches, read as local
  // time of `zone` (DST as the header says); nullopt when none matches
  // within five years (e.g. "0 0 30 2 *").
  std::optional<absl::Time> Next(absl::Time after, absl::TimeZone zone) const;

 private:
  bool DayMatches(const absl::CivilDay& day) const;
  // The first matching minute of `day` from `from` on (local time).
  std::optional<absl::CivilMinute> FirstMatchOn(absl::CivilDay day,
                                                absl::CivilMinute from) const;

  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_;    // 1..31
  std::bitset<13> months_;  // 1..12
  std::bitset<7> weekdays_; // 0 = Sunday
  bool days_restricted_ = false;
  bool weekdays_restricted_ = false;
};

// A source's schedule: none (manual runs only), an interval, or cron.
class Schedule {
 public:
  // "" or "off": manual only; a duration such as "90s", "15m", "6h" (at least
  // one second); a cron expression; or a shorthand: @yearly (@annually),
  // @monthly, @weekly, @daily (@midnight), @hourly. Cron times are local
  // times of `zone`. The error says which form was meant and why it is wrong.
  static absl::StatusOr<Schedule> Parse(absl::string_view text,
                                        absl::TimeZone zone = absl::UTCTimeZone());

  // When the next run is due. For an interval: `last_start` + interval, or
  // `now` when there was no run yet or it is overdue. For cron: the first
  // match after `now`. nullopt: never (manual only).
  std::optional<absl::Time> NextRun(absl::Time now,
                                    std::optional<absl::Time> last_start) const;

  bool manual_only() const { return !interval_.has_value() && !cron_.has_value(); }
  const std::string& text() const { return text_; }
  // The IANA name of the zone cron times are read in ("UTC" by default).
  std::string time_zone() const { return zone_.name(); }

 private:
  std::string text_;
  absl::TimeZone zone_ = absl::UTCTimeZone();
  std::optional<absl::Duration> interval_;
  std::optional<CronExpression> cron_;
};

// The time zone named `name` (an IANA name such as "Africa/Nairobi", or
// "UTC"), from the system's tzdata; the error says why it is not one.
absl::StatusOr<absl::TimeZone> LoadScheduleTimeZone(absl::string_view name);

}  // namespace mflsync::scheduler

#endif  // MFLSYNC_SCHEDULER_SCHEDULE_H_
