// The change history: every write the scheduler made to openIMIS (create,
// update, deactivation) by sync, retry and push runs, with the MFL version,
// the HF code and uuid and each field that changed (old → new). Answers
// "what changed in run X" and "what happened to facility Y"; kept for a
// configured time (change_history.retention), pruned by the scheduler.
#ifndef MFLSYNC_SCHEDULER_CHANGE_HISTORY_H_
#define MFLSYNC_SCHEDULER_CHANGE_HISTORY_H_

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

// Which changes ListChanges wants; empty fields do not filter.
struct ChangeFilter {
  std::string run_id;
  std::string facility;  // an MFL Location id or an HF code
  std::optional<absl::Time> since;
};

// The changes table of a state database (state_db.h). Runs inside the
// caller's transaction; not thread-safe (StateStore serializes).
class ChangeHistory {
 public:
  explicit ChangeHistory(SqliteDb& db) : db_(db) {}

  // Records the change (RecordOutcome::change) of each outcome that carries
  // one, as recorded at `now`.
  absl::Status Record(const std::vector<RecordOutcome>& outcomes, absl::Time now);
  // The changes `filter` selects, newest first; `page_token` from a previous
  // call.
  absl::StatusOr<std::vector<v1::FacilityChange>> List(const ChangeFilter& filter,
                                                       int page_size,
                                                       const std::string& page_token,
                                                       std::string* next_page_token);
  // Deletes the changes recorded before `before`; how many.
  absl::StatusOr<int> Prune(absl::Time before);

 private:
  SqliteDb& db_;
};

}  // namespace mflsync::scheduler

#endif  // MFLSYNC_SCHEDULER_CHANGE_HISTORY_H_
