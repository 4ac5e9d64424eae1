// When a source's next scheduled run is due: a fixed interval ("6h") or a
// five-field cron expression ("0 2 * * 1-5"), evaluated in UTC.
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

  // The first minute strictly after `after` that matches, in UTC; nullopt
  // when none matches within five years (e.g. "0 0 30 2 *").
  std::optional<absl::Time> Next(absl::Time after) const;

 private:
  bool DayMatches(const absl::CivilDay& day) const;

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
  // one second); or a cron expression. The error says which form was meant
  // and why it is wrong.
  static absl::StatusOr<Schedule> Parse(absl::string_view text);

  // When the next run is due. For an interval: `last_start` + interval, or
  // `now` when there was no run yet or it is overdue. For cron: the first
  // match after `now`. nullopt: never (manual only).
  std::optional<absl::Time> NextRun(absl::Time now,
                                    std::optional<absl::Time> last_start) const;

  bool manual_only() const { return !interval_.has_value() && !cron_.has_value(); }
  const std::string& text() const { return text_; }

 private:
  std::string text_;
  std::optional<absl::Duration> interval_;
  std::optional<CronExpression> cron_;
};

}  // namespace mflsync::scheduler

#endif  // MFLSYNC_SCHEDULER_SCHEDULE_H_
