#include "mediator/sync_runner.h"

#include <utility>

#include <google/protobuf/util/time_util.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/fhir.h"
#include "common/log.h"
#include "common/url.h"
#include "mediator/cancellable_sleep.h"
#include "mediator/pending_syncs.h"
#include "mediator/push_processor.h"

namespace mflsync::mediator {
namespace {

using nlohmann::json;

constexpr int kMaxRefusedListed = 1000;

const char* StateName(v1::RunState s) {
  switch (s) {
    case v1::RUN_STATE_PENDING: return "pending";
    case v1::RUN_STATE_RUNNING: return "running";
    case v1::RUN_STATE_SUCCEEDED: return "succeeded";
    case v1::RUN_STATE_FAILED: return "failed";
    case v1::RUN_STATE_CANCELLED: return "cancelled";
    default: return "unknown";
  }
}

const char* StageName(v1::FailureStage s) {
  switch (s) {
    case v1::FAILURE_STAGE_VALIDATE: return "validate";
    case v1::FAILURE_STAGE_MAP: return "map";
    case v1::FAILURE_STAGE_RECONCILE: return "reconcile";
    case v1::FAILURE_STAGE_WRITE: return "write";
    case v1::FAILURE_STAGE_FETCH: return "fetch";
    default: return "unknown";
  }
}

json CountsJson(const v1::RunCounts& c) {
  return {{"fetched", c.fetched()},     {"created", c.created()}, {"updated", c.updated()},
          {"unchanged", c.unchanged()}, {"rejected", c.rejected()}, {"failed", c.failed()},
          {"skipped", c.skipped()},     {"stale", c.stale()}};
}

bool Ended(v1::RunState s) {
  return s == v1::RUN_STATE_SUCCEEDED || s == v1::RUN_STATE_FAILED ||
         s == v1::RUN_STATE_CANCELLED;
}

// The stage's own first start and last end; the run's when the scheduler
// did not report them.
std::pair<std::string, std::string> StageTimes(const v1::StageTiming& stage,
                                               const std::string& run_start,
                                               const std::string& run_end) {
  using google::protobuf::util::TimeUtil;
  return {stage.has_first_started_at() ? TimeUtil::ToString(stage.first_started_at()) : run_start,
          stage.has_last_finished_at() ? TimeUtil::ToString(stage.last_finished_at()) : run_end};
}

json StageOrchestration(const v1::StageTiming& stage, const v1::RunCounts& c,
                        const std::string& start, const std::string& end) {
  json stage_body = {{"stage", stage.stage()}, {"millis", stage.millis()}};
  if (stage.stage() == "fetch") stage_body["fetched"] = c.fetched();
  if (stage.stage() == "write") {
    stage_body["created"] = c.created();
    stage_body["updated"] = c.updated();
    stage_body["failed"] = c.failed();
  }
  return {{"name", absl::StrCat("mflsync ", stage.stage())},
          {"request", {{"method", "POST"}, {"path", absl::StrCat("/", stage.stage())},
                       {"timestamp", start}}},
          {"response", {{"status", 200},
                        {"headers", {{"content-type", "application/json"}}},
                        {"body", stage_body.dump()},
                        {"timestamp", end}}}};
}

json RefusedJson(const std::vector<v1::Failure>& refused) {
  json out = json::array();
  for (const v1::Failure& f : refused) {
    out.push_back({{"failure_id", f.failure_id()},
                   {"location_id", f.location_id()},
                   {"version_id", f.version_id()},
                   {"stage", StageName(f.stage())},
                   {"transient", f.transient()},
                   {"reason", f.reason()}});
  }
  return out;
}

json RefusedOrchestration(const std::string& run_id, const json& refused,
                          const std::string& at) {
  return {{"name", "mflsync refused records"},
          {"request", {{"method", "GET"}, {"path", "/failures"},
                       {"querystring", absl::StrCat("run_id=", run_id)},
                       {"timestamp", at}}},
          {"response", {{"status", 200},
                        {"headers", {{"content-type", "application/json"}}},
                        {"body", refused.dump(-1, ' ', false, json::error_handler_t::replace)},
                        {"timestamp", at}}}};
}

}  // namespace

SyncRunner::SyncRunner(std::string urn, SuitePeers* peers,
                       std::shared_ptr<const OpenHimApi> api, SyncRunnerOptions options)
    : urn_(std::move(urn)), peers_(peers), api_(std::move(api)), options_(std::move(options)) {}

SyncRunner::~SyncRunner() { Stop(); }

json SyncRunner::Start(const Settings& settings, const std::string& transaction_id, bool full) {
  v1::TriggerSyncRequest request;
  request.set_source_id(settings.sync_source);
  request.set_full(full);
  absl::StatusOr<v1::TriggerSyncResponse> started = peers_->TriggerSync(request);
  if (!started.ok()) {
    std::string message =
        absl::StrCat("the sync run could not start: ", started.status().message());
    json answer = MediatorAnswer(urn_, kStatusFailed, 503, {{"error", message}});
    // A mediator answer with an error is queued for openHIM's auto-retry.
    if (options_.auto_retry) answer["error"] = {{"message", message}};
    answer["properties"] = {{"error", message}};
    return answer;
  }
  const v1::Run& run = started->run();
  json body = {{"run_id", run.run_id()},
               {"source_id", run.source_id()},
               {"already_running", started->already_running()},
               {"message", transaction_id.empty()
                               ? "run started; no X-OpenHIM-TransactionID, so no transaction "
                                 "will be updated"
                               : "run started; this transaction is completed when it ends"}};
  json answer = MediatorAnswer(urn_, kStatusProcessing, 202, body);
  answer["properties"] = {{"run_id", run.run_id()}, {"source_id", run.source_id()}};
  LogInfo("sync run triggered through openHIM",
          {{"run_id", run.run_id()}, {"transaction", transaction_id},
           {"already_running", started->already_running()}});
  if (!transaction_id.empty() && api_ != nullptr) Spawn(run.run_id(), transaction_id);
  return answer;
}

void SyncRunner::Spawn(std::string run_id, std::string transaction_id) {
  absl::MutexLock lock(&mu_);
  for (auto it = watchers_.begin(); it != watchers_.end();) {
    if (it->done->load()) {
      it->thread.join();
      it = watchers_.erase(it);
    } else {
      ++it;
    }
  }
  auto done = std::make_shared<std::atomic<bool>>(false);
  std::thread thread([this, done, id = std::move(run_id), tx = std::move(transaction_id)] {
    Watch(id, tx);
    done->store(true);
  });
  watchers_.push_back(Watcher{std::move(thread), done});
}

absl::StatusOr<int> SyncRunner::ResumePending(const std::string& channel_name) {
  if (api_ == nullptr) return 0;
  absl::StatusOr<std::vector<PendingSync>> pending =
      FindPendingSyncs(*api_, channel_name, kMaxResumed);
  if (!pending.ok()) return pending.status();
  for (PendingSync& p : *pending) {
    LogInfo("watching again a sync run whose openHIM transaction is still Processing",
            {{"run_id", p.run_id}, {"transaction", p.transaction_id}});
    Spawn(std::move(p.run_id), std::move(p.transaction_id));
  }
  return static_cast<int>(pending->size());
}

TransactionOutcome SyncRunner::FinalOutcome(const std::string& urn, const v1::Run& run,
                                            const std::vector<v1::Failure>& refused,
                                            bool auto_retry) {
  const v1::RunCounts& c = run.counts();
  TransactionOutcome out;
  int http_status = 200;
  if (run.state() == v1::RUN_STATE_SUCCEEDED) {
    out.status = (c.rejected() > 0 || c.failed() > 0) ? kStatusCompletedWithErrors
                                                      : kStatusSuccessful;
  } else {
    out.status = kStatusFailed;
    http_status = 500;
  }
  json refused_json = RefusedJson(refused);
  json body = {{"run_id", run.run_id()},
               {"source_id", run.source_id()},
               {"state", StateName(run.state())},
               {"counts", CountsJson(c)},
               {"duration_ms", run.duration_millis()},
               {"refused", refused_json}};
  if (!run.error().empty()) body["error"] = run.error();
  for (const std::string& w : run.warnings()) body["mfl_warnings"].push_back(w);
  out.response = MediatorAnswer(urn, out.status, http_status, body)["response"];
  using google::protobuf::util::TimeUtil;
  const std::string start = run.has_started_at() ? TimeUtil::ToString(run.started_at())
                                                 : FormatFhirInstant(absl::Now());
  const std::string end = run.has_finished_at() ? TimeUtil::ToString(run.finished_at())
                                                : FormatFhirInstant(absl::Now());
  for (const v1::StageTiming& stage : run.stages()) {
    auto [first, last] = StageTimes(stage, start, end);
    out.orchestrations.push_back(StageOrchestration(stage, c, first, last));
  }
  if (!refused.empty())
    out.orchestrations.push_back(RefusedOrchestration(run.run_id(), refused_json, end));
  out.properties = CountsJson(c);
  out.properties["run_id"] = run.run_id();
  out.properties["state"] = StateName(run.state());
  if (out.status == kStatusFailed) {
    std::string message =
        run.error().empty() ? std::string("the run did not succeed") : run.error();
    out.properties["error"] = message;
    if (auto_retry) out.error = {{"message", message}};
  }
  return out;
}

std::vector<v1::Failure> SyncRunner::RefusedRecords(const v1::Run& run) {
  std::vector<v1::Failure> refused;
  std::string token;
  for (int page = 0; page < 20 && refused.size() < kMaxRefusedListed; ++page) {
    v1::ListFailuresRequest request;
    request.set_source_id(run.source_id());
    request.set_page_size(500);
    request.set_page_token(token);
    absl::StatusOr<v1::ListFailuresResponse> failures = peers_->ListFailures(request);
    if (!failures.ok()) {
      LogWarning("listing the run's refused records failed",
                 {{"run_id", run.run_id()},
                  {"error", std::string(failures.status().message())}});
      break;
    }
    for (const v1::Failure& f : failures->failures()) {
      if (f.run_id() == run.run_id() && refused.size() < kMaxRefusedListed) refused.push_back(f);
    }
    token = failures->next_page_token();
    if (token.empty()) break;
  }
  return refused;
}

absl::StatusOr<v1::Run> SyncRunner::WatchUntilEnded(const std::string& run_id) {
  auto stopping = [this] { return stopping_.load(); };
  absl::Time give_up = absl::Now() + options_.watch_outage;
  while (true) {
    absl::StatusOr<v1::Run> run = peers_->WatchRun(run_id, [](const v1::Run&) {});
    if (stopping()) return absl::CancelledError("the mediator is stopping");
    if (run.ok() && Ended(run->state())) return run;
    if (!run.ok() && run.status().code() == absl::StatusCode::kDeadlineExceeded) {
      give_up = absl::Now() + options_.watch_outage;  // a long run: watch again
      continue;
    }
    if (!run.ok() && run.status().code() == absl::StatusCode::kNotFound) return run;
    absl::Status why = run.ok() ? absl::UnavailableError("the watch ended before the run")
                                : run.status();
    if (absl::Now() + kWatchRetryInterval > give_up) return why;
    LogWarning("watching a sync run failed; trying again",
               {{"run_id", run_id}, {"error", std::string(why.message())}});
    if (!SleepUnlessCancelled(kWatchRetryInterval, absl::Milliseconds(100), stopping))
      return absl::CancelledError("the mediator is stopping");
  }
}

void SyncRunner::Watch(std::string run_id, std::string transaction_id) {
  absl::StatusOr<v1::Run> run = WatchUntilEnded(run_id);
  if (!run.ok() && stopping_.load()) {
    // The run goes on in the scheduler; the next mediator completes it.
    LogInfo("mediator stopping: the sync transaction stays Processing until a mediator "
            "starts again",
            {{"run_id", run_id}, {"transaction", transaction_id}});
    return;
  }
  TransactionOutcome outcome;
  if (!run.ok()) {
    std::string message = absl::StrCat("lost track of run ", run_id, ": ", run.status().message());
    outcome.status = kStatusFailed;
    outcome.response = MediatorAnswer(urn_, kStatusFailed, 500, {{"error", message}})["response"];
    outcome.properties = {{"run_id", run_id}, {"error", message}};
    if (options_.auto_retry) outcome.error = {{"message", message}};
    LogWarning("sync run watch failed", {{"run_id", run_id}, {"error", message}});
  } else {
    outcome = FinalOutcome(urn_, *run, RefusedRecords(*run), options_.auto_retry);
  }
  TransactionCompleter completer(api_, options_.completer);
  absl::Status done =
      completer.Complete(transaction_id, outcome, [this] { return stopping_.load(); });
  if (!done.ok()) {
    LogWarning("completing the openHIM transaction failed",
               {{"transaction", transaction_id}, {"run_id", run_id},
                {"error", std::string(done.message())}});
  } else {
    LogInfo("openHIM transaction completed",
            {{"transaction", transaction_id}, {"run_id", run_id}, {"status", outcome.status}});
  }
}

void SyncRunner::Wait() {
  std::vector<Watcher> watchers;
  {
    absl::MutexLock lock(&mu_);
    watchers.swap(watchers_);
  }
  for (Watcher& w : watchers) w.thread.join();
}

void SyncRunner::Stop() {
  stopping_.store(true);
  peers_->CancelWatches();
  Wait();
}

}  // namespace mflsync::mediator
