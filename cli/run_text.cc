#include "cli/run_text.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/proto_time.h"

namespace mflsync::cli {

namespace v1 = ::mflsync::v1;

std::string TimeText(absl::Time t, const absl::TimeZone& zone) {
  return absl::FormatTime(zone == absl::UTCTimeZone() ? "%Y-%m-%d %H:%M:%SZ"
                                                      : "%Y-%m-%d %H:%M:%S%Ez",
                          t, zone);
}

std::string TimeText(const google::protobuf::Timestamp& ts, const absl::TimeZone& zone) {
  if (ts.seconds() == 0 && ts.nanos() == 0) return "-";
  return TimeText(absl::FromUnixSeconds(ts.seconds()), zone);
}

std::string DurationText(int64_t millis) {
  if (millis < 1000) return absl::StrCat(millis, "ms");
  if (millis < 60000) return absl::StrFormat("%.1fs", millis / 1000.0);
  return absl::StrFormat("%dm%02ds", millis / 60000, (millis / 1000) % 60);
}

int64_t DoneRecords(const v1::RunCounts& c) {
  return c.created() + c.updated() + c.unchanged() + c.rejected() + c.failed() + c.skipped() +
         c.stale();
}

std::string ProgressText(int64_t done, std::optional<int64_t> total, absl::Duration elapsed) {
  if (!total.has_value() || *total < 0)
    return absl::StrCat(done, " records (the MFL gave no total)");
  const int64_t percent = *total == 0 ? 100 : std::min<int64_t>(100, done * 100 / *total);
  std::string text = absl::StrCat(done, " of ", *total, " records (", percent, "%)");
  const int64_t left = *total - done;
  if (left <= 0) return text;
  if (done == 0) return absl::StrCat(text, ", estimating the time left");
  const absl::Duration eta = elapsed * (static_cast<double>(left) / static_cast<double>(done));
  return absl::StrCat(text, ", about ", DurationText(absl::ToInt64Milliseconds(eta)), " left");
}

std::string StagesText(const v1::Run& run) {
  if (run.stages().empty()) return "";
  std::string out = absl::StrCat(
      "  stage times, each summed over the batches that ran in parallel (together they can "
      "exceed the run's wall time, ",
      DurationText(run.duration_millis()), "):\n");
  for (const v1::StageTiming& st : run.stages()) {
    absl::StrAppend(&out, absl::StrFormat("    %-10s %8s summed", st.stage(),
                                          DurationText(st.millis())));
    if (st.has_first_started_at() && st.has_last_finished_at()) {
      const absl::Duration window =
          FromTimestamp(st.last_finished_at()) - FromTimestamp(st.first_started_at());
      absl::StrAppend(&out, ", within ", DurationText(absl::ToInt64Milliseconds(window)),
                      " of wall time");
    }
    absl::StrAppend(&out, "\n");
  }
  return out;
}

}  // namespace mflsync::cli
