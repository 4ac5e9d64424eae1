#include "scheduler/run_manager.h"

#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/backoff.h"
#include "common/fhir.h"
#include "common/log.h"
#include "common/proto_time.h"

namespace mflsync::scheduler {
namespace {
constexpr char kShutdownError[] =
    "cancelled because the scheduler shut down; the sync resumes when it starts again";

// A sync of the source's data (not a retry of parked entries, not a push,
// not a dry run): resumed after an interruption and run again after a
// failure.
bool IsSync(const v1::Run& run) {
  return run.trigger() != v1::RUN_TRIGGER_RETRY && run.trigger() != v1::RUN_TRIGGER_PUSH &&
         !run.dry_run();
}
}  // namespace

RunManager::RunManager(StateStore& store, Peers& peers, OrchestratorOptions orchestrator,
                       RunManagerOptions options)
    : store_(store),
      peers_(peers),
      orchestrator_(peers, store, orchestrator),
      options_(std::move(options)) {}

RunManager::~RunManager() { Stop(); }

absl::Status RunManager::Start() {
  absl::StatusOr<bool> empty = store_.Empty();
  if (!empty.ok()) return empty.status();
  if (*empty) {
    fresh_start_ = absl::Now();
    LogInfo("a new state database: scheduled runs wait for their first tick");
  }
  absl::StatusOr<std::vector<v1::Run>> closed = store_.CloseInterruptedRuns(
      "interrupted: the scheduler stopped before the run ended; records it had not "
      "finished stay behind the watermark and are fetched again",
      absl::Now());
  if (!closed.ok()) return closed.status();
  std::set<std::string> resume;
  for (const v1::Run& run : *closed) {
    LogWarning("closed an interrupted run", {{"run", run.run_id()}, {"source", run.source_id()}});
    if (IsSync(run)) resume.insert(run.source_id());
  }
  // Syncs cancelled by the last shutdown (SIGTERM) resume too.
  std::string token;
  absl::StatusOr<std::vector<v1::Run>> recent = store_.ListRuns("", 100, "", &token);
  if (recent.ok()) RestoreReruns(*recent);
  if (recent.ok()) {
    std::set<std::string> newest_seen;
    for (const v1::Run& run : *recent) {
      if (!IsSync(run)) continue;
      if (!newest_seen.insert(run.source_id()).second) continue;
      if (run.state() == v1::RUN_STATE_CANCELLED && run.error() == kShutdownError) {
        resume.insert(run.source_id());
      }
    }
  }
  if (options_.resume_interrupted) {
    for (const std::string& source : resume) {
      absl::StatusOr<Triggered> t = TriggerSync(source, false, v1::RUN_TRIGGER_RESUME);
      if (!t.ok()) {
        LogError("cannot resume the interrupted run",
                 {{"source", source}, {"error", std::string(t.status().message())}});
      } else {
        LogInfo("resuming the interrupted sync", {{"source", source}, {"run", t->run.run_id()}});
      }
    }
  }
  WarnUnknownSources();
  std::lock_guard<std::mutex> lock(mu_);
  loop_ = std::thread([this] { Loop(); });
  return absl::OkStatus();
}

void RunManager::WarnUnknownSources() {
  absl::StatusOr<v1::ListSourcesResponse> listed = peers_.ListSources();
  if (!listed.ok()) {
    LogWarning("the fetcher cannot be asked for its sources yet",
               {{"error", std::string(listed.status().message())}});
    return;
  }
  std::set<std::string> known;
  for (const v1::SourceInfo& s : listed->sources()) known.insert(s.source_id());
  for (const auto& [name, cfg] : options_.sources) {
    if (!known.count(name)) {
      LogWarning("a configured source is unknown to the fetcher; its runs will fail",
                 {{"source", name}, {"fetcher_sources", absl::StrJoin(known, ",")}});
    }
  }
}

void RunManager::Stop() {
  std::vector<std::shared_ptr<CancelToken>> tokens;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    for (auto& [source, active] : active_) tokens.push_back(active.cancel);
    for (auto& [run_id, cancel] : pushes_) tokens.push_back(cancel);
    cv_.notify_all();
  }
  // Cancelled without mu_: a run's progress callback takes mu_.
  for (auto& token : tokens) token->Cancel();
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return active_.empty() && pushes_.empty(); });
  std::thread loop = std::move(loop_);
  lock.unlock();
  run_threads_.JoinAll();
  if (loop.joinable()) loop.join();
}

absl::StatusOr<std::string> RunManager::ResolveSource(const std::string& source_id) {
  if (!source_id.empty() && options_.sources.count(source_id)) return source_id;
  if (source_id.empty() && options_.sources.size() == 1) {
    return options_.sources.begin()->first;
  }
  if (source_id.empty() && options_.sources.size() > 1) {
    std::vector<std::string> names;
    for (const auto& [name, cfg] : options_.sources) names.push_back(name);
    return absl::InvalidArgumentError(absl::StrCat(
        "source_id is required: the scheduler has several sources (",
        absl::StrJoin(names, ", "), ")"));
  }
  absl::StatusOr<v1::ListSourcesResponse> listed = peers_.ListSources();
  if (!listed.ok()) {
    return absl::Status(listed.status().code(),
                        absl::StrCat("cannot check source '", source_id,
                                     "' with the fetcher: ", listed.status().message()));
  }
  std::vector<std::string> names;
  for (const v1::SourceInfo& s : listed->sources()) {
    if (s.source_id() == source_id) return source_id;
    names.push_back(s.source_id());
  }
  if (source_id.empty() && names.size() == 1) return names[0];
  if (source_id.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "source_id is required: the fetcher has ", names.size(), " sources (",
        absl::StrJoin(names, ", "), ") and the scheduler configures none"));
  }
  return absl::NotFoundError(absl::StrCat("source '", source_id,
                                          "' is not configured (the fetcher knows: ",
                                          names.empty() ? "none" : absl::StrJoin(names, ", "),
                                          ")"));
}

absl::StatusOr<RunManager::Triggered> RunManager::TriggerSync(const std::string& source_id,
                                                              bool full,
                                                              v1::RunTrigger trigger,
                                                              bool dry_run) {
  absl::StatusOr<std::string> source = ResolveSource(source_id);
  if (!source.ok()) return source.status();
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) return absl::UnavailableError("the scheduler is shutting down");
  auto it = active_.find(*source);
  if (it != active_.end()) return Triggered{it->second.run, true};
  if (!dry_run) {
    if (absl::Status s = CheckPlanApproval(*source); !s.ok()) return s;
  }
  absl::StatusOr<std::optional<absl::Time>> wm = store_.GetWatermark(*source);
  if (!wm.ok()) return wm.status();
  absl::StatusOr<v1::Run> run = store_.CreateRun(*source, trigger, full,
                                                 full ? std::nullopt : *wm, absl::Now(), dry_run);
  if (!run.ok()) return run.status();
  Launch(*run, std::nullopt);
  return Triggered{*run, false};
}

absl::Duration RunManager::ApprovalTtl(const std::string& source) const {
  auto cfg = options_.sources.find(source);
  return cfg == options_.sources.end() ? absl::ZeroDuration() : cfg->second.plan_approval_ttl;
}

v1::PlanApproval RunManager::WithExpiry(v1::PlanApproval approval) const {
  const absl::Duration ttl = ApprovalTtl(approval.source_id());
  if (ttl > absl::ZeroDuration()) {
    *approval.mutable_expires_at() = ToTimestamp(FromTimestamp(approval.approved_at()) + ttl);
  }
  return approval;
}

absl::Status RunManager::CheckPlanApproval(const std::string& source) {
  auto cfg = options_.sources.find(source);
  if (cfg == options_.sources.end() || !cfg->second.require_plan_approval)
    return absl::OkStatus();
  const absl::Duration ttl = cfg->second.plan_approval_ttl;
  const absl::Time since =
      ttl > absl::ZeroDuration() ? options_.clock() - ttl : absl::InfinitePast();
  absl::StatusOr<bool> allowed = store_.RealRunAllowed(source, since);
  if (!allowed.ok()) return allowed.status();
  if (*allowed) return absl::OkStatus();
  absl::StatusOr<bool> ever = store_.RealRunAllowed(source);
  if (!ever.ok()) return ever.status();
  return absl::FailedPreconditionError(absl::StrCat(
      "source '", source, "' requires an approved plan before its first real run "
      "(require_plan_approval)",
      *ever ? absl::StrCat(" and its approval expired (plan_approval_ttl ",
                           absl::FormatDuration(ttl), ")")
            : "",
      ": run `mflsync sync --dry-run ", source,
      "`, review it with `mflsync plan RUN`, then `mflsync plan approve RUN`"));
}

absl::StatusOr<v1::PlanApproval> RunManager::ApprovePlan(const std::string& run_id,
                                                         const std::string& actor,
                                                         const std::string& reason) {
  if (reason.size() > kMaxReasonLength)
    return absl::InvalidArgumentError(
        absl::StrCat("reason is longer than ", kMaxReasonLength, " characters"));
  absl::StatusOr<v1::Run> run = GetRun(run_id);
  if (!run.ok()) return run.status();
  if (!run->dry_run()) {
    return absl::FailedPreconditionError(
        absl::StrCat("run ", run_id, " is not a dry run: only a dry run's plan is approved"));
  }
  if (run->state() != v1::RUN_STATE_SUCCEEDED) {
    return absl::FailedPreconditionError(absl::StrCat(
        "dry run ", run_id, " did not succeed (", v1::RunState_Name(run->state()),
        "): its plan is incomplete; run `mflsync sync --dry-run ", run->source_id(),
        "` again"));
  }
  const absl::Time now = options_.clock();
  const absl::Duration ttl = ApprovalTtl(run->source_id());
  if (ttl > absl::ZeroDuration() && FromTimestamp(run->finished_at()) + ttl < now) {
    return absl::FailedPreconditionError(absl::StrCat(
        "dry run ", run_id, " is older than plan_approval_ttl (", absl::FormatDuration(ttl),
        "): its plan may no longer hold; run `mflsync sync --dry-run ", run->source_id(),
        "` again"));
  }
  absl::StatusOr<v1::PlanApproval> approval =
      store_.ApprovePlan(run_id, run->source_id(), actor, reason, now);
  if (!approval.ok()) return approval.status();
  LogInfo("plan approved",
          {{"run", run_id}, {"source", run->source_id()}, {"by", approval->approved_by()}});
  return WithExpiry(*std::move(approval));
}

absl::StatusOr<std::optional<v1::PlanApproval>> RunManager::PlanApprovalOf(
    const std::string& run_id) {
  absl::StatusOr<std::optional<v1::PlanApproval>> approval = store_.PlanApprovalOf(run_id);
  if (!approval.ok() || !approval->has_value()) return approval;
  return std::optional<v1::PlanApproval>(WithExpiry(**approval));
}

absl::StatusOr<v1::WatermarkChange> RunManager::SetWatermark(
    const std::string& source_id, std::optional<absl::Time> watermark, const std::string& reason) {
  absl::StatusOr<std::string> source = ResolveSource(source_id);
  if (!source.ok()) return source.status();
  const absl::Time now = absl::Now();
  if (watermark.has_value() && *watermark > now)
    return absl::InvalidArgumentError(
        "a watermark later than now would skip changes the MFL has not made yet");
  if (absl::StripAsciiWhitespace(reason).empty())
    return absl::InvalidArgumentError("give a reason: it is kept with the change");
  if (reason.size() > kMaxReasonLength)
    return absl::InvalidArgumentError(
        absl::StrCat("reason is longer than ", kMaxReasonLength, " characters"));
  std::lock_guard<std::mutex> lock(mu_);  // no run starts meanwhile
  if (stopping_) return absl::UnavailableError("the scheduler is shutting down");
  auto it = active_.find(*source);
  if (it != active_.end())
    return absl::FailedPreconditionError(absl::StrCat(
        "run ", it->second.run.run_id(), " is in progress for source '", *source,
        "'; cancel it or wait until it ends"));
  absl::StatusOr<v1::WatermarkChange> change = store_.SetWatermark(*source, watermark, reason, now);
  if (change.ok())
    LogInfo("watermark changed by an operator",
            {{"source", *source},
             {"watermark", watermark.has_value() ? FormatFhirInstant(*watermark) : "(none)"},
             {"reason", reason}});
  return change;
}

absl::StatusOr<v1::Run> RunManager::RetryFailures(const std::vector<int64_t>& ids, bool all,
                                                  const std::string& source_id,
                                                  const RetryHow& how) {
  if (ids.empty() && !all) {
    return absl::InvalidArgumentError("name failure ids to retry, or set all");
  }
  if (!ids.empty() && all) {
    return absl::InvalidArgumentError("give failure ids or all, not both");
  }
  absl::StatusOr<std::vector<std::pair<v1::Failure, v1::SourceRecord>>> entries =
      store_.FailuresToRetry(ids, all ? source_id : "");
  if (!entries.ok()) return entries.status();
  if (entries->empty()) {
    return absl::FailedPreconditionError(
        source_id.empty() ? "the failure queue has no open entry to retry"
                          : absl::StrCat("the failure queue has no open entry of source '",
                                         source_id, "' to retry"));
  }
  std::set<std::string> sources;
  for (const auto& [f, r] : *entries) sources.insert(f.source_id());
  if (sources.size() > 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the entries belong to several sources (", absl::StrJoin(sources, ", "),
        "); retry one source at a time"));
  }
  const std::string source = *sources.begin();
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) return absl::UnavailableError("the scheduler is shutting down");
  auto it = active_.find(source);
  if (it != active_.end()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "run ", it->second.run.run_id(), " is in progress for source '", source,
        "'; retry when it ends"));
  }
  absl::StatusOr<v1::Run> run =
      store_.CreateRun(source, v1::RUN_TRIGGER_RETRY, false, std::nullopt, absl::Now());
  if (!run.ok()) return run.status();
  if (how.action.has_value()) {
    std::vector<int64_t> retried;
    for (const auto& [f, r] : *entries) retried.push_back(f.failure_id());
    v1::FailureAction action = *how.action;
    action.set_detail(absl::StrCat("retry run ", run->run_id(),
                                   how.from_mfl ? ", from the MFL" : ", of the stored copy"));
    absl::Status s = store_.RecordFailureActions(retried, action, absl::Now());
    if (!s.ok()) return s;  // before the run starts: who and why are never lost
  }
  Launch(*run, RetryWork{*std::move(entries), how.from_mfl});
  return *run;
}

absl::StatusOr<RunManager::Pushed> RunManager::Push(const std::string& source_id,
                                                    std::vector<v1::SourceRecord> records) {
  if (records.empty()) return absl::InvalidArgumentError("a push needs at least one record");
  if (records.size() > kMaxPushRecords)
    return absl::InvalidArgumentError(absl::StrCat("a push holds ", records.size(),
                                                   " records; at most ", kMaxPushRecords));
  for (size_t i = 0; i < records.size(); ++i) {
    if (records[i].location_id().empty())
      return absl::InvalidArgumentError(absl::StrCat("records[", i, "] has no location_id"));
  }
  absl::StatusOr<std::string> source = ResolveSource(source_id);
  if (!source.ok()) return source.status();
  if (absl::Status s = CheckPlanApproval(*source); !s.ok()) return s;
  auto cancel = std::make_shared<CancelToken>();
  absl::StatusOr<v1::Run> run;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return absl::UnavailableError("the scheduler is shutting down");
    run = store_.CreateRun(*source, v1::RUN_TRIGGER_PUSH, false, std::nullopt, absl::Now());
    if (!run.ok()) return run.status();
    live_[run->run_id()] = *run;
    pushes_[run->run_id()] = cancel;
    ++version_;
  }
  Pushed out;
  Orchestrator::ProgressFn progress = [this](const v1::Run& r) { Progress(r); };
  out.run = orchestrator_.RunPush(*run, std::move(records), *cancel, progress, &out.results);
  SaveEnd(out.run);
  absl::Status pruned = store_.PruneRuns(options_.run_history_limit);
  if (!pruned.ok())
    LogWarning("run history pruning failed", {{"error", std::string(pruned.message())}});
  std::lock_guard<std::mutex> lock(mu_);
  live_.erase(run->run_id());
  pushes_.erase(run->run_id());
  ++version_;
  cv_.notify_all();
  return out;
}

absl::StatusOr<v1::Run> RunManager::CancelRun(const std::string& run_id) {
  std::shared_ptr<CancelToken> token;
  v1::Run run_now;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [source, active] : active_) {
      if (active.run.run_id() == run_id) {
        token = active.cancel;
        run_now = active.run;
      }
    }
    if (auto push = pushes_.find(run_id); push != pushes_.end()) {
      token = push->second;
      run_now = live_[run_id];
    }
  }
  if (token != nullptr) {
    token->Cancel();
    LogInfo("run cancel requested", {{"run", run_id}});
    return run_now;
  }
  absl::StatusOr<v1::Run> run = store_.GetRun(run_id);
  if (!run.ok()) return run.status();
  return absl::FailedPreconditionError(
      absl::StrCat("run ", run_id, " has already ended (",
                   v1::RunState_Name(run->state()), ")"));
}

v1::Run RunManager::RunToEnd(const v1::Run& run, std::optional<RetryWork> retry,
                            CancelToken& cancel) {
  Orchestrator::ProgressFn progress = [this](const v1::Run& r) { Progress(r); };
  if (!retry.has_value()) return orchestrator_.RunSync(run, cancel, progress);
  if (retry->from_mfl)
    return orchestrator_.RunRetryFromMfl(run, std::move(retry->entries), cancel, progress);
  return orchestrator_.RunRetry(run, std::move(retry->entries), cancel, progress);
}

void RunManager::Launch(v1::Run run, std::optional<RetryWork> retry) {
  const std::string source = run.source_id();
  Active& active = active_[source];
  active.run = run;
  active.cancel = std::make_shared<CancelToken>();
  live_[run.run_id()] = run;
  ++version_;
  std::shared_ptr<CancelToken> cancel = active.cancel;
  run_threads_.Start([this, run, cancel, source, retry = std::move(retry)]() mutable {
    v1::Run done = RunToEnd(run, std::move(retry), *cancel);
    bool shutting_down;
    {
      std::lock_guard<std::mutex> lock(mu_);
      shutting_down = stopping_;
    }
    if (shutting_down && done.state() == v1::RUN_STATE_CANCELLED) done.set_error(kShutdownError);
    if (done.trigger() != v1::RUN_TRIGGER_RETRY && !done.dry_run()) PlanRerun(done);
    SaveEnd(done);
    absl::Status pruned = store_.PruneRuns(options_.run_history_limit);
    if (!pruned.ok()) {
      LogWarning("run history pruning failed", {{"error", std::string(pruned.message())}});
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (done.trigger() == v1::RUN_TRIGGER_RETRY) {
      RetryHold& hold = retry_hold_[source];
      if (done.state() == v1::RUN_STATE_FAILED) {
        hold.backoff = hold.backoff == absl::ZeroDuration()
                           ? options_.failed_retry_backoff
                           : std::min(hold.backoff * 2, options_.failed_retry_max_backoff);
        hold.until = absl::Now() + hold.backoff;
      } else {
        hold = RetryHold();
      }
    }
    active_.erase(source);
    live_.erase(done.run_id());
    ++version_;
    cv_.notify_all();
  });
}

void RunManager::Progress(const v1::Run& run) {
  if (run.state() == v1::RUN_STATE_RUNNING) {
    absl::Status s = store_.UpdateRun(run);
    if (!s.ok()) LogWarning("run progress not saved", {{"error", std::string(s.message())}});
  } else if (run.state() != v1::RUN_STATE_PENDING && options_.on_run_end) {
    // The end is counted before live_ shows it: whoever sees the run ended
    // (GetRun, ListRuns, WatchRun) finds it in the metrics too.
    options_.on_run_end(run);
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto it = live_.find(run.run_id());
  if (it != live_.end()) it->second = run;
  auto a = active_.find(run.source_id());
  if (a != active_.end() && a->second.run.run_id() == run.run_id()) a->second.run = run;
  ++version_;
  cv_.notify_all();
}

void RunManager::SaveEnd(const v1::Run& done) {
  absl::Status saved = store_.UpdateRun(done);
  if (saved.ok()) return;
  LogError("the end of a run could not be saved; it is kept in memory and saved again "
           "every tick",
           {{"run", done.run_id()}, {"state", v1::RunState_Name(done.state())},
            {"error", std::string(saved.message())}});
  std::lock_guard<std::mutex> lock(mu_);
  unsaved_[done.run_id()] = done;
}

void RunManager::PlanRerun(v1::Run& done) {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string& source = done.source_id();
  if (done.state() != v1::RUN_STATE_FAILED || stopping_) {
    reruns_.erase(source);
    return;
  }
  Rerun& rerun = reruns_[source];
  if (rerun.attempts >= options_.rerun_max_attempts) {
    if (options_.rerun_max_attempts > 0) {
      LogWarning("a failed sync is not run again: the rerun attempts are spent",
                 {{"source", source}, {"run", done.run_id()}, {"attempts", rerun.attempts}});
    }
    reruns_.erase(source);
    return;
  }
  ++rerun.attempts;
  rerun.due = absl::Now() + ExponentialBackoff(options_.rerun_backoff,
                                               options_.rerun_max_backoff, rerun.attempts);
  rerun.full = done.full();
  *done.mutable_rerun_at() = ToTimestamp(rerun.due);
  LogInfo("a failed sync runs again later",
          {{"source", source}, {"run", done.run_id()}, {"attempt", rerun.attempts},
           {"at", absl::FormatTime(rerun.due)}});
}

void RunManager::RestoreReruns(const std::vector<v1::Run>& recent) {
  std::set<std::string> settled;  // sources whose trailing failures are counted
  std::lock_guard<std::mutex> lock(mu_);
  for (const v1::Run& run : recent) {  // newest first
    const std::string& source = run.source_id();
    if (!IsSync(run) || settled.count(source)) continue;
    auto rerun = reruns_.find(source);
    if (run.state() != v1::RUN_STATE_FAILED) {
      settled.insert(source);
    } else if (rerun != reruns_.end()) {
      ++rerun->second.attempts;  // an earlier failure in a row
    } else if (run.has_rerun_at()) {
      reruns_[source] = Rerun{.attempts = 1, .due = FromTimestamp(run.rerun_at()),
                              .full = run.full()};
    } else {
      settled.insert(source);  // the newest failed sync planned no rerun
    }
  }
  for (const auto& [source, rerun] : reruns_) {
    LogInfo("a failed sync still runs again", {{"source", source},
                                               {"attempt", rerun.attempts},
                                               {"at", absl::FormatTime(rerun.due)}});
  }
}

void RunManager::CheckReruns(absl::Time now) {
  std::vector<std::pair<std::string, bool>> due;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [source, rerun] : reruns_) {
      auto cfg = options_.sources.find(source);
      const bool enabled = cfg == options_.sources.end() || cfg->second.enabled;
      if (now < rerun.due || active_.count(source) || stopping_ || !enabled) continue;
      due.emplace_back(source, rerun.full);
      rerun.due = now + options_.rerun_backoff;  // if it cannot start, try again then
    }
  }
  for (const auto& [source, full] : due) {
    absl::StatusOr<Triggered> t = TriggerSync(source, full, v1::RUN_TRIGGER_RERUN);
    if (!t.ok()) {
      LogError("the rerun of a failed sync could not start",
               {{"source", source}, {"error", std::string(t.status().message())}});
    }
  }
}

void RunManager::SaveUnsaved() {
  std::map<std::string, v1::Run> pending;
  {
    std::lock_guard<std::mutex> lock(mu_);
    pending = unsaved_;
  }
  for (const auto& [id, run] : pending) {
    if (!store_.UpdateRun(run).ok()) return;  // still failing: next tick
    LogInfo("saved the end of a run after all", {{"run", id}});
    std::lock_guard<std::mutex> lock(mu_);
    unsaved_.erase(id);
  }
}

std::optional<v1::Run> RunManager::InMemory(const std::string& run_id) const {
  if (auto it = live_.find(run_id); it != live_.end()) return it->second;
  if (auto it = unsaved_.find(run_id); it != unsaved_.end()) return it->second;
  return std::nullopt;
}

absl::StatusOr<v1::Run> RunManager::GetRun(const std::string& run_id) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (std::optional<v1::Run> run = InMemory(run_id)) return *run;
  }
  return store_.GetRun(run_id);
}

absl::Status RunManager::WatchRun(const std::string& run_id,
                                  const std::function<bool(const v1::Run&)>& on_update,
                                  const std::function<bool()>& client_gone) {
  std::string id = run_id;
  if (id.empty()) {
    absl::StatusOr<v1::Run> newest = store_.NewestRun("");
    if (!newest.ok()) return newest.status();
    id = newest->run_id();
  }
  uint64_t seen = 0;
  bool first = true;
  while (true) {
    std::unique_lock<std::mutex> lock(mu_);
    auto it = live_.find(id);
    if (it == live_.end()) {
      lock.unlock();
      absl::StatusOr<v1::Run> run = GetRun(id);
      if (!run.ok()) return run.status();
      on_update(*run);
      return absl::OkStatus();
    }
    if (first || version_ != seen) {
      first = false;
      seen = version_;
      v1::Run copy = it->second;
      lock.unlock();
      if (!on_update(copy)) return absl::OkStatus();
      if (copy.state() != v1::RUN_STATE_RUNNING && copy.state() != v1::RUN_STATE_PENDING) {
        return absl::OkStatus();  // the final state was sent
      }
      lock.lock();
    }
    cv_.wait_for(lock, std::chrono::milliseconds(500),
                 [&] { return version_ != seen || stopping_; });
    if (stopping_ && live_.find(id) == live_.end()) continue;
    lock.unlock();
    if (client_gone && client_gone()) return absl::CancelledError("the client went away");
  }
}

bool RunManager::WaitIdle(const std::string& source_id, absl::Duration timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, std::chrono::milliseconds(absl::ToInt64Milliseconds(timeout)),
                      [&] { return active_.find(source_id) == active_.end(); });
}

void RunManager::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    lock.unlock();
    absl::Time now = absl::Now();
    SaveUnsaved();
    CheckReruns(now);
    CheckSchedules(now);
    if (now >= next_retry_check_) {
      CheckRetries(now);
      next_retry_check_ = now + options_.retry_check_interval;
    }
    CheckChangeRetention();
    lock.lock();
    cv_.wait_for(lock, std::chrono::milliseconds(absl::ToInt64Milliseconds(options_.tick)),
                 [&] { return stopping_; });
  }
}

std::optional<absl::Time> RunManager::FirstDue(const std::string& name,
                                               const SourceConfig& cfg, absl::Time now) {
  absl::StatusOr<std::optional<absl::Time>> last = store_.LastSyncStart(name);
  std::optional<absl::Time> from = last.ok() ? *last : std::nullopt;
  if (!from.has_value()) from = fresh_start_;  // a new database: the first tick
  return cfg.schedule.NextRun(now, from);
}

std::optional<absl::Time> RunManager::Due(const std::string& name) const {
  std::lock_guard<std::mutex> lock(due_mu_);
  auto due = next_due_.find(name);
  if (due == next_due_.end()) return std::nullopt;
  return due->second;
}

void RunManager::SetDue(const std::string& name, std::optional<absl::Time> due) {
  std::lock_guard<std::mutex> lock(due_mu_);
  if (due.has_value()) {
    next_due_[name] = *due;
  } else {
    next_due_.erase(name);
  }
}

std::optional<absl::Time> RunManager::NextScheduledRun(const std::string& source,
                                                       absl::Time now) {
  auto it = options_.sources.find(source);
  if (it == options_.sources.end() || !it->second.enabled || it->second.schedule.manual_only())
    return std::nullopt;
  std::optional<absl::Time> due = Due(source);
  return due.has_value() ? due : FirstDue(source, it->second, now);
}

void RunManager::CheckSchedules(absl::Time now) {
  for (const auto& [name, cfg] : options_.sources) {
    if (!cfg.enabled || cfg.schedule.manual_only()) continue;
    std::optional<absl::Time> due = Due(name);
    if (!due.has_value()) {
      due = FirstDue(name, cfg, now);
      if (!due.has_value()) continue;
      SetDue(name, due);
    }
    if (now < *due) continue;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
      if (active_.count(name)) continue;  // check again next tick
    }
    absl::StatusOr<Triggered> t = TriggerSync(name, false, v1::RUN_TRIGGER_SCHEDULE);
    if (!t.ok()) {
      LogError("scheduled run could not start",
               {{"source", name}, {"error", std::string(t.status().message())}});
    }
    SetDue(name, cfg.schedule.NextRun(now, now));
  }
}

void RunManager::CheckRetries(absl::Time now) {
  absl::StatusOr<std::map<std::string, std::vector<int64_t>>> due = store_.DueRetries(now);
  if (!due.ok()) {
    LogError("cannot read due retries", {{"error", std::string(due.status().message())}});
    return;
  }
  for (const auto& [source, ids] : *due) {
    auto cfg = options_.sources.find(source);
    if (cfg != options_.sources.end() && !cfg->second.enabled) continue;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
      if (active_.count(source)) continue;
      auto hold = retry_hold_.find(source);
      if (hold != retry_hold_.end() && now < hold->second.until) continue;
    }
    absl::StatusOr<v1::Run> run = RetryFailures(ids, false, "");
    if (run.ok()) {
      LogInfo("automatic retry of transient failures",
               {{"source", source}, {"run", run->run_id()}, {"entries", ids.size()}});
    } else {
      LogWarning("automatic retry could not start",
                 {{"source", source}, {"error", std::string(run.status().message())}});
    }
  }
}

void RunManager::CheckChangeRetention() {
  const absl::Time now = options_.clock();
  if (now < next_change_prune_) return;
  next_change_prune_ = now + options_.change_prune_interval;
  absl::StatusOr<int> pruned = store_.PruneChanges(now - options_.change_retention);
  if (!pruned.ok()) {
    LogWarning("change history pruning failed",
               {{"error", std::string(pruned.status().message())}});
  } else if (*pruned > 0) {
    LogInfo("change history pruned", {{"deleted", *pruned},
                                      {"older_than", FormatFhirInstant(now - options_.change_retention)}});
  }
}

}  // namespace mflsync::scheduler
