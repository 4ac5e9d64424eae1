// The scheduler's durable state in one SQLite file, behind one lock: the
// run history, the record journal, the failure queue (with operators'
// actions and facility links), the watermarks, the dry runs' plans and the
// change history (each its own class; see run_history.h, journal.h,
// failure_queue.h, failure_actions.h, facility_links.h, watermarks.h,
// plans.h, change_history.h and, for the file and its migrations,
// state_db.h). This
// facade serializes them and makes each call one transaction; CommitBatch
// records a batch in all of them at once.
#ifndef MFLSYNC_SCHEDULER_STATE_STORE_H_
#define MFLSYNC_SCHEDULER_STATE_STORE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/proto_time.h"
#include "common/sqlite.h"
#include "mflsync/v1/records.pb.h"
#include "mflsync/v1/scheduler.pb.h"
#include "scheduler/change_history.h"
#include "scheduler/facility_links.h"
#include "scheduler/failure_actions.h"
#include "scheduler/failure_queue.h"
#include "scheduler/journal.h"
#include "scheduler/plans.h"
#include "scheduler/raw_record_json.h"
#include "scheduler/run_history.h"
#include "scheduler/watermarks.h"

namespace mflsync::scheduler {

// Times are microseconds since the epoch (common/proto_time.h).

// Thread-safe (one mutex around the connection). Only StateStore begins
// transactions; the classes it delegates to run inside them.
class StateStore {
 public:
  // Opens or creates the database and applies pending migrations; creates
  // the parent folder when missing.
  static absl::StatusOr<std::unique_ptr<StateStore>> Open(const std::string& path,
                                                          RetryPolicy retry);

  // Caps the database file at about `max_bytes` (SQLite's max_page_count):
  // past it every write fails as on a full disk. Tests use it to fill the
  // disk; 0 lifts the cap.
  absl::Status LimitSize(int64_t max_bytes);
  // While on, every write fails as on a read-only file (SQLite's
  // query_only). Tests use it to make the state folder read-only.
  absl::Status SetQueryOnly(bool on);

  // Schema migrations this code knows (exposed for tests).
  static const std::vector<SqliteMigration>& Migrations();
  absl::StatusOr<int> SchemaVersion();

  // --- Runs ---
  // Creates a RUNNING run with a new id ("run-000042"); a dry run
  // (Run.dry_run) when `dry_run`.
  absl::StatusOr<v1::Run> CreateRun(const std::string& source_id,
                                    v1::RunTrigger trigger, bool full,
                                    std::optional<absl::Time> since,
                                    absl::Time now, bool dry_run = false);
  absl::Status UpdateRun(const v1::Run& run);
  absl::StatusOr<v1::Run> GetRun(const std::string& run_id);
  // Newest run (of `source_id` when not empty); NOT_FOUND when none.
  absl::StatusOr<v1::Run> NewestRun(const std::string& source_id);
  // Newest first; `page_token` from a previous call.
  absl::StatusOr<std::vector<v1::Run>> ListRuns(const std::string& source_id,
                                                int page_size,
                                                const std::string& page_token,
                                                std::string* next_page_token);
  // Runs left RUNNING or PENDING by a process that stopped: marks them
  // FAILED with `error` and returns them.
  absl::StatusOr<std::vector<v1::Run>> CloseInterruptedRuns(const std::string& error,
                                                            absl::Time now);
  // Start of the newest run of a source that a schedule or a person started
  // (not a dry run).
  absl::StatusOr<std::optional<absl::Time>> LastSyncStart(const std::string& source_id);
  // Whether no run was ever recorded (a new state database).
  absl::StatusOr<bool> Empty();
  // Deletes the oldest finished runs beyond `keep`.
  absl::Status PruneRuns(int keep);
  // The records run `run_id` skipped (RecordOutcome::skip_reason), in the
  // order it met them; kept as long as the run's history.
  absl::StatusOr<std::vector<v1::SkippedRecord>> ListSkipped(const std::string& run_id,
                                                             int page_size,
                                                             const std::string& page_token,
                                                             std::string* next_page_token);

  // --- A batch's outcomes ---
  // Records every outcome of a batch in one transaction: journal states,
  // failure-queue entries (parked records open or update the entry of their
  // Location; written or unchanged ones resolve it), when set the new
  // watermark (only ever forward), the newest versions in openIMIS and the
  // run's skipped list, and the change history of the written ones.
  absl::Status CommitBatch(const std::string& source_id, const std::string& run_id,
                           const std::vector<RecordOutcome>& outcomes,
                           std::optional<absl::Time> watermark, absl::Time now);

  // --- Dry-run plans ---
  // Adds a batch of a dry run to its plan (one entry per record) and its
  // skipped records to its skipped list, in one transaction; nothing else
  // (journal, failure queue, versions, watermark) changes.
  absl::Status RecordPlan(const std::string& source_id, const std::string& run_id,
                          const std::vector<RecordOutcome>& outcomes,
                          const std::vector<v1::PlanEntry>& entries);
  // Run `run_id`'s plan (Plans::List) and its counts.
  absl::StatusOr<std::vector<v1::PlanEntry>> ListPlan(const std::string& run_id, bool all,
                                                      int page_size,
                                                      const std::string& page_token,
                                                      std::string* next_page_token);
  absl::StatusOr<v1::PlanCounts> PlanCounts(const std::string& run_id);
  // The versions dry run `run_id` planned with lastUpdated >= `from`.
  absl::StatusOr<std::vector<v1::RecordKey>> Planned(const std::string& run_id, absl::Time from,
                                                     int limit);
  // Records an operator's (`actor`) approval of dry run `run_id`'s plan
  // for `reason` (the earlier one when it was approved already).
  absl::StatusOr<v1::PlanApproval> ApprovePlan(const std::string& run_id,
                                               const std::string& source_id,
                                               const std::string& actor,
                                               const std::string& reason, absl::Time now);
  absl::StatusOr<std::optional<v1::PlanApproval>> PlanApprovalOf(const std::string& run_id);
  // Whether a source that requires an approved plan may start a real run:
  // a real sync of it succeeded before, or a plan of it was approved at
  // `approved_since` or later (absl::InfinitePast(): ever).
  absl::StatusOr<bool> RealRunAllowed(const std::string& source_id,
                                      absl::Time approved_since = absl::InfinitePast());

  // --- Change history ---
  absl::StatusOr<std::vector<v1::FacilityChange>> ListChanges(const ChangeFilter& filter,
                                                              int page_size,
                                                              const std::string& page_token,
                                                              std::string* next_page_token);
  // Deletes the changes recorded before `before`; how many.
  absl::StatusOr<int> PruneChanges(absl::Time before);

  // --- Watermark ---
  absl::StatusOr<std::optional<absl::Time>> GetWatermark(const std::string& source_id);
  // An operator's change: sets the watermark (back or forward) or clears it
  // (nullopt), and records the change with `reason` (one transaction).
  absl::StatusOr<v1::WatermarkChange> SetWatermark(const std::string& source_id,
                                                   std::optional<absl::Time> watermark,
                                                   const std::string& reason, absl::Time now);
  // The operator changes of a source's watermark, newest first.
  absl::StatusOr<std::vector<v1::WatermarkChange>> WatermarkChanges(const std::string& source_id,
                                                                    int limit);

  // --- Journal ---
  // Terminal versions with lastUpdated >= `from` (at most `limit`): the
  // fetcher drops them as already seen.
  absl::StatusOr<std::vector<v1::RecordKey>> AlreadySeen(const std::string& source_id,
                                                         absl::Time from, int limit);
  // Marks the versions in flight for `run_id` (one transaction).
  absl::Status JournalInFlight(const std::string& source_id, const std::string& run_id,
                               const std::vector<v1::SourceRecord>& records,
                               absl::Time now);
  // Deletes terminal journal rows older than `before` (outside any overlap).
  absl::Status PruneJournal(const std::string& source_id, absl::Time before);
  // The newest version of each of `location_ids` that reached openIMIS
  // (written, or found there already), by Location id; Locations without
  // one are absent. Kept for as long as the state database (never pruned).
  absl::StatusOr<std::map<std::string, v1::RecordKey>> NewestVersions(
      const std::string& source_id, const std::vector<std::string>& location_ids);
  // Journal state of one version (for tests and diagnostics).
  absl::StatusOr<std::optional<JournalState>> JournalStateOf(const std::string& source_id,
                                                              const v1::RecordKey& key);

  // --- Failure queue ---
  absl::StatusOr<std::vector<v1::Failure>> ListFailures(const std::string& source_id,
                                                        v1::FailureState state,
                                                        int page_size,
                                                        const std::string& page_token,
                                                        std::string* next_page_token);
  // With raw_json, the operators' actions and the Location's link.
  absl::StatusOr<v1::Failure> GetFailure(int64_t failure_id);
  // Open entries among `ids` (all open entries of `source_id` when `ids` is
  // empty), each with its stored record. NOT_FOUND names an unknown id;
  // FAILED_PRECONDITION names an entry that is not open.
  absl::StatusOr<std::vector<std::pair<v1::Failure, v1::SourceRecord>>> FailuresToRetry(
      const std::vector<int64_t>& ids, const std::string& source_id);
  // The open failure-queue entry of each of `location_ids` that has one, by
  // Location id.
  absl::StatusOr<std::map<std::string, int64_t>> OpenFailureIds(
      const std::string& source_id, const std::vector<std::string>& location_ids);
  // Open entries per source (the failure-queue size; metrics).
  absl::StatusOr<std::map<std::string, int64_t>> CountOpenFailures();
  // The entries run `run_id` (started at `run_started`) created: how many,
  // the first `limit` (FailureQueue::CreatedBy).
  absl::StatusOr<NewFailures> NewFailuresOf(const std::string& run_id, absl::Time run_started,
                                            int limit);
  // Open transient entries whose next attempt is due, grouped by source.
  absl::StatusOr<std::map<std::string, std::vector<int64_t>>> DueRetries(absl::Time now);
  // Dismisses open entries and records `action` (kind, actor, reason) on
  // each; returns how many changed. Unknown ids are NOT_FOUND (nothing is
  // changed then).
  absl::StatusOr<int> DismissFailures(const std::vector<int64_t>& ids,
                                      const v1::FailureAction& action, absl::Time now);
  // Opens dismissed entries again and records `action` on each; NOT_FOUND
  // or FAILED_PRECONDITION (nothing changed) names an entry that is unknown
  // or not dismissed.
  absl::StatusOr<int> ReopenFailures(const std::vector<int64_t>& ids,
                                     const v1::FailureAction& action, absl::Time now);
  // Records `action` on each of `ids` (a retry, or what came of one).
  absl::Status RecordFailureActions(const std::vector<int64_t>& ids,
                                    const v1::FailureAction& action, absl::Time now);
  // Sets the link (or acceptance) of open entry `failure_id`'s Location and
  // records `action` on it, in one transaction. FAILED_PRECONDITION when the
  // entry is not open or not a likely duplicate (stage RECONCILE).
  absl::StatusOr<v1::FacilityLink> LinkFailure(int64_t failure_id, v1::FacilityLink link,
                                               const v1::FailureAction& action, absl::Time now);
  // The operators' links of those of `location_ids` that have one, as the
  // writer's plan applies them.
  absl::StatusOr<std::vector<v1::PlanLink>> PlanLinks(
      const std::string& source_id, const std::vector<std::string>& location_ids);

 private:
  StateStore(std::unique_ptr<SqliteDb> db, RetryPolicy retry)
      : db_(std::move(db)),
        runs_(*db_),
        journal_(*db_),
        failures_(*db_, retry),
        watermarks_(*db_),
        plans_(*db_),
        changes_(*db_),
        actions_(*db_),
        links_(*db_) {}

  std::mutex mu_;  // guards the connection and everything below
  std::unique_ptr<SqliteDb> db_;
  RunHistory runs_;
  Journal journal_;
  FailureQueue failures_;
  Watermarks watermarks_;
  Plans plans_;
  ChangeHistory changes_;
  FailureActions actions_;
  FacilityLinks links_;
};

}  // namespace mflsync::scheduler

#endif  // MFLSYNC_SCHEDULER_STATE_STORE_H_
