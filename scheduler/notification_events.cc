#include "scheduler/notification_events.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/fhir.h"
#include "common/proto_time.h"
#include "common/utf8.h"

namespace mflsync::scheduler {
namespace {

// The longest run error a body carries (bytes, one line).
constexpr size_t kMaxError = 300;

// "RUN_STATE_FAILED" → "failed" (the enum's name less `prefix`).
std::string Lower(const std::string& name, absl::string_view prefix) {
  return absl::AsciiStrToLower(absl::string_view(name).substr(prefix.size()));
}

// A timestamp as a UTC instant, or null when unset.
nlohmann::json Instant(const v1::Run& run, const google::protobuf::Timestamp& (v1::Run::*field)()
                                               const, bool (v1::Run::*has)() const) {
  if (!(run.*has)()) return nullptr;
  return FormatFhirInstant(FromTimestamp((run.*field)()));
}

nlohmann::json Counts(const v1::RunCounts& c) {
  return {{"fetched", c.fetched()},   {"created", c.created()}, {"updated", c.updated()},
          {"unchanged", c.unchanged()}, {"rejected", c.rejected()}, {"failed", c.failed()},
          {"skipped", c.skipped()},   {"future", c.future()},   {"stale", c.stale()}};
}

// Only ids and reason codes (stage, transient): never the record's data.
nlohmann::json FailureIds(const v1::Failure& f) {
  return {{"failure_id", f.failure_id()},
          {"location_id", f.location_id()},
          {"version_id", f.version_id()},
          {"stage", Lower(v1::FailureStage_Name(f.stage()), "FAILURE_STAGE_")},
          {"transient", f.transient()}};
}

Notification Failed(const v1::Run& run) {
  const std::string error = OneLine(run.error(), kMaxError);
  nlohmann::json body = EventBody(
      kRunFailed, run, absl::StrCat("run ", run.run_id(), " of source ", run.source_id(),
                                    " failed: ", error));
  body["error"] = error;
  body["rerun_at"] = Instant(run, &v1::Run::rerun_at, &v1::Run::has_rerun_at);
  return {kRunFailed, run.source_id(), std::move(body)};
}

Notification Parked(const v1::Run& run, const NewFailures& created) {
  nlohmann::json body = EventBody(
      kFailuresNew, run, absl::StrCat("run ", run.run_id(), " of source ", run.source_id(),
                                      " parked ", created.count,
                                      " new failure-queue entries"));
  nlohmann::json first = nlohmann::json::array();
  for (const v1::Failure& f : created.first) first.push_back(FailureIds(f));
  body["failures"] = {{"new", created.count}, {"first", std::move(first)}};
  return {kFailuresNew, run.source_id(), std::move(body)};
}

Notification Recovered(const v1::Run& run, const std::string& failed_run) {
  nlohmann::json body = EventBody(
      kRunRecovered, run, absl::StrCat("source ", run.source_id(), " recovered: run ",
                                       run.run_id(), " succeeded after run ", failed_run,
                                       " failed"));
  body["failed_run_id"] = failed_run;
  return {kRunRecovered, run.source_id(), std::move(body)};
}

}  // namespace

nlohmann::json EventBody(const std::string& event, const v1::Run& run,
                         const std::string& summary) {
  return {{"event", event},
          {"source", run.source_id()},
          {"run",
           {{"id", run.run_id()},
            {"trigger", Lower(v1::RunTrigger_Name(run.trigger()), "RUN_TRIGGER_")},
            {"state", Lower(v1::RunState_Name(run.state()), "RUN_STATE_")},
            {"full", run.full()},
            {"started_at", Instant(run, &v1::Run::started_at, &v1::Run::has_started_at)},
            {"finished_at", Instant(run, &v1::Run::finished_at, &v1::Run::has_finished_at)},
            {"counts", Counts(run.counts())}}},
          {"summary", summary}};
}

void NotificationEvents::Seed(const std::string& source, std::optional<std::string> failed_run) {
  last_failed_.emplace(source, std::move(failed_run));
}

std::vector<Notification> NotificationEvents::RunEnded(const v1::Run& run,
                                                       const NewFailures& created) {
  std::vector<Notification> out;
  if (run.dry_run()) return out;
  std::optional<std::string>& last_failed = last_failed_[run.source_id()];
  if (run.state() == v1::RUN_STATE_FAILED) out.push_back(Failed(run));
  if (created.count > 0) out.push_back(Parked(run, created));
  if (run.state() == v1::RUN_STATE_SUCCEEDED && last_failed.has_value()) {
    out.push_back(Recovered(run, *last_failed));
  }
  if (run.state() == v1::RUN_STATE_FAILED) last_failed = run.run_id();
  if (run.state() == v1::RUN_STATE_SUCCEEDED) last_failed.reset();
  return out;
}

}  // namespace mflsync::scheduler
