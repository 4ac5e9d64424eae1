#include "scheduler/orchestrator.h"

#include <algorithm>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/backoff.h"
#include "common/fhir.h"
#include "common/log.h"
#include "common/physical_type.h"
#include "common/thread_group.h"
#include "common/utf8.h"
#include "scheduler/plan_diff.h"
#include "scheduler/stage_span.h"
#include "scheduler/version_order.h"

namespace mflsync::scheduler {

// ------------------------------------------------------------ watermark

void WatermarkTracker::Fetched(int64_t t) {
  ++pending_[t];
  if (!max_fetched_.has_value() || t > *max_fetched_) max_fetched_ = t;
}

void WatermarkTracker::Terminal(int64_t t) {
  auto it = pending_.find(t);
  if (it != pending_.end() && --it->second == 0) pending_.erase(it);
  terminal_.insert(t);
  ForgetBelowSafe();
}

void WatermarkTracker::ForgetBelowSafe() {
  auto limit = terminal_.end();
  if (!pending_.empty()) limit = terminal_.lower_bound(pending_.begin()->first);
  if (limit == terminal_.begin()) return;
  terminal_.erase(terminal_.begin(), std::prev(limit));
}

void WatermarkTracker::SetCeiling(int64_t ceiling) {
  if (!ceiling_.has_value() || ceiling < *ceiling_) ceiling_ = ceiling;
}

int64_t WatermarkTracker::Capped(int64_t candidate) const {
  return ceiling_.has_value() ? std::min(candidate, *ceiling_) : candidate;
}

std::optional<int64_t> WatermarkTracker::Safe(std::optional<int64_t> frontier) const {
  std::optional<int64_t> best = previous_;
  auto limit = terminal_.end();
  if (!pending_.empty()) limit = terminal_.lower_bound(pending_.begin()->first);
  if (limit != terminal_.begin()) {
    int64_t candidate = *std::prev(limit);
    if (frontier.has_value()) candidate = std::min(candidate, *frontier);
    candidate = Capped(candidate);
    if (!best.has_value() || candidate > *best) best = candidate;
  }
  return best;
}

std::optional<int64_t> WatermarkTracker::Final(std::optional<int64_t> high) const {
  std::optional<int64_t> best = previous_;
  for (const std::optional<int64_t>& v : {max_fetched_, high}) {
    if (!v.has_value()) continue;
    int64_t candidate = Capped(*v);
    if (!best.has_value() || candidate > *best) best = candidate;
  }
  return best;
}

// ------------------------------------------------------------ pipeline

namespace {

bool Retryable(const absl::Status& s, bool side_effects) {
  if (absl::IsUnavailable(s)) return true;
  return !side_effects && (absl::IsDeadlineExceeded(s) || absl::IsResourceExhausted(s));
}

std::string RejectionText(const google::protobuf::RepeatedPtrField<v1::Rejection>& rs) {
  std::vector<std::string> parts;
  for (const v1::Rejection& r : rs) {
    std::string part = absl::StrCat(r.rule(), " at ", r.fhir_path(), ": ", r.message());
    if (!r.value().empty()) absl::StrAppend(&part, " (value '", r.value(), "')");
    parts.push_back(std::move(part));
  }
  if (parts.empty()) return "rejected without a reason";
  return absl::StrJoin(parts, "; ");
}

// FHIR structure rules are validation; the rest are the mapping's.
v1::FailureStage StageOf(const google::protobuf::RepeatedPtrField<v1::Rejection>& rs) {
  for (const v1::Rejection& r : rs) {
    if (!absl::StartsWith(r.rule(), "fhir.") && !absl::StartsWith(r.rule(), "validate")) {
      return v1::FAILURE_STAGE_MAP;
    }
  }
  return rs.empty() ? v1::FAILURE_STAGE_MAP : v1::FAILURE_STAGE_VALIDATE;
}

// Why the record's Location is not a facility when its physicalType says it
// is not a site (e.g. the MFL's county/sub-county/ward jurisdictions,
// physicalType "jdn"); empty otherwise (the rule: NotASite). The producer of
// the record read physicalType; a record without it (an older producer, a
// stored copy) has its Location read here. A Location without
// physicalType, or unparseable JSON, goes to the mapper, which judges it.
std::string NotAFacility(const v1::SourceRecord& record) {
  if (record.deleted()) return "";
  if (record.has_physical_type()) return NotASite(record.physical_type());
  if (record.location_json().empty()) return "";
  // Bytes from the fetcher, bounded there (ParseJson is for the edges).
  const nlohmann::json location =
      nlohmann::json::parse(record.location_json(), nullptr, /*allow_exceptions=*/false);
  return NotASite(PhysicalTypeOf(location));
}

// What a push's caller learns of one record beyond its journal state: the
// rules it broke and the openIMIS write it took.
struct RecordDetail {
  std::vector<v1::Rejection> rejections;
  std::optional<v1::HealthFacility> facility;  // as reconciled
  std::optional<v1::WriteItem> write;
  std::optional<v1::WriteResult> write_result;
  absl::Time write_started;
  absl::Time write_finished;
  std::optional<v1::Reconciliation> plan;  // a dry run's: the writer's decision
};

struct BatchResult {
  std::vector<RecordOutcome> outcomes;
  std::vector<RecordDetail> details;  // by outcome index
  v1::RunCounts counts;
  std::map<std::string, StageSpan> stages;
};

v1::RecordStatus StatusOf(const RecordOutcome& o, const RecordDetail& d) {
  switch (o.state) {
    case JournalState::kWritten:
      return d.write.has_value() && d.write->action() == v1::WRITE_ACTION_UPDATE
                 ? v1::RECORD_STATUS_UPDATED
                 : v1::RECORD_STATUS_CREATED;
    case JournalState::kUnchanged:
      return o.skip_reason.empty() ? v1::RECORD_STATUS_UNCHANGED : v1::RECORD_STATUS_SKIPPED;
    case JournalState::kParked:
      return o.transient ? v1::RECORD_STATUS_FAILED : v1::RECORD_STATUS_REJECTED;
    case JournalState::kStale:
      return v1::RECORD_STATUS_STALE;
    default:
      return v1::RECORD_STATUS_UNSPECIFIED;
  }
}

constexpr char kStaleReason[] =
    "superseded: openIMIS already holds this version of the Location or a newer one";

// One record's result for a push's caller.
v1::RecordResult ResultOf(const RecordOutcome& o, const RecordDetail& d) {
  v1::RecordResult r;
  r.set_location_id(o.record.location_id());
  r.set_version_id(o.record.version_id());
  r.set_status(StatusOf(o, d));
  if (o.state == JournalState::kParked) {
    r.set_stage(o.stage);
    r.set_reason(o.reason);
  } else if (!o.skip_reason.empty()) {
    r.set_reason(o.skip_reason);
  } else if (o.state == JournalState::kStale) {
    r.set_reason(kStaleReason);
  }
  for (const v1::Rejection& x : d.rejections) *r.add_rejections() = x;
  if (d.facility.has_value()) *r.mutable_facility() = *d.facility;
  if (d.write.has_value()) {
    *r.mutable_write() = *d.write;
    *r.mutable_write_started_at() = ToTimestamp(d.write_started);
  }
  if (d.write_result.has_value()) {
    *r.mutable_write_result() = *d.write_result;
    *r.mutable_write_finished_at() = ToTimestamp(d.write_finished);
  }
  return r;
}

// One record's entry in a dry run's plan: what a real run would have done
// with it, and for an update each field that changes.
v1::PlanEntry PlanEntryOf(const RecordOutcome& o, const RecordDetail& d) {
  v1::PlanEntry e;
  e.set_location_id(o.record.location_id());
  e.set_version_id(o.record.version_id());
  *e.mutable_last_updated() = o.record.last_updated();
  if (d.plan.has_value()) {
    e.set_code(d.plan->facility().code());
    e.set_name(d.plan->facility().name());
    e.set_uuid(d.plan->has_current() ? d.plan->current().uuid() : d.plan->facility().uuid());
  }
  switch (o.state) {
    case JournalState::kParked:
      e.set_action(v1::PLAN_ACTION_REJECT);
      e.set_stage(o.stage);
      e.set_reason(o.reason);
      for (const v1::Rejection& r : d.rejections) *e.add_rejections() = r;
      break;
    case JournalState::kStale:
      e.set_action(v1::PLAN_ACTION_STALE);
      e.set_reason(kStaleReason);
      break;
    case JournalState::kUnchanged:
      e.set_action(o.skip_reason.empty() ? v1::PLAN_ACTION_NOOP : v1::PLAN_ACTION_SKIP);
      e.set_reason(o.skip_reason);
      break;
    default:  // a planned create, update or deactivation
      if (!d.plan.has_value()) break;
      e.set_action(PlanActionOf(*d.plan));
      if (!d.plan->has_current()) break;
      for (v1::FieldChange& c : DiffFacilities(d.plan->current(), d.plan->facility()))
        *e.add_changes() = std::move(c);
  }
  return e;
}

// What a write did, for the change history: the plan's entry (action, and
// each field old → new; for a create every field it set) with the uuid
// openIMIS answered.
v1::FacilityChange ChangeOf(const v1::Run& run, const RecordOutcome& o, const RecordDetail& d,
                            const v1::WriteResult& w) {
  v1::FacilityChange c;
  c.set_run_id(run.run_id());
  c.set_source_id(run.source_id());
  c.set_trigger(run.trigger());
  v1::PlanEntry& e = *c.mutable_entry();
  e = PlanEntryOf(o, d);
  if (!w.uuid().empty()) e.set_uuid(w.uuid());
  if (e.action() == v1::PLAN_ACTION_CREATE && d.plan.has_value()) {
    for (v1::FieldChange& f : DiffFacilities(v1::HealthFacility(), d.plan->facility()))
      *e.add_changes() = std::move(f);
  }
  return c;
}

}  // namespace

class Orchestrator::Pipeline {
 public:
  Pipeline(Orchestrator& o, v1::Run run, CancelToken& cancel, const ProgressFn& progress,
           bool track_watermark, std::optional<int64_t> previous_watermark)
      : o_(o),
        run_(std::move(run)),
        cancel_(cancel),
        progress_(progress),
        track_watermark_(track_watermark),
        tracker_(previous_watermark),
        started_(absl::Now()) {
    cancel_id_ = cancel_.Register([this] {
      std::lock_guard<std::mutex> lock(mu_);
      cv_.notify_all();
    });
  }
  ~Pipeline() {
    cancel_.Unregister(cancel_id_);
    Drain();
  }

  // Calls a peer, retrying transient gRPC errors within the outage budget
  // (OrchestratorOptions::peer_outage).
  template <typename Fn>
  auto Call(const Fn& fn, bool side_effects) -> decltype(fn()) {
    absl::Time first_failure = absl::InfiniteFuture();
    for (int attempt = 1;; ++attempt) {
      auto result = fn();
      if (attempt == 1) first_failure = absl::Now();  // a slow answer is no outage
      if (result.ok() || !Retryable(result.status(), side_effects) ||
          !MayRetry(attempt, first_failure)) {
        return result;
      }
      LogWarning("peer call failed; retrying",
                 {{"run", run_.run_id()}, {"attempt", attempt},
                  {"error", std::string(result.status().message())}});
      WaitBeforeRetry(attempt);
    }
  }

  // True while another attempt is allowed: fewer than peer_attempts so
  // far, or failing for less than peer_outage, and not cancelled.
  bool MayRetry(int attempts, absl::Time first_failure) const {
    if (cancel_.cancelled()) return false;
    return attempts < o_.options_.peer_attempts ||
           absl::Now() - first_failure < o_.options_.peer_outage;
  }

  // Waits peer_backoff × 2^(attempt-1), at most kMaxPeerBackoff; a cancel
  // ends the wait.
  void WaitBeforeRetry(int attempt) {
    const absl::Time until =
        absl::Now() + ExponentialBackoff(o_.options_.peer_backoff,
                                         OrchestratorOptions::kMaxPeerBackoff, attempt);
    std::unique_lock<std::mutex> lock(mu_);
    while (absl::Now() < until && !cancel_.cancelled()) {
      cv_.wait_for(lock, std::chrono::milliseconds(50));
    }
  }

  // Where a broken fetch resumes: every record up to it is committed as
  // terminal (call after Drain), or nullopt (from the run's start).
  std::optional<int64_t> ResumePoint() {
    std::lock_guard<std::mutex> lock(mu_);
    return tracker_.Safe(frontier_);
  }

  // Refreshes the writer's index of openIMIS in `mode` when asked (sync
  // and retry runs; a push plans on the index as it is).
  absl::Status Prepare(std::optional<v1::RefreshMode> mode) {
    if (!mode.has_value()) return absl::OkStatus();
    const absl::Time t0 = absl::Now();
    absl::StatusOr<v1::RefreshIndexResponse> r =
        Call([&] { return o_.peers_.RefreshIndex(*mode, cancel_); }, false);
    if (!r.ok()) return r.status();
    LogInfo("writer index refreshed",
            {{"run", run_.run_id()},
             {"mode", v1::RefreshMode_Name(r->mode())},
             {"read", r->facilities_read()},
             {"drift", r->drift()},
             {"facilities", r->facilities()},
             {"millis", r->millis()}});
    std::lock_guard<std::mutex> lock(mu_);
    stages_["index"].Add(t0, absl::Now());
    return absl::OkStatus();
  }

  // A record arrived from the fetch (or the failure queue).
  void Add(v1::SourceRecord record, int64_t failure_id) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      run_.mutable_counts()->set_fetched(run_.counts().fetched() + 1);
      if (track_watermark_) tracker_.Fetched(ToMicros(record.last_updated()));
    }
    if (batch_locations_.count(record.location_id())) Flush();
    batch_locations_.insert(record.location_id());
    batch_.push_back(std::move(record));
    batch_failure_ids_.push_back(failure_id);
    if (static_cast<int>(batch_.size()) >= o_.options_.batch_size) Flush();
  }

  void SetFrontier(std::optional<int64_t> frontier, std::optional<int64_t> high) {
    std::lock_guard<std::mutex> lock(mu_);
    if (frontier.has_value()) frontier_ = frontier;
    if (high.has_value()) high_watermark_ = high;
  }

  // The MFL's time for the fetch (or the scheduler's clock, whichever is
  // earlier) less the clock skew caps the watermark. A record later than both
  // clocks plus the skew (a wrong clock or hostile data) is counted as from
  // the future; one changed while the fetch runs, or within the second an
  // HTTP Date truncates, is not.
  void SetMflTime(int64_t mfl_time_us, const v1::FetchChangesResponse& page) {
    const int64_t now = absl::ToUnixMicros(absl::Now());
    const int64_t skew = absl::ToInt64Microseconds(o_.options_.clock_skew);
    const int64_t future_after = std::max(mfl_time_us, now) + skew;
    std::lock_guard<std::mutex> lock(mu_);
    if (track_watermark_) tracker_.SetCeiling(std::min(mfl_time_us, now) - skew);
    int64_t future = 0;
    for (const v1::SourceRecord& r : page.records())
      if (ToMicros(r.last_updated()) > future_after) ++future;
    if (future > 0) run_.mutable_counts()->set_future(run_.counts().future() + future);
  }

  // A page of the fetch: its frontier, the fetcher's high watermark, the
  // MFL's time (`fetch_started` when it gave none) and warnings, then each
  // record into the batches (until the run is unhealthy).
  void AddPage(v1::FetchChangesResponse& page, absl::Time fetch_started) {
    std::optional<int64_t> frontier;
    for (const v1::SourceRecord& r : page.records()) {
      const int64_t t = ToMicros(r.last_updated());
      if (!frontier.has_value() || t > *frontier) frontier = t;
    }
    std::optional<int64_t> high;
    if (page.has_high_watermark()) high = ToMicros(page.high_watermark());
    SetFrontier(frontier, high);
    AddWarnings(page.warnings());
    NoteMflTotal(page.server_total());
    SetMflTime(page.has_server_time() ? ToMicros(page.server_time())
                                      : absl::ToUnixMicros(fetch_started),
               page);
    for (v1::SourceRecord& r : *page.mutable_records()) {
      if (!Healthy()) break;
      if (r.source_id().empty()) r.set_source_id(source_id_);
      Add(std::move(r), 0);
    }
  }

  // The MFL's count of what the fetch matches (Bundle.total), from the first
  // page that gave one: the run's progress is shown against it.
  void NoteMflTotal(int64_t total) {
    if (total < 0) return;
    std::lock_guard<std::mutex> lock(mu_);
    if (!run_.has_mfl_total()) run_.set_mfl_total(total);
  }

  // Keeps what the MFL reported beside its data, each text once, at most
  // kMaxWarnings.
  void AddWarnings(const google::protobuf::RepeatedPtrField<std::string>& warnings) {
    if (warnings.empty()) return;
    std::lock_guard<std::mutex> lock(mu_);
    for (const std::string& w : warnings) {
      if (run_.warnings_size() >= kMaxWarnings) return;
      if (std::find(run_.warnings().begin(), run_.warnings().end(), w) == run_.warnings().end())
        run_.add_warnings(w);
    }
  }
  static constexpr int kMaxWarnings = 20;

  // False once the run should stop taking records (cancelled or failed).
  bool Healthy() {
    std::lock_guard<std::mutex> lock(mu_);
    return error_.ok() && !cancel_.cancelled();
  }

  void Fail(const absl::Status& s) {
    std::lock_guard<std::mutex> lock(mu_);
    if (error_.ok()) error_ = s;
    cv_.notify_all();
  }

  // Sends the current batch to a worker once there is room and none of its
  // Locations is in flight in another batch (so versions stay in order).
  void Flush() {
    if (batch_.empty()) return;
    std::vector<v1::SourceRecord> batch = std::move(batch_);
    std::vector<int64_t> failure_ids = std::move(batch_failure_ids_);
    batch_.clear();
    batch_failure_ids_.clear();
    batch_locations_.clear();
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] {
        return !error_.ok() || cancel_.cancelled() ||
               in_flight_ < o_.options_.max_batches_in_flight;
      });
      if (!error_.ok() || cancel_.cancelled()) return;  // stays pending
      ++in_flight_;  // only this thread adds: the room stays
    }
    if (!o_.claims_.Claim(source_id_, LocationIds(batch), [this] { return !Healthy(); })) {
      std::lock_guard<std::mutex> lock(mu_);
      --in_flight_;  // stays pending
      cv_.notify_all();
      return;
    }
    if (track_watermark_ && !dry_run_) {
      absl::Status s = o_.store_.JournalInFlight(run_.source_id(), run_.run_id(), batch,
                                                 absl::Now());
      if (!s.ok()) {
        Fail(absl::Status(s.code(), absl::StrCat("the next ", batch.size(),
                                                 " records could not be journaled, so none "
                                                 "of them was written: ", s.message())));
        Done(batch);
        return;
      }
    }
    batch_threads_.Start([this, batch = std::move(batch),
                          failure_ids = std::move(failure_ids)]() mutable {
      Work(std::move(batch), std::move(failure_ids));
    });
  }

  // Waits for every batch in flight.
  void Drain() {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return in_flight_ == 0; });
    }
    batch_threads_.JoinAll();
  }

  void AddStage(const std::string& stage, absl::Time start, absl::Time end) {
    std::lock_guard<std::mutex> lock(mu_);
    stages_[stage].Add(start, end);
  }

  absl::Status error() {
    std::lock_guard<std::mutex> lock(mu_);
    return error_;
  }

  // Ends the run: state, final watermark, timings; persists and reports it.
  v1::Run Finish(const absl::Status& fetch_status) {
    Flush();
    Drain();
    std::lock_guard<std::mutex> lock(mu_);
    absl::Status err = error_;
    if (err.ok() && !fetch_status.ok() && !absl::IsCancelled(fetch_status)) err = fetch_status;
    if (cancel_.cancelled()) {
      run_.set_state(v1::RUN_STATE_CANCELLED);
      if (!err.ok()) run_.set_error(std::string(err.message()));
    } else if (!err.ok()) {
      run_.set_state(v1::RUN_STATE_FAILED);
      run_.set_error(std::string(err.message()));
    } else {
      run_.set_state(v1::RUN_STATE_SUCCEEDED);
    }
    if (track_watermark_ && !dry_run_) {  // a dry run moves no watermark
      std::optional<int64_t> wm = run_.state() == v1::RUN_STATE_SUCCEEDED &&
                                          !tracker_.HasPending()
                                      ? tracker_.Final(high_watermark_)
                                      : tracker_.Safe(frontier_);
      if (wm.has_value()) {
        absl::Status s = o_.store_.CommitBatch(run_.source_id(), run_.run_id(), {},
                                               absl::FromUnixMicros(*wm), absl::Now());
        if (!s.ok()) {
          run_.set_state(v1::RUN_STATE_FAILED);
          run_.set_error(absl::StrCat("the final watermark could not be saved: ",
                                      s.message()));
        } else {
          *run_.mutable_watermark() = FromMicros(*wm);
          absl::Time before = absl::FromUnixMicros(*wm) - o_.options_.already_seen_window;
          absl::Status p = o_.store_.PruneJournal(run_.source_id(), before);
          if (!p.ok()) LogWarning("journal pruning failed", {{"error", std::string(p.message())}});
        }
      }
    }
    *run_.mutable_finished_at() = ToTimestamp(absl::Now());
    FillTimings();
    absl::Status s = o_.store_.UpdateRun(run_);
    if (!s.ok()) {
      LogError("the run record could not be saved",
               {{"run", run_.run_id()}, {"error", std::string(s.message())}});
    }
    if (progress_) progress_(run_);
    return run_;
  }

  // A push run: every committed outcome becomes a RecordResult in `sink`
  // (in commit order). Call before the first Add.
  void CollectResults(std::vector<v1::RecordResult>* sink) { results_ = sink; }

  void Publish() {
    std::lock_guard<std::mutex> lock(mu_);
    FillTimings();
    if (progress_) progress_(run_);
  }

 private:
  void FillTimings() {
    run_.clear_stages();
    for (const char* name : {"index", "fetch", "map", "reconcile", "write"}) {
      auto it = stages_.find(name);
      if (it == stages_.end()) continue;
      *run_.add_stages() = it->second.ToProto(name);
    }
    run_.set_duration_millis(absl::ToInt64Milliseconds(absl::Now() - started_));
  }

  static std::vector<std::string> LocationIds(const std::vector<v1::SourceRecord>& batch) {
    std::vector<std::string> ids;
    ids.reserve(batch.size());
    for (const v1::SourceRecord& r : batch) ids.push_back(r.location_id());
    return ids;
  }

  // Releases a batch's slot and its Locations (its records stay pending
  // unless committed).
  void Done(const std::vector<v1::SourceRecord>& batch) {
    o_.claims_.Release(source_id_, LocationIds(batch));
    std::lock_guard<std::mutex> lock(mu_);
    --in_flight_;
    cv_.notify_all();
  }

  void Work(std::vector<v1::SourceRecord> batch, std::vector<int64_t> failure_ids) {
    const absl::Time batch_start = absl::Now();
    absl::StatusOr<BatchResult> result = Process(batch, failure_ids);
    if (!result.ok()) {
      Fail(result.status());
      Done(batch);
      return;
    }
    std::string run_id;
    {
      std::lock_guard<std::mutex> lock(mu_);
      run_id = run_.run_id();
      AddCounts(*result);
      Commit(*result);
      FillTimings();
      if (progress_) progress_(run_);
    }
    LogBatchDone(run_id, batch.size(), batch_start, *result);
    Done(batch);
  }

  void AddCounts(const BatchResult& result) {
    for (const auto& [stage, span] : result.stages) stages_[stage].Merge(span);
    v1::RunCounts* c = run_.mutable_counts();
    c->set_created(c->created() + result.counts.created());
    c->set_updated(c->updated() + result.counts.updated());
    c->set_unchanged(c->unchanged() + result.counts.unchanged());
    c->set_rejected(c->rejected() + result.counts.rejected());
    c->set_failed(c->failed() + result.counts.failed());
    c->set_skipped(c->skipped() + result.counts.skipped());
    c->set_stale(c->stale() + result.counts.stale());
  }

  // Saves the batch's outcomes, and the watermark they allow, in one
  // transaction. When they cannot be saved the batch's records are pending
  // again, so no watermark of this run passes them, and the run fails with
  // the cause. A dry run saves its plan instead. Call with mu_ held.
  void Commit(const BatchResult& result) {
    if (dry_run_) return CommitPlan(result);
    std::optional<absl::Time> watermark;
    if (track_watermark_) {
      for (const RecordOutcome& o : result.outcomes) {
        tracker_.Terminal(ToMicros(o.record.last_updated()));
      }
      std::optional<int64_t> wm = tracker_.Safe(frontier_);
      if (wm.has_value()) watermark = absl::FromUnixMicros(*wm);
    }
    absl::Status s = o_.store_.CommitBatch(run_.source_id(), run_.run_id(), result.outcomes,
                                           watermark, absl::Now());
    if (!s.ok()) {
      if (track_watermark_) {
        for (const RecordOutcome& o : result.outcomes)
          tracker_.Fetched(ToMicros(o.record.last_updated()));
      }
      if (error_.ok()) {
        error_ = absl::Status(s.code(), absl::StrCat("the outcomes of ", result.outcomes.size(),
                                                     " records could not be saved: ",
                                                     s.message()));
      }
      cv_.notify_all();
      return;
    }
    if (watermark.has_value()) *run_.mutable_watermark() = ToTimestamp(*watermark);
    if (results_ != nullptr) {
      for (size_t i = 0; i < result.outcomes.size(); ++i)
        results_->push_back(ResultOf(result.outcomes[i], result.details[i]));
    }
  }

  // A dry run's batch: only its plan entries (and skipped list) are saved;
  // the tracker moves in memory, for a resumed fetch. Call with mu_ held.
  void CommitPlan(const BatchResult& result) {
    std::vector<v1::PlanEntry> entries;
    entries.reserve(result.outcomes.size());
    for (size_t i = 0; i < result.outcomes.size(); ++i)
      entries.push_back(PlanEntryOf(result.outcomes[i], result.details[i]));
    absl::Status s =
        o_.store_.RecordPlan(run_.source_id(), run_.run_id(), result.outcomes, entries);
    if (!s.ok()) {
      if (error_.ok()) {
        error_ = absl::Status(s.code(), absl::StrCat("the plan of ", entries.size(),
                                                     " records could not be saved: ",
                                                     s.message()));
      }
      cv_.notify_all();
      return;
    }
    for (const RecordOutcome& o : result.outcomes)
      tracker_.Terminal(ToMicros(o.record.last_updated()));
  }

  // One debug line per batch (map → write → commit), for the end-to-end
  // benchmark's batch-latency percentiles (bench/e2e).
  static void LogBatchDone(const std::string& run_id, size_t records, absl::Time batch_start,
                           const BatchResult& result) {
    nlohmann::json fields = {{"run", run_id},
                             {"records", records},
                             {"millis", absl::ToDoubleMilliseconds(absl::Now() - batch_start)}};
    for (const auto& [stage, span] : result.stages) {
      fields[stage + "_millis"] = absl::ToDoubleMilliseconds(span.total);
    }
    LogDebug("batch done", fields);
  }

  // Newest version wins (scheduler/version_order.h): a version older than
  // what openIMIS holds, or the same one outside a full run, is kStale and
  // goes no further.
  absl::Status MarkStale(const std::vector<v1::SourceRecord>& batch, BatchResult& out) {
    absl::StatusOr<std::map<std::string, v1::RecordKey>> newest =
        o_.store_.NewestVersions(source_id_, LocationIds(batch));
    if (!newest.ok()) return newest.status();
    for (size_t i = 0; i < batch.size(); ++i) {
      if (out.outcomes[i].state != JournalState::kInFlight) continue;  // parked already
      auto it = newest->find(batch[i].location_id());
      if (it == newest->end() || !IsStale(batch[i], it->second, full_)) continue;
      out.outcomes[i].state = JournalState::kStale;
      out.counts.set_stale(out.counts.stale() + 1);
    }
    return absl::OkStatus();
  }

  // The record flow for one batch: what the fetcher could not use is parked,
  // versions already written are stale, non-facilities are skipped, and the
  // rest is mapped (mapper), planned (writer: create, update, no-op or
  // reject) and written (writer; a dry run stops at the plan). One outcome
  // per record, in batch order.
  absl::StatusOr<BatchResult> Process(const std::vector<v1::SourceRecord>& batch,
                                      const std::vector<int64_t>& failure_ids) {
    BatchResult out = NewBatchResult(batch, failure_ids);
    ParkFetchRejections(batch, out);
    if (absl::Status s = MarkStale(batch, out); !s.ok()) return s;
    std::vector<size_t> to_map = SkipNonFacilities(batch, out);
    if (to_map.empty()) return out;
    absl::StatusOr<std::vector<Mapped>> mapped = MapRecords(batch, to_map, out);
    if (!mapped.ok()) return mapped.status();
    if (mapped->empty()) return out;
    absl::StatusOr<PlannedWrites> planned = PlanRecords(batch, *mapped, out);
    if (!planned.ok()) return planned.status();
    if (dry_run_ || planned->request.items_size() == 0) return out;
    if (absl::Status s = WriteRecords(*planned, out); !s.ok()) return s;
    return out;
  }

  // A record the mapper turned into a facility, by batch index.
  struct Mapped {
    size_t index;
    v1::MappedRecord record;
  };
  // The write request of a batch and the batch index of each record key.
  struct PlannedWrites {
    v1::WriteFacilitiesRequest request;
    std::unordered_map<std::string, size_t> index_by_key;
  };

  static BatchResult NewBatchResult(const std::vector<v1::SourceRecord>& batch,
                                    const std::vector<int64_t>& failure_ids) {
    BatchResult out;
    out.outcomes.resize(batch.size());
    out.details.resize(batch.size());
    for (size_t i = 0; i < batch.size(); ++i) {
      out.outcomes[i].record = batch[i];
      out.outcomes[i].failure_id = failure_ids[i];
    }
    return out;
  }

  // Parks record `i` in the failure queue: rejected (needs a fix) or failed
  // (`transient`: retried by itself).
  static void Park(BatchResult& out, size_t i, v1::FailureStage stage, std::string reason,
                   bool transient) {
    RecordOutcome& o = out.outcomes[i];
    o.state = JournalState::kParked;
    o.stage = stage;
    o.reason = std::move(reason);
    o.transient = transient;
    if (transient) {
      out.counts.set_failed(out.counts.failed() + 1);
    } else {
      out.counts.set_rejected(out.counts.rejected() + 1);
    }
  }

  // Parks, with the fetcher's rule and path, each entry it could not use (no
  // resource, id or time), as it came.
  static void ParkFetchRejections(const std::vector<v1::SourceRecord>& batch,
                                  BatchResult& out) {
    for (size_t i = 0; i < batch.size(); ++i) {
      if (batch[i].fetch_rejections_size() == 0) continue;
      Park(out, i, v1::FAILURE_STAGE_FETCH, RejectionText(batch[i].fetch_rejections()), false);
      out.details[i].rejections.assign(batch[i].fetch_rejections().begin(),
                                       batch[i].fetch_rejections().end());
    }
  }

  // Jurisdictions and other non-facility Locations are not synced: they are
  // counted as skipped, with the reason. Returns the batch indexes to map.
  static std::vector<size_t> SkipNonFacilities(const std::vector<v1::SourceRecord>& batch,
                                               BatchResult& out) {
    std::vector<size_t> to_map;
    for (size_t i = 0; i < batch.size(); ++i) {
      if (out.outcomes[i].state != JournalState::kInFlight) continue;
      std::string not_a_facility = NotAFacility(batch[i]);
      if (not_a_facility.empty()) {
        to_map.push_back(i);
        continue;
      }
      out.outcomes[i].state = JournalState::kUnchanged;
      out.outcomes[i].skip_reason = std::move(not_a_facility);
      out.counts.set_skipped(out.counts.skipped() + 1);
    }
    return to_map;
  }

  // Validates and maps the records at `to_map` (mapper); those the mapper
  // rejects are parked at its stage. Returns the mapped ones.
  absl::StatusOr<std::vector<Mapped>> MapRecords(const std::vector<v1::SourceRecord>& batch,
                                                 const std::vector<size_t>& to_map,
                                                 BatchResult& out) {
    const absl::Time t0 = absl::Now();
    v1::MapFacilitiesRequest request;
    for (size_t i : to_map) *request.add_records() = batch[i];
    absl::StatusOr<v1::MapFacilitiesResponse> response =
        Call([&] { return o_.peers_.MapFacilities(request, cancel_); }, false);
    out.stages["map"].Add(t0, absl::Now());
    if (!response.ok()) return response.status();
    if (response->results_size() != static_cast<int>(to_map.size())) {
      return absl::InternalError(absl::StrCat("mapper MapFacilities answered ",
                                              response->results_size(), " results for ",
                                              to_map.size(), " records"));
    }
    std::vector<Mapped> mapped;
    for (size_t k = 0; k < to_map.size(); ++k) {
      v1::MappedRecord& m = *response->mutable_results(static_cast<int>(k));
      const size_t i = to_map[k];
      if (m.rejections_size() > 0 || !m.has_facility()) {
        Park(out, i, StageOf(m.rejections()), RejectionText(m.rejections()), false);
        out.details[i].rejections.assign(m.rejections().begin(), m.rejections().end());
        continue;
      }
      mapped.push_back({i, std::move(m)});
    }
    return mapped;
  }

  // Asks the writer what each mapped facility needs against what openIMIS
  // holds and takes each decision (TakePlan).
  absl::StatusOr<PlannedWrites> PlanRecords(const std::vector<v1::SourceRecord>& batch,
                                            const std::vector<Mapped>& mapped,
                                            BatchResult& out) {
    const absl::Time t0 = absl::Now();
    v1::PlanWritesRequest request;
    for (const Mapped& m : mapped) *request.add_records() = m.record;
    if (absl::Status s = AddLinks(request); !s.ok()) return s;
    absl::StatusOr<v1::PlanWritesResponse> plan =
        Call([&] { return o_.peers_.PlanWrites(request, cancel_); }, false);
    out.stages["reconcile"].Add(t0, absl::Now());
    if (!plan.ok()) return plan.status();
    if (plan->results_size() != static_cast<int>(mapped.size())) {
      return absl::InternalError(absl::StrCat("writer PlanWrites answered ",
                                              plan->results_size(), " results for ",
                                              mapped.size(), " facilities"));
    }
    PlannedWrites writes;
    writes.request.set_run_id(run_.run_id());
    for (size_t k = 0; k < mapped.size(); ++k) {
      const size_t i = mapped[k].index;
      absl::Status s = TakePlan(plan->results(static_cast<int>(k)), batch[i], i, writes, out);
      if (!s.ok()) return s;
    }
    return writes;
  }

  // The operators' links (and acceptances) of the request's Locations, for
  // the writer to apply (scheduler/facility_links.h).
  absl::Status AddLinks(v1::PlanWritesRequest& request) {
    std::vector<std::string> ids;
    for (const v1::MappedRecord& r : request.records()) ids.push_back(r.location_id());
    absl::StatusOr<std::vector<v1::PlanLink>> links = o_.store_.PlanLinks(source_id_, ids);
    if (!links.ok()) return links.status();
    for (v1::PlanLink& l : *links) *request.add_links() = std::move(l);
    return absl::OkStatus();
  }

  // The writer's decision for record `i`: a create or an update joins the
  // write request (a dry run counts it as planned instead), a no-op is
  // unchanged, a likely duplicate or unknown district is parked at RECONCILE.
  absl::Status TakePlan(const v1::Reconciliation& d, const v1::SourceRecord& record, size_t i,
                        PlannedWrites& writes, BatchResult& out) {
    if (results_ != nullptr) out.details[i].facility = d.facility();
    out.details[i].plan = d;  // the plan's entry, or the change history's
    switch (d.action()) {
      case v1::WRITE_ACTION_CREATE:
      case v1::WRITE_ACTION_UPDATE: {
        if (dry_run_) {
          out.outcomes[i].state = JournalState::kWritten;  // would be
          v1::RunCounts& c = out.counts;
          if (d.action() == v1::WRITE_ACTION_CREATE) {
            c.set_created(c.created() + 1);
          } else {
            c.set_updated(c.updated() + 1);
          }
          break;
        }
        v1::WriteItem* item = writes.request.add_items();
        item->set_record_key(record.location_id());
        item->set_action(d.action());
        *item->mutable_facility() = d.facility();
        writes.index_by_key[record.location_id()] = i;
        if (results_ != nullptr) out.details[i].write = *item;
        break;
      }
      case v1::WRITE_ACTION_NOOP:
        out.outcomes[i].state = JournalState::kUnchanged;
        out.counts.set_unchanged(out.counts.unchanged() + 1);
        break;
      case v1::WRITE_ACTION_REJECT:
        Park(out, i, v1::FAILURE_STAGE_RECONCILE, RejectionText(d.rejections()), false);
        out.details[i].rejections.assign(d.rejections().begin(), d.rejections().end());
        break;
      default:
        return absl::InternalError(absl::StrCat("writer PlanWrites gave no action for Location ",
                                                record.location_id()));
    }
    return absl::OkStatus();
  }

  // Writes the planned creates and updates (writer) and takes each answer,
  // matched by record key: written, unchanged, or parked (refused: rejected;
  // failed: transient).
  absl::Status WriteRecords(const PlannedWrites& writes, BatchResult& out) {
    const absl::Time t0 = absl::Now();
    absl::StatusOr<v1::WriteFacilitiesResponse> written =
        Call([&] { return o_.peers_.WriteFacilities(writes.request, cancel_); }, true);
    const absl::Time finished = absl::Now();
    out.stages["write"].Add(t0, finished);
    if (!written.ok()) return written.status();
    std::unordered_set<std::string> answered;
    for (const v1::WriteResult& w : written->results()) {
      auto it = writes.index_by_key.find(w.record_key());
      if (it == writes.index_by_key.end() || !answered.insert(w.record_key()).second) {
        return absl::InternalError(absl::StrCat(
            "writer WriteFacilities answered for an unknown or repeated record key '",
            w.record_key(), "'"));
      }
      if (results_ != nullptr) {
        RecordDetail& detail = out.details[it->second];
        detail.write_result = w;
        detail.write_started = t0;
        detail.write_finished = finished;
      }
      TakeWriteResult(w, it->second, out);
      RecordOutcome& outcome = out.outcomes[it->second];
      if (outcome.state == JournalState::kWritten)
        outcome.change = ChangeOf(run_, outcome, out.details[it->second], w);
    }
    if (answered.size() != writes.index_by_key.size()) {
      return absl::InternalError(absl::StrCat("writer WriteFacilities answered ",
                                              answered.size(), " of ",
                                              writes.index_by_key.size(), " items"));
    }
    return absl::OkStatus();
  }

  static void TakeWriteResult(const v1::WriteResult& w, size_t i, BatchResult& out) {
    const std::string status_text =
        w.http_status() > 0 ? absl::StrCat("HTTP ", w.http_status()) : "no HTTP answer";
    switch (w.outcome()) {
      case v1::WRITE_OUTCOME_CREATED:
        out.outcomes[i].state = JournalState::kWritten;
        out.counts.set_created(out.counts.created() + 1);
        break;
      case v1::WRITE_OUTCOME_UPDATED:
        out.outcomes[i].state = JournalState::kWritten;
        out.counts.set_updated(out.counts.updated() + 1);
        break;
      case v1::WRITE_OUTCOME_UNCHANGED:
        out.outcomes[i].state = JournalState::kUnchanged;
        out.counts.set_unchanged(out.counts.unchanged() + 1);
        break;
      case v1::WRITE_OUTCOME_REJECTED:
        Park(out, i, v1::FAILURE_STAGE_WRITE,
             absl::StrCat("openIMIS refused the write (", status_text, "): ", w.message()),
             false);
        break;
      default:
        Park(out, i, v1::FAILURE_STAGE_WRITE,
             absl::StrCat("openIMIS write failed after ", w.attempts(), " attempt(s) (",
                          status_text, "): ", w.message()),
             true);
        break;
    }
  }

  Orchestrator& o_;
  v1::Run run_;
  const std::string source_id_ = run_.source_id();  // for the workers
  const bool full_ = run_.full();
  const bool dry_run_ = run_.dry_run();  // plan only: write and commit nothing
  CancelToken& cancel_;
  const ProgressFn& progress_;
  const bool track_watermark_;
  int cancel_id_ = 0;

  std::mutex mu_;
  std::condition_variable cv_;
  absl::Status error_;
  WatermarkTracker tracker_;
  std::optional<int64_t> frontier_;
  std::optional<int64_t> high_watermark_;
  int in_flight_ = 0;
  std::vector<v1::RecordResult>* results_ = nullptr;  // a push's, in commit order
  std::map<std::string, StageSpan> stages_;
  absl::Time started_;

  // Owned by the feeding thread.
  std::vector<v1::SourceRecord> batch_;
  std::vector<int64_t> batch_failure_ids_;
  std::unordered_set<std::string> batch_locations_;

  ThreadGroup batch_threads_;  // one per batch, joined once it is done
};

v1::Run Orchestrator::RunSync(v1::Run run, CancelToken& cancel, const ProgressFn& progress) {
  std::optional<int64_t> previous;
  absl::StatusOr<std::optional<absl::Time>> wm = store_.GetWatermark(run.source_id());
  if (wm.ok() && wm->has_value()) previous = absl::ToUnixMicros(**wm);
  if (previous.has_value()) *run.mutable_watermark() = FromMicros(*previous);
  Pipeline p(*this, run, cancel, progress, /*track_watermark=*/true, previous);
  if (!wm.ok()) return p.Finish(wm.status());
  p.Publish();

  // --full also verifies the writer's whole index against openIMIS.
  absl::Status prepared = p.Prepare(run.full() ? v1::REFRESH_MODE_FULL
                                               : v1::REFRESH_MODE_UNSPECIFIED);
  if (!prepared.ok()) return p.Finish(prepared);
  absl::StatusOr<v1::FetchChangesRequest> req = FirstFetchRequest(run, previous);
  if (!req.ok()) return p.Finish(req.status());
  LogInfo("run started", {{"run", run.run_id()},
                          {"source", run.source_id()},
                          {"full", run.full()},
                          {"dry_run", run.dry_run()},
                          {"already_seen", req->already_seen_size()}});
  v1::Run done = p.Finish(FetchWithResume(p, run, *req, cancel));
  LogRunEnd(done);
  return done;
}

absl::StatusOr<v1::FetchChangesRequest> Orchestrator::FirstFetchRequest(
    const v1::Run& run, std::optional<int64_t> previous) {
  v1::FetchChangesRequest req;
  req.set_source_id(run.source_id());
  req.set_page_size(options_.fetch_page_size);
  if (run.full() || !previous.has_value()) return req;
  *req.mutable_since() = FromMicros(*previous);
  absl::StatusOr<std::vector<v1::RecordKey>> seen = store_.AlreadySeen(
      run.source_id(), absl::FromUnixMicros(*previous) - options_.already_seen_window,
      options_.already_seen_limit);
  if (!seen.ok()) return seen.status();
  for (v1::RecordKey& k : *seen) *req.add_already_seen() = std::move(k);
  return req;
}

absl::Status Orchestrator::FetchWithResume(Pipeline& p, const v1::Run& run,
                                           v1::FetchChangesRequest& req, CancelToken& cancel) {
  absl::Time waiting_since = absl::Now();
  const absl::Time fetch_started = waiting_since;
  bool got_page = false;
  const std::function<bool(v1::FetchChangesResponse&)> on_page =
      [&](v1::FetchChangesResponse& page) {
        got_page = true;
        p.AddStage("fetch", waiting_since, absl::Now());
        p.AddPage(page, fetch_started);
        waiting_since = absl::Now();
        return p.Healthy();
      };
  absl::Status fetched = peers_.FetchChanges(req, on_page, cancel);
  absl::Time first_failure = absl::Now();
  for (int attempt = 1; IsUnavailable(fetched) && p.Healthy(); ++attempt) {
    if (got_page) {
      attempt = 1;  // the fetch made progress: a new outage starts now
      first_failure = absl::Now();
      got_page = false;
    }
    if (!p.MayRetry(attempt, first_failure)) break;
    LogWarning("the fetch broke; resuming from the last committed point",
               {{"run", run.run_id()}, {"attempt", attempt},
                {"error", std::string(fetched.message())}});
    p.WaitBeforeRetry(attempt);
    if (absl::Status s = ResumeFrom(p, run, req); !s.ok()) return s;
    waiting_since = absl::Now();
    fetched = peers_.FetchChanges(req, on_page, cancel);
  }
  return fetched;
}

void Orchestrator::LogRunEnd(const v1::Run& done) {
  LogInfo("run ended", {{"run", done.run_id()},
                        {"state", v1::RunState_Name(done.state())},
                        {"dry_run", done.dry_run()},
                        {"fetched", done.counts().fetched()},
                        {"created", done.counts().created()},
                        {"updated", done.counts().updated()},
                        {"unchanged", done.counts().unchanged()},
                        {"rejected", done.counts().rejected()},
                        {"failed", done.counts().failed()},
                        {"skipped", done.counts().skipped()},
                        {"stale", done.counts().stale()},
                        {"error", done.error()}});
}

absl::Status Orchestrator::ResumeFrom(Pipeline& p, const v1::Run& run,
                                      v1::FetchChangesRequest& req) {
  p.Flush();
  p.Drain();
  if (absl::Status s = p.error(); !s.ok()) return s;
  std::optional<int64_t> since = p.ResumePoint();
  if (!since.has_value()) return absl::OkStatus();  // nothing committed: from the start
  *req.mutable_since() = FromMicros(*since);
  req.clear_already_seen();
  absl::StatusOr<std::vector<v1::RecordKey>> seen = store_.AlreadySeen(
      run.source_id(), absl::FromUnixMicros(*since) - options_.already_seen_window,
      options_.already_seen_limit);
  if (!seen.ok()) return seen.status();
  for (v1::RecordKey& k : *seen) *req.add_already_seen() = std::move(k);
  if (!run.dry_run()) return absl::OkStatus();
  // A dry run journals nothing: what it planned is what it has seen.
  absl::StatusOr<std::vector<v1::RecordKey>> planned = store_.Planned(
      run.run_id(), absl::FromUnixMicros(*since) - options_.already_seen_window,
      options_.already_seen_limit);
  if (!planned.ok()) return planned.status();
  for (v1::RecordKey& k : *planned) *req.add_already_seen() = std::move(k);
  return absl::OkStatus();
}

v1::Run Orchestrator::RunRetry(v1::Run run,
                               std::vector<std::pair<v1::Failure, v1::SourceRecord>> entries,
                               CancelToken& cancel, const ProgressFn& progress) {
  Pipeline p(*this, run, cancel, progress, /*track_watermark=*/false, std::nullopt);
  p.Publish();
  absl::Status prepared = p.Prepare(v1::REFRESH_MODE_UNSPECIFIED);
  if (!prepared.ok()) return p.Finish(prepared);
  for (auto& [failure, record] : entries) {
    if (!p.Healthy()) break;
    p.Add(std::move(record), failure.failure_id());
  }
  v1::Run done = p.Finish(absl::OkStatus());
  LogRetryEnd(done, entries.size());
  return done;
}

void Orchestrator::LogRetryEnd(const v1::Run& done, size_t entries) {
  LogInfo("retry run ended", {{"run", done.run_id()},
                              {"state", v1::RunState_Name(done.state())},
                              {"entries", entries},
                              {"error", done.error()}});
}

v1::Run Orchestrator::RunRetryFromMfl(
    v1::Run run, std::vector<std::pair<v1::Failure, v1::SourceRecord>> entries,
    CancelToken& cancel, const ProgressFn& progress) {
  Pipeline p(*this, run, cancel, progress, /*track_watermark=*/false, std::nullopt);
  p.Publish();
  absl::Status s = p.Prepare(v1::REFRESH_MODE_UNSPECIFIED);
  if (s.ok()) s = Refetch(p, run, entries, cancel);
  v1::Run done = p.Finish(s);
  LogRetryEnd(done, entries.size());
  return done;
}

absl::Status Orchestrator::Refetch(
    Pipeline& p, const v1::Run& run,
    const std::vector<std::pair<v1::Failure, v1::SourceRecord>>& entries, CancelToken& cancel) {
  std::map<std::string, int64_t> missing;  // failure id by Location id, until found
  for (const auto& [failure, record] : entries)
    missing.emplace(failure.location_id(), failure.failure_id());
  std::vector<std::string> ids;  // an id that is no FHIR id cannot be asked for: missing
  for (const auto& [id, failure_id] : missing)
    if (IsFhirId(id)) ids.push_back(id);
  for (size_t at = 0; at < ids.size() && p.Healthy(); at += kRefetchChunk) {
    v1::FetchChangesRequest req;
    req.set_source_id(run.source_id());
    for (size_t k = at; k < std::min(ids.size(), at + kRefetchChunk); ++k)
      req.add_location_ids(ids[k]);
    const absl::Time t0 = absl::Now();
    absl::StatusOr<std::vector<v1::SourceRecord>> records =
        p.Call([&] { return FetchAll(req, cancel); }, false);
    p.AddStage("fetch", t0, absl::Now());
    if (!records.ok()) return records.status();
    for (v1::SourceRecord& r : *records) {
      auto it = missing.find(r.location_id());
      if (it == missing.end()) continue;  // not asked for, or a second version
      const int64_t failure_id = it->second;
      missing.erase(it);
      if (r.source_id().empty()) r.set_source_id(run.source_id());
      p.Add(std::move(r), failure_id);
    }
  }
  if (p.Healthy()) NoteGone(p, run, missing);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<v1::SourceRecord>> Orchestrator::FetchAll(
    const v1::FetchChangesRequest& request, CancelToken& cancel) {
  std::vector<v1::SourceRecord> out;
  absl::Status s = peers_.FetchChanges(
      request,
      [&out](v1::FetchChangesResponse& page) {
        for (v1::SourceRecord& r : *page.mutable_records()) out.push_back(std::move(r));
        return true;
      },
      cancel);
  if (!s.ok()) return s;
  return out;
}

void Orchestrator::NoteGone(Pipeline& p, const v1::Run& run,
                            const std::map<std::string, int64_t>& gone) {
  if (gone.empty()) return;
  std::vector<int64_t> ids;
  std::vector<std::string> names;
  for (const auto& [location_id, failure_id] : gone) {
    ids.push_back(failure_id);
    if (names.size() < 10) names.push_back(absl::StrCat(location_id, " (entry ", failure_id, ")"));
  }
  const std::string more =
      gone.size() > names.size() ? absl::StrCat(" and ", gone.size() - names.size(), " more")
                                 : "";
  google::protobuf::RepeatedPtrField<std::string> warning;
  warning.Add(absl::StrCat("the MFL no longer serves Location ", absl::StrJoin(names, ", "),
                           more, ": left open; `mflsync retry --stored ID` replays the stored "
                           "copy, `mflsync dismiss ID --reason TEXT` closes it"));
  p.AddWarnings(warning);
  v1::FailureAction note;
  note.set_kind(v1::FAILURE_ACTION_KIND_RETRY);
  note.set_actor("scheduler");
  note.set_detail(absl::StrCat("run ", run.run_id(), ": the MFL no longer serves this "
                               "Location; the entry stays open"));
  absl::Status s = store_.RecordFailureActions(ids, note, absl::Now());
  if (!s.ok()) {
    LogWarning("a retry's note on its entries could not be saved",
               {{"run", run.run_id()}, {"error", std::string(s.message())}});
  }
}

namespace {

// `committed` (commit order) matched to `records` (request order) by
// Location id: batches of one Location commit in the order it was added.
std::vector<v1::RecordResult> InRequestOrder(const std::vector<v1::SourceRecord>& records,
                                             std::vector<v1::RecordResult> committed) {
  std::unordered_map<std::string, std::vector<size_t>> by_location;
  for (size_t k = committed.size(); k-- > 0;)
    by_location[committed[k].location_id()].push_back(k);
  std::vector<v1::RecordResult> out(records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    auto it = by_location.find(records[i].location_id());
    if (it == by_location.end() || it->second.empty()) {
      out[i].set_location_id(records[i].location_id());
      out[i].set_version_id(records[i].version_id());
      continue;  // RECORD_STATUS_UNSPECIFIED: not finished
    }
    out[i] = std::move(committed[it->second.back()]);
    it->second.pop_back();
  }
  return out;
}

}  // namespace

v1::Run Orchestrator::RunPush(v1::Run run, std::vector<v1::SourceRecord> records,
                              CancelToken& cancel, const ProgressFn& progress,
                              std::vector<v1::RecordResult>* results) {
  for (v1::SourceRecord& r : records) {
    if (r.source_id().empty()) r.set_source_id(run.source_id());
  }
  std::vector<v1::RecordResult> committed;
  v1::Run done;
  {
    Pipeline p(*this, run, cancel, progress, /*track_watermark=*/false, std::nullopt);
    p.CollectResults(&committed);
    p.Publish();
    absl::Status prepared = p.Prepare(std::nullopt);
    for (size_t i = 0; prepared.ok() && i < records.size() && p.Healthy(); ++i)
      p.Add(records[i], 0);
    done = p.Finish(prepared);
  }
  *results = InRequestOrder(records, std::move(committed));
  ParkUnfinished(done, records, *results);
  AttachFailureIds(done, *results);
  LogInfo("push run ended", {{"run", done.run_id()},
                             {"state", v1::RunState_Name(done.state())},
                             {"records", records.size()},
                             {"created", done.counts().created()},
                             {"updated", done.counts().updated()},
                             {"failed", done.counts().failed()},
                             {"rejected", done.counts().rejected()},
                             {"error", done.error()}});
  return done;
}

void Orchestrator::AttachFailureIds(const v1::Run& run,
                                    std::vector<v1::RecordResult>& results) {
  std::vector<std::string> parked;
  for (const v1::RecordResult& r : results) {
    if (r.status() == v1::RECORD_STATUS_REJECTED || r.status() == v1::RECORD_STATUS_FAILED)
      parked.push_back(r.location_id());
  }
  if (parked.empty()) return;
  absl::StatusOr<std::map<std::string, int64_t>> ids =
      store_.OpenFailureIds(run.source_id(), parked);
  if (!ids.ok()) {
    LogWarning("the failure ids of a push could not be read",
               {{"run", run.run_id()}, {"error", std::string(ids.status().message())}});
    return;
  }
  for (v1::RecordResult& r : results) {
    auto it = ids->find(r.location_id());
    if (it != ids->end()) r.set_failure_id(it->second);
  }
}

void Orchestrator::ParkUnfinished(v1::Run& run, const std::vector<v1::SourceRecord>& records,
                                  std::vector<v1::RecordResult>& results) {
  std::vector<RecordOutcome> outcomes;
  std::vector<size_t> where;
  const std::string why = run.error().empty() ? "the run was cancelled" : run.error();
  for (size_t i = 0; i < results.size(); ++i) {
    if (results[i].status() != v1::RECORD_STATUS_UNSPECIFIED) continue;
    RecordOutcome o;
    o.record = records[i];
    o.state = JournalState::kParked;
    o.stage = v1::FAILURE_STAGE_WRITE;
    o.reason = absl::StrCat("not written: the push run ended before this record was: ", why);
    o.transient = true;
    outcomes.push_back(std::move(o));
    where.push_back(i);
  }
  if (outcomes.empty()) return;
  absl::Status s =
      store_.CommitBatch(run.source_id(), run.run_id(), outcomes, std::nullopt, absl::Now());
  for (size_t k = 0; k < where.size(); ++k) {
    v1::RecordResult& r = results[where[k]];
    if (s.ok()) {
      r.set_status(v1::RECORD_STATUS_FAILED);
      r.set_stage(v1::FAILURE_STAGE_WRITE);
      r.set_reason(outcomes[k].reason);
    } else {
      r.set_reason(absl::StrCat(outcomes[k].reason, "; and it could not be parked: ",
                                s.message()));
    }
  }
  if (s.ok()) {
    run.mutable_counts()->set_failed(run.counts().failed() + static_cast<int64_t>(where.size()));
  }
}

}  // namespace mflsync::scheduler
