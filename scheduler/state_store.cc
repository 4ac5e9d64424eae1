#include "scheduler/state_store.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "scheduler/state_db.h"

namespace mflsync::scheduler {

// ------------------------------------------------------- the database

const std::vector<SqliteMigration>& StateStore::Migrations() { return StateMigrations(); }

absl::StatusOr<std::unique_ptr<StateStore>> StateStore::Open(const std::string& path,
                                                             RetryPolicy retry) {
  absl::StatusOr<std::unique_ptr<SqliteDb>> db = OpenStateDb(path);
  if (!db.ok()) return db.status();
  return std::unique_ptr<StateStore>(new StateStore(*std::move(db), retry));
}

absl::Status StateStore::LimitSize(int64_t max_bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  absl::StatusOr<SqliteStatement> size = db_->Prepare("PRAGMA page_size");
  if (!size.ok()) return size.status();
  absl::StatusOr<bool> row = size->Step();
  if (!row.ok()) return row.status();
  const int64_t page = *row ? std::max<int64_t>(512, size->ColumnInt(0)) : 4096;
  const int64_t pages = max_bytes > 0 ? std::max<int64_t>(1, max_bytes / page) : 1073741823;
  return db_->Exec(absl::StrCat("PRAGMA max_page_count = ", pages));
}

absl::Status StateStore::SetQueryOnly(bool on) {
  std::lock_guard<std::mutex> lock(mu_);
  return db_->Exec(on ? "PRAGMA query_only = ON" : "PRAGMA query_only = OFF");
}

absl::StatusOr<int> StateStore::SchemaVersion() {
  std::lock_guard<std::mutex> lock(mu_);
  return db_->SchemaVersion();
}

// ---------------------------------------------------------------- runs

absl::StatusOr<v1::Run> StateStore::CreateRun(const std::string& source_id,
                                              v1::RunTrigger trigger, bool full,
                                              std::optional<absl::Time> since,
                                              absl::Time now, bool dry_run) {
  std::lock_guard<std::mutex> lock(mu_);
  return InTransaction(*db_,
                       [&] { return runs_.Create(source_id, trigger, full, since, now, dry_run); });
}

absl::Status StateStore::UpdateRun(const v1::Run& run) {
  std::lock_guard<std::mutex> lock(mu_);
  return runs_.Update(run);
}

absl::StatusOr<v1::Run> StateStore::GetRun(const std::string& run_id) {
  std::lock_guard<std::mutex> lock(mu_);
  return runs_.Get(run_id);
}

absl::StatusOr<v1::Run> StateStore::NewestRun(const std::string& source_id) {
  std::lock_guard<std::mutex> lock(mu_);
  return runs_.Newest(source_id);
}

absl::StatusOr<std::vector<v1::Run>> StateStore::ListRuns(const std::string& source_id,
                                                          int page_size,
                                                          const std::string& page_token,
                                                          std::string* next_page_token) {
  std::lock_guard<std::mutex> lock(mu_);
  return runs_.List(source_id, page_size, page_token, next_page_token);
}

absl::StatusOr<std::vector<v1::Run>> StateStore::CloseInterruptedRuns(
    const std::string& error, absl::Time now) {
  std::lock_guard<std::mutex> lock(mu_);
  return runs_.CloseInterrupted(error, now);
}

absl::StatusOr<std::optional<absl::Time>> StateStore::LastSyncStart(
    const std::string& source_id) {
  std::lock_guard<std::mutex> lock(mu_);
  return runs_.LastSyncStart(source_id);
}

absl::StatusOr<bool> StateStore::Empty() {
  std::lock_guard<std::mutex> lock(mu_);
  return runs_.Empty();
}

absl::Status StateStore::PruneRuns(int keep) {
  std::lock_guard<std::mutex> lock(mu_);
  return InTransaction(*db_, [&] { return runs_.Prune(keep); });
}

absl::StatusOr<std::vector<v1::SkippedRecord>> StateStore::ListSkipped(
    const std::string& run_id, int page_size, const std::string& page_token,
    std::string* next_page_token) {
  std::lock_guard<std::mutex> lock(mu_);
  return runs_.ListSkipped(run_id, page_size, page_token, next_page_token);
}

// --------------------------------------------------- a batch's outcomes

absl::Status StateStore::CommitBatch(const std::string& source_id,
                                     const std::string& run_id,
                                     const std::vector<RecordOutcome>& outcomes,
                                     std::optional<absl::Time> watermark,
                                     absl::Time now) {
  std::lock_guard<std::mutex> lock(mu_);
  return InTransaction(*db_, [&] {
    absl::Status s = journal_.Record(source_id, run_id, outcomes, now);
    if (s.ok()) s = failures_.Record(source_id, run_id, outcomes, now);
    if (s.ok() && watermark.has_value()) s = watermarks_.MoveForward(source_id, *watermark, now);
    if (s.ok()) s = journal_.RaiseNewestVersions(source_id, outcomes);
    if (s.ok()) s = runs_.RecordSkipped(source_id, run_id, outcomes);
    if (s.ok()) s = changes_.Record(outcomes, now);
    return s;
  });
}

// ------------------------------------------------------ change history

absl::StatusOr<std::vector<v1::FacilityChange>> StateStore::ListChanges(
    const ChangeFilter& filter, int page_size, const std::string& page_token,
    std::string* next_page_token) {
  std::lock_guard<std::mutex> lock(mu_);
  return changes_.List(filter, page_size, page_token, next_page_token);
}

absl::StatusOr<int> StateStore::PruneChanges(absl::Time before) {
  std::lock_guard<std::mutex> lock(mu_);
  return InTransaction(*db_, [&] { return changes_.Prune(before); });
}

// ------------------------------------------------------- dry-run plans

absl::Status StateStore::RecordPlan(const std::string& source_id, const std::string& run_id,
                                    const std::vector<RecordOutcome>& outcomes,
                                    const std::vector<v1::PlanEntry>& entries) {
  std::lock_guard<std::mutex> lock(mu_);
  return InTransaction(*db_, [&] {
    absl::Status s = plans_.Record(run_id, entries);
    if (s.ok()) s = runs_.RecordSkipped(source_id, run_id, outcomes);
    return s;
  });
}

absl::StatusOr<std::vector<v1::PlanEntry>> StateStore::ListPlan(const std::string& run_id,
                                                                bool all, int page_size,
                                                                const std::string& page_token,
                                                                std::string* next_page_token) {
  std::lock_guard<std::mutex> lock(mu_);
  return plans_.List(run_id, all, page_size, page_token, next_page_token);
}

absl::StatusOr<v1::PlanCounts> StateStore::PlanCounts(const std::string& run_id) {
  std::lock_guard<std::mutex> lock(mu_);
  return plans_.Counts(run_id);
}

absl::StatusOr<std::vector<v1::RecordKey>> StateStore::Planned(const std::string& run_id,
                                                               absl::Time from, int limit) {
  std::lock_guard<std::mutex> lock(mu_);
  return plans_.Planned(run_id, from, limit);
}

absl::StatusOr<v1::PlanApproval> StateStore::ApprovePlan(const std::string& run_id,
                                                         const std::string& source_id,
                                                         const std::string& actor,
                                                         const std::string& reason,
                                                         absl::Time now) {
  std::lock_guard<std::mutex> lock(mu_);
  return InTransaction(*db_,
                       [&] { return plans_.Approve(run_id, source_id, actor, reason, now); });
}

absl::StatusOr<std::optional<v1::PlanApproval>> StateStore::PlanApprovalOf(
    const std::string& run_id) {
  std::lock_guard<std::mutex> lock(mu_);
  return plans_.ApprovalOf(run_id);
}

absl::StatusOr<bool> StateStore::RealRunAllowed(const std::string& source_id,
                                                absl::Time approved_since) {
  std::lock_guard<std::mutex> lock(mu_);
  absl::StatusOr<bool> synced = runs_.HadRealSync(source_id);
  if (!synced.ok() || *synced) return synced;
  return plans_.SourceApproved(source_id, approved_since);
}

// ----------------------------------------------------------- watermark

absl::StatusOr<std::optional<absl::Time>> StateStore::GetWatermark(
    const std::string& source_id) {
  std::lock_guard<std::mutex> lock(mu_);
  return watermarks_.Get(source_id);
}

absl::StatusOr<v1::WatermarkChange> StateStore::SetWatermark(
    const std::string& source_id, std::optional<absl::Time> watermark,
    const std::string& reason, absl::Time now) {
  std::lock_guard<std::mutex> lock(mu_);
  return InTransaction(*db_, [&] { return watermarks_.Set(source_id, watermark, reason, now); });
}

absl::StatusOr<std::vector<v1::WatermarkChange>> StateStore::WatermarkChanges(
    const std::string& source_id, int limit) {
  std::lock_guard<std::mutex> lock(mu_);
  return watermarks_.Changes(source_id, limit);
}

// ------------------------------------------------------------- journal

absl::StatusOr<std::vector<v1::RecordKey>> StateStore::AlreadySeen(
    const std::string& source_id, absl::Time from, int limit) {
  std::lock_guard<std::mutex> lock(mu_);
  return journal_.AlreadySeen(source_id, from, limit);
}

absl::Status StateStore::JournalInFlight(const std::string& source_id,
                                         const std::string& run_id,
                                         const std::vector<v1::SourceRecord>& records,
                                         absl::Time now) {
  std::lock_guard<std::mutex> lock(mu_);
  return InTransaction(*db_,
                       [&] { return journal_.MarkInFlight(source_id, run_id, records, now); });
}

absl::Status StateStore::PruneJournal(const std::string& source_id, absl::Time before) {
  std::lock_guard<std::mutex> lock(mu_);
  return journal_.Prune(source_id, before);
}

absl::StatusOr<std::map<std::string, v1::RecordKey>> StateStore::NewestVersions(
    const std::string& source_id, const std::vector<std::string>& location_ids) {
  std::lock_guard<std::mutex> lock(mu_);
  return journal_.NewestVersions(source_id, location_ids);
}

absl::StatusOr<std::optional<JournalState>> StateStore::JournalStateOf(
    const std::string& source_id, const v1::RecordKey& key) {
  std::lock_guard<std::mutex> lock(mu_);
  return journal_.StateOf(source_id, key);
}

// ------------------------------------------------------- failure queue

absl::StatusOr<std::vector<v1::Failure>> StateStore::ListFailures(
    const std::string& source_id, v1::FailureState state, int page_size,
    const std::string& page_token, std::string* next_page_token) {
  std::lock_guard<std::mutex> lock(mu_);
  return failures_.List(source_id, state, page_size, page_token, next_page_token);
}

absl::StatusOr<v1::Failure> StateStore::GetFailure(int64_t failure_id) {
  std::lock_guard<std::mutex> lock(mu_);
  absl::StatusOr<v1::Failure> f = failures_.Get(failure_id);
  if (!f.ok()) return f;
  absl::StatusOr<std::vector<v1::FailureAction>> actions = actions_.Of(failure_id);
  if (!actions.ok()) return actions.status();
  for (v1::FailureAction& a : *actions) *f->add_actions() = std::move(a);
  absl::StatusOr<std::optional<v1::FacilityLink>> link =
      links_.Get(f->source_id(), f->location_id());
  if (!link.ok()) return link.status();
  if (link->has_value()) *f->mutable_link() = **link;
  return f;
}

absl::StatusOr<std::vector<std::pair<v1::Failure, v1::SourceRecord>>>
StateStore::FailuresToRetry(const std::vector<int64_t>& ids, const std::string& source_id) {
  std::lock_guard<std::mutex> lock(mu_);
  return failures_.ToRetry(ids, source_id);
}

absl::StatusOr<std::map<std::string, int64_t>> StateStore::OpenFailureIds(
    const std::string& source_id, const std::vector<std::string>& location_ids) {
  std::lock_guard<std::mutex> lock(mu_);
  return failures_.OpenIds(source_id, location_ids);
}

absl::StatusOr<std::map<std::string, int64_t>> StateStore::CountOpenFailures() {
  std::lock_guard<std::mutex> lock(mu_);
  return failures_.CountOpen();
}

absl::StatusOr<NewFailures> StateStore::NewFailuresOf(const std::string& run_id,
                                                      absl::Time run_started, int limit) {
  std::lock_guard<std::mutex> lock(mu_);
  return failures_.CreatedBy(run_id, run_started, limit);
}

absl::StatusOr<std::map<std::string, std::vector<int64_t>>> StateStore::DueRetries(
    absl::Time now) {
  std::lock_guard<std::mutex> lock(mu_);
  return failures_.DueRetries(now);
}

namespace {

// `action` as recorded at `now`.
v1::FailureAction At(v1::FailureAction action, absl::Time now) {
  *action.mutable_acted_at() = ToTimestamp(now);
  return action;
}

}  // namespace

absl::StatusOr<int> StateStore::DismissFailures(const std::vector<int64_t>& ids,
                                                const v1::FailureAction& action,
                                                absl::Time now) {
  std::lock_guard<std::mutex> lock(mu_);
  return InTransaction(*db_, [&]() -> absl::StatusOr<int> {
    absl::StatusOr<int> n = failures_.Dismiss(ids, action.reason(), now);
    if (!n.ok()) return n;
    if (absl::Status s = actions_.Record(ids, At(action, now)); !s.ok()) return s;
    return n;
  });
}

absl::StatusOr<int> StateStore::ReopenFailures(const std::vector<int64_t>& ids,
                                               const v1::FailureAction& action,
                                               absl::Time now) {
  std::lock_guard<std::mutex> lock(mu_);
  return InTransaction(*db_, [&]() -> absl::StatusOr<int> {
    absl::StatusOr<int> n = failures_.Reopen(ids, now);
    if (!n.ok()) return n;
    if (absl::Status s = actions_.Record(ids, At(action, now)); !s.ok()) return s;
    return n;
  });
}

absl::Status StateStore::RecordFailureActions(const std::vector<int64_t>& ids,
                                              const v1::FailureAction& action, absl::Time now) {
  std::lock_guard<std::mutex> lock(mu_);
  return InTransaction(*db_, [&] { return actions_.Record(ids, At(action, now)); });
}

absl::StatusOr<v1::FacilityLink> StateStore::LinkFailure(int64_t failure_id,
                                                         v1::FacilityLink link,
                                                         const v1::FailureAction& action,
                                                         absl::Time now) {
  std::lock_guard<std::mutex> lock(mu_);
  return InTransaction(*db_, [&]() -> absl::StatusOr<v1::FacilityLink> {
    absl::StatusOr<v1::Failure> f = failures_.Get(failure_id);
    if (!f.ok()) return f.status();
    if (f->state() != v1::FAILURE_STATE_OPEN || f->stage() != v1::FAILURE_STAGE_RECONCILE) {
      return absl::FailedPreconditionError(absl::StrCat(
          "failure-queue entry ", failure_id, " is not an open likely duplicate (it is ",
          v1::FailureState_Name(f->state()), " at stage ", v1::FailureStage_Name(f->stage()),
          "); only open entries parked at the reconcile stage can be linked or accepted"));
    }
    link.set_source_id(f->source_id());
    link.set_location_id(f->location_id());
    *link.mutable_decided_at() = ToTimestamp(now);
    if (absl::Status s = links_.Set(link); !s.ok()) return s;
    if (absl::Status s = actions_.Record({failure_id}, At(action, now)); !s.ok()) return s;
    return link;
  });
}

absl::StatusOr<std::vector<v1::PlanLink>> StateStore::PlanLinks(
    const std::string& source_id, const std::vector<std::string>& location_ids) {
  std::lock_guard<std::mutex> lock(mu_);
  return links_.ForPlan(source_id, location_ids);
}

}  // namespace mflsync::scheduler
