// Dry-run plans: what each record of a dry run would have become in a real
// run (PlanEntry), kept as long as the run's history, and the operators'
// approvals of plans (kept for as long as the state database), which a
// source with require_plan_approval needs before its first real run.
#ifndef MFLSYNC_SCHEDULER_PLANS_H_
#define MFLSYNC_SCHEDULER_PLANS_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/sqlite.h"
#include "mflsync/v1/records.pb.h"
#include "mflsync/v1/scheduler.pb.h"

namespace mflsync::scheduler {

// The plan_entries and plan_approvals tables of a state database
// (state_db.h). Runs inside the caller's transaction; not thread-safe
// (StateStore serializes).
class Plans {
 public:
  explicit Plans(SqliteDb& db) : db_(db) {}

  // Adds `entries` to run `run_id`'s plan; a version already in it (fetched
  // again after a broken fetch resumed) is kept once.
  absl::Status Record(const std::string& run_id, const std::vector<v1::PlanEntry>& entries);
  // Run `run_id`'s plan in the order the run met the records: the creates,
  // updates, deactivations and rejections, or with `all` every entry.
  absl::StatusOr<std::vector<v1::PlanEntry>> List(const std::string& run_id, bool all,
                                                  int page_size, const std::string& page_token,
                                                  std::string* next_page_token);
  // The counts of run `run_id`'s plan, by action.
  absl::StatusOr<v1::PlanCounts> Counts(const std::string& run_id);
  // The versions run `run_id` planned with lastUpdated >= `from` (at most
  // `limit`): a resumed fetch of the dry run skips them.
  absl::StatusOr<std::vector<v1::RecordKey>> Planned(const std::string& run_id, absl::Time from,
                                                     int limit);

  // Records the approval of run `run_id`'s plan by `actor` for `reason`
  // (once: an earlier approval stands) and returns it (expires_at unset).
  absl::StatusOr<v1::PlanApproval> Approve(const std::string& run_id,
                                           const std::string& source_id,
                                           const std::string& actor, const std::string& reason,
                                           absl::Time now);
  // The approval of run `run_id`'s plan, if any.
  absl::StatusOr<std::optional<v1::PlanApproval>> ApprovalOf(const std::string& run_id);
  // Whether some plan of `source_id` was approved at `approved_since` or
  // later (absl::InfinitePast(): ever).
  absl::StatusOr<bool> SourceApproved(const std::string& source_id, absl::Time approved_since);

 private:
  SqliteDb& db_;
};

}  // namespace mflsync::scheduler

#endif  // MFLSYNC_SCHEDULER_PLANS_H_
