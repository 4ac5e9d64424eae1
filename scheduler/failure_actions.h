// What operators did with failure-queue entries: each retry, dismissal,
// reopening, link and acceptance, with who (the caller's principal), why and
// what came of it; `mflsync failure ID` shows them.
#ifndef MFLSYNC_SCHEDULER_FAILURE_ACTIONS_H_
#define MFLSYNC_SCHEDULER_FAILURE_ACTIONS_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/sqlite.h"
#include "mflsync/v1/scheduler.pb.h"

namespace mflsync::scheduler {

// The failure_actions table of a state database (state_db.h). Runs inside
// the caller's transaction; not thread-safe (StateStore serializes).
class FailureActions {
 public:
  explicit FailureActions(SqliteDb& db) : db_(db) {}

  // Records `action` (acted_at set) on each of `failure_ids`.
  absl::Status Record(const std::vector<int64_t>& failure_ids, const v1::FailureAction& action);
  // The actions on entry `failure_id`, oldest first.
  absl::StatusOr<std::vector<v1::FailureAction>> Of(int64_t failure_id);

 private:
  SqliteDb& db_;
};

}  // namespace mflsync::scheduler

#endif  // MFLSYNC_SCHEDULER_FAILURE_ACTIONS_H_
