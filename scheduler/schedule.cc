#include "scheduler/schedule.h"

#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace mflsync::scheduler {
namespace {

struct FieldSpec {
  const char* name;
  int min;
  int max;
  std::vector<std::string> names;  // names[i] stands for min + i
};

const FieldSpec kFields[5] = {
    {"minute", 0, 59, {}},
    {"hour", 0, 23, {}},
    {"day-of-month", 1, 31, {}},
    {"month", 1, 12,
     {"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
      "nov", "dec"}},
    {"day-of-week", 0, 7, {"sun", "mon", "tue", "wed", "thu", "fri", "sat"}},
};

absl::StatusOr<int> ParseValue(const FieldSpec& spec, absl::string_view text) {
  std::string lower = absl::AsciiStrToLower(text);
  for (size_t i = 0; i < spec.names.size(); ++i) {
    if (lower == spec.names[i]) return spec.min + static_cast<int>(i);
  }
  int value = 0;
  if (!absl::SimpleAtoi(text, &value) || value < spec.min || value > spec.max) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cron ", spec.name, " field: '", text, "' is not a value from ",
        spec.min, " to ", spec.max));
  }
  return value;
}

// Sets the bits of one field; returns whether the field was restricted
// (anything but a bare "*").
absl::StatusOr<bool> ParseField(const FieldSpec& spec, absl::string_view field,
                                std::vector<bool>* bits) {
  bits->assign(spec.max + 1, false);
  bool restricted = field != "*";
  for (absl::string_view part : absl::StrSplit(field, ',')) {
    if (part.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("cron ", spec.name, " field '", field, "' has an empty list item"));
    }
    int step = 1;
    absl::string_view range = part;
    size_t slash = part.find('/');
    if (slash != absl::string_view::npos) {
      range = part.substr(0, slash);
      absl::string_view step_text = part.substr(slash + 1);
      if (!absl::SimpleAtoi(step_text, &step) || step < 1 || step > spec.max) {
        return absl::InvalidArgumentError(absl::StrCat(
            "cron ", spec.name, " field: step '", step_text,
            "' must be a number from 1 to ", spec.max));
      }
    }
    int lo = spec.min;
    int hi = spec.max;
    if (range != "*") {
      size_t dash = range.find('-');
      if (dash == absl::string_view::npos) {
        absl::StatusOr<int> v = ParseValue(spec, range);
        if (!v.ok()) return v.status();
        lo = *v;
        hi = slash == absl::string_view::npos ? *v : spec.max;
      } else {
        absl::StatusOr<int> a = ParseValue(spec, range.substr(0, dash));
        if (!a.ok()) return a.status();
        absl::StatusOr<int> b = ParseValue(spec, range.substr(dash + 1));
        if (!b.ok()) return b.status();
        if (*a > *b) {
          return absl::InvalidArgumentError(absl::StrCat(
              "cron ", spec.name, " field: range '", range,
              "' runs backwards"));
        }
        lo = *a;
        hi = *b;
      }
    }
    for (int v = lo; v <= hi; v += step) (*bits)[v] = true;
  }
  return restricted;
}

// The cron expression of a shorthand ("@daily" → "0 0 * * *").
absl::StatusOr<std::string> ExpandShorthand(absl::string_view shorthand) {
  static const std::pair<const char*, const char*> kShorthands[] = {
      {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
      {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
      {"@hourly", "0 * * * *"},
  };
  const std::string lower = absl::AsciiStrToLower(shorthand);
  for (const auto& [name, cron] : kShorthands) {
    if (lower == name) return std::string(cron);
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "schedule '", shorthand.substr(0, 64),
      "' is not a shorthand: use @yearly, @annually, @monthly, @weekly, @daily, @midnight "
      "or @hourly"));
}

}  // namespace

absl::StatusOr<CronExpression> CronExpression::Parse(absl::string_view text) {
  std::vector<absl::string_view> fields =
      absl::StrSplit(text, absl::ByAnyChar(" \t"), absl::SkipEmpty());
  if (fields.size() != 5) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cron expression '", text, "' has ", fields.size(),
        " fields; expected 5: minute hour day-of-month month day-of-week"));
  }
  CronExpression cron;
  std::vector<bool> bits;
  for (int f = 0; f < 5; ++f) {
    absl::StatusOr<bool> restricted = ParseField(kFields[f], fields[f], &bits);
    if (!restricted.ok()) return restricted.status();
    for (size_t v = 0; v < bits.size(); ++v) {
      if (!bits[v]) continue;
      switch (f) {
        case 0: cron.minutes_.set(v); break;
        case 1: cron.hours_.set(v); break;
        case 2: cron.days_.set(v); break;
        case 3: cron.months_.set(v); break;
        case 4: cron.weekdays_.set(v % 7); break;
      }
    }
    if (f == 2) cron.days_restricted_ = *restricted;
    if (f == 4) cron.weekdays_restricted_ = *restricted;
  }
  return cron;
}

bool CronExpression::DayMatches(const absl::CivilDay& day) const {
  int weekday = 0;
  switch (absl::GetWeekday(day)) {
    case absl::Weekday::sunday: weekday = 0; break;
    case absl::Weekday::monday: weekday = 1; break;
    case absl::Weekday::tuesday: weekday = 2; break;
    case absl::Weekday::wednesday: weekday = 3; break;
    case absl::Weekday::thursday: weekday = 4; break;
    case absl::Weekday::friday: weekday = 5; break;
    case absl::Weekday::saturday: weekday = 6; break;
  }
  bool dom = days_.test(day.day());
  bool dow = weekdays_.test(weekday);
  if (days_restricted_ && weekdays_restricted_) return dom || dow;
  return dom && dow;
}

std::optional<absl::CivilMinute> CronExpression::FirstMatchOn(absl::CivilDay day,
                                                             absl::CivilMinute from) const {
  if (!months_.test(day.month()) || !DayMatches(day)) return std::nullopt;
  const bool today = absl::CivilDay(from) == day;
  for (int h = today ? from.hour() : 0; h < 24; ++h) {
    if (!hours_.test(h)) continue;
    for (int m = (today && h == from.hour()) ? from.minute() : 0; m < 60; ++m) {
      if (minutes_.test(m)) return absl::CivilMinute(day.year(), day.month(), day.day(), h, m);
    }
  }
  return std::nullopt;
}

std::optional<absl::Time> CronExpression::Next(absl::Time after, absl::TimeZone zone) const {
  absl::CivilMinute from = absl::ToCivilMinute(after, zone) + 1;
  const absl::CivilDay last_day = absl::CivilDay(from) + 5 * 366;
  while (absl::CivilDay(from) <= last_day) {
    std::optional<absl::CivilMinute> match = FirstMatchOn(absl::CivilDay(from), from);
    if (!match.has_value()) {
      from = absl::CivilMinute(absl::CivilDay(from) + 1);
      continue;
    }
    // A skipped local time maps forward by the gap; a repeated one to its
    // first occurrence, which may lie before `after` (then it already ran).
    const absl::Time at = zone.At(*match).pre;
    if (at > after) return at;
    from = *match + 1;
  }
  return std::nullopt;
}

absl::StatusOr<Schedule> Schedule::Parse(absl::string_view text, absl::TimeZone zone) {
  Schedule s;
  s.text_ = std::string(absl::StripAsciiWhitespace(text));
  s.zone_ = zone;
  if (s.text_.empty() || s.text_ == "off") return s;
  if (absl::StartsWith(s.text_, "@")) {
    absl::StatusOr<std::string> cron = ExpandShorthand(s.text_);
    if (!cron.ok()) return cron.status();
    absl::StatusOr<CronExpression> parsed = CronExpression::Parse(*cron);
    if (!parsed.ok()) return parsed.status();
    s.cron_ = *parsed;
    return s;
  }
  if (s.text_.find(' ') == std::string::npos) {
    absl::Duration d;
    if (!absl::ParseDuration(s.text_, &d)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "schedule '", s.text_,
          "' is neither an interval (e.g. 30m, 6h) nor a 5-field cron "
          "expression (e.g. '0 2 * * *')"));
    }
    if (d < absl::Seconds(1)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "schedule interval '", s.text_, "' must be at least 1s"));
    }
    s.interval_ = d;
    return s;
  }
  absl::StatusOr<CronExpression> cron = CronExpression::Parse(s.text_);
  if (!cron.ok()) return cron.status();
  s.cron_ = *cron;
  return s;
}

std::optional<absl::Time> Schedule::NextRun(
    absl::Time now, std::optional<absl::Time> last_start) const {
  if (interval_.has_value()) {
    if (!last_start.has_value()) return now;
    absl::Time due = *last_start + *interval_;
    return due < now ? now : due;
  }
  if (cron_.has_value()) return cron_->Next(now, zone_);
  return std::nullopt;
}

absl::StatusOr<absl::TimeZone> LoadScheduleTimeZone(absl::string_view name) {
  // An IANA name is a relative path under the tzdata folder: refuse
  // anything that could name another file.
  const bool plain = !name.empty() && name.front() != '/' &&
                     !absl::StrContains(name, "..") &&
                     name.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                            "0123456789/_+-") == absl::string_view::npos;
  absl::TimeZone zone;
  if (!plain || !absl::LoadTimeZone(name, &zone)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", name.substr(0, 64), "' is not a known time zone: give an IANA name such as "
        "UTC, Africa/Nairobi or Europe/Berlin (the names of the tzdata package)"));
  }
  return zone;
}

}  // namespace mflsync::scheduler
