#include "cli/sources_format.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "cli/run_text.h"

namespace mflsync::cli {
namespace {

namespace v1 = ::mflsync::v1;

std::string Word(const std::string& enum_name, absl::string_view prefix) {
  return absl::AsciiStrToLower(absl::StripPrefix(enum_name, prefix));
}

std::string ScheduleLine(const v1::SourceSchedule& s) {
  if (s.schedule().empty() || s.schedule() == "off") return "off (manual runs only)";
  return absl::StrCat(s.schedule(), " (", s.time_zone(), ")");
}

std::string NextRunLine(const v1::SourceSchedule& s, const absl::TimeZone& zone) {
  if (s.has_next_run()) return TimeText(s.next_run(), zone);
  if (!s.enabled()) return absl::StrCat("none (sources.", s.source_id(), ".enabled is false)");
  if (s.schedule().empty() || s.schedule() == "off") return "none (manual only)";
  return "none (the schedule matches no time in the next five years)";
}

std::string LastRunLine(const v1::SourceSchedule& s, const absl::TimeZone& zone) {
  if (!s.has_last_run()) return "none yet";
  const v1::Run& run = s.last_run();
  std::string line = absl::StrCat(run.run_id(), " ", Word(v1::RunTrigger_Name(run.trigger()),
                                                          "RUN_TRIGGER_"));
  if (run.dry_run()) absl::StrAppend(&line, " dry-run");
  absl::StrAppend(&line, " ", Word(v1::RunState_Name(run.state()), "RUN_STATE_"), ", started ",
                  TimeText(run.started_at(), zone));
  if (!run.error().empty()) absl::StrAppend(&line, ": ", run.error());
  return line;
}

}  // namespace

std::string SourcesText(const v1::ListSourceSchedulesResponse& sources,
                        const absl::TimeZone& zone) {
  if (sources.sources().empty()) {
    return "no source is configured (sources.<name>.* in the scheduler's configuration)\n";
  }
  std::string out;
  for (const v1::SourceSchedule& s : sources.sources()) {
    absl::StrAppend(&out, s.source_id(), "\n  schedule   ", ScheduleLine(s), "\n  next run   ",
                    NextRunLine(s, zone), "\n  watermark  ",
                    s.has_watermark() ? TimeText(s.watermark(), zone)
                                      : "none (the next run fetches everything)",
                    "\n  last run   ", LastRunLine(s, zone), "\n");
    if (s.require_plan_approval()) {
      absl::StrAppend(&out, "  real runs wait for a successful sync or an approved plan "
                            "(require_plan_approval)\n");
    }
  }
  return out;
}

}  // namespace mflsync::cli
