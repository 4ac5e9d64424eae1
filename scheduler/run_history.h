// The run history: every run of a source with its state and counters, and
// the Locations each run skipped as not facilities. Finished runs beyond a
// limit are pruned with their skipped lists and dry-run plans.
#ifndef MFLSYNC_SCHEDULER_RUN_HISTORY_H_
#define MFLSYNC_SCHEDULER_RUN_HISTORY_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/sqlite.h"
#include "mflsync/v1/scheduler.pb.h"
#include "scheduler/journal.h"

namespace mflsync::scheduler {

// The runs and skipped tables of a state database (state_db.h). Runs inside
// the caller's transaction; not thread-safe (StateStore serializes).
class RunHistory {
 public:
  explicit RunHistory(SqliteDb& db) : db_(db) {}

  // Creates a RUNNING run with a new id ("run-000042"), a dry run when
  // `dry_run`. Call it in one transaction (the id comes from the row's
  // sequence number).
  absl::StatusOr<v1::Run> Create(const std::string& source_id, v1::RunTrigger trigger,
                                 bool full, std::optional<absl::Time> since, absl::Time now,
                                 bool dry_run);
  // NOT_FOUND when the run does not exist.
  absl::Status Update(const v1::Run& run);
  absl::StatusOr<v1::Run> Get(const std::string& run_id);
  // Newest run (of `source_id` when not empty); NOT_FOUND when none.
  absl::StatusOr<v1::Run> Newest(const std::string& source_id);
  // Newest first; `page_token` from a previous call.
  absl::StatusOr<std::vector<v1::Run>> List(const std::string& source_id, int page_size,
                                            const std::string& page_token,
                                            std::string* next_page_token);
  // Runs left RUNNING or PENDING by a process that stopped: marks them
  // FAILED with `error` and returns them.
  absl::StatusOr<std::vector<v1::Run>> CloseInterrupted(const std::string& error,
                                                        absl::Time now);
  // Start of the newest run of a source that a schedule or a person started
  // (dry runs left out).
  absl::StatusOr<std::optional<absl::Time>> LastSyncStart(const std::string& source_id);
  // Whether a sync of `source_id` that was not a dry run (scheduled, manual,
  // resumed or rerun) ever succeeded, as far as the history keeps.
  absl::StatusOr<bool> HadRealSync(const std::string& source_id);
  // Whether no run was ever recorded (a new state database).
  absl::StatusOr<bool> Empty();
  // Deletes the oldest finished runs beyond `keep`, with their skipped
  // lists and plans. Call it in one transaction.
  absl::Status Prune(int keep);

  // Adds the `outcomes` with a skip_reason to run `run_id`'s skipped list.
  absl::Status RecordSkipped(const std::string& source_id, const std::string& run_id,
                             const std::vector<RecordOutcome>& outcomes);
  // Run `run_id`'s skipped list in the order it met them.
  absl::StatusOr<std::vector<v1::SkippedRecord>> ListSkipped(const std::string& run_id,
                                                             int page_size,
                                                             const std::string& page_token,
                                                             std::string* next_page_token);

 private:
  // The RUNNING and PENDING runs, oldest first.
  absl::StatusOr<std::vector<v1::Run>> Unfinished();

  SqliteDb& db_;
};

}  // namespace mflsync::scheduler

#endif  // MFLSYNC_SCHEDULER_RUN_HISTORY_H_
