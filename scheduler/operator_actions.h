// What operators do with failure-queue entries, each recorded with who (the
// caller's principal) and why: retry (from the MFL, or the stored copy),
// dismiss, reopen, and for a likely duplicate link (to an existing openIMIS
// facility) or accept (as a facility of its own). The rules of these
// actions (which need a reason, how long it may be) live here; the gRPC
// edge only passes the caller along.
#ifndef MFLSYNC_SCHEDULER_OPERATOR_ACTIONS_H_
#define MFLSYNC_SCHEDULER_OPERATOR_ACTIONS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "mflsync/v1/scheduler.pb.h"
#include "scheduler/run_manager.h"

namespace mflsync::scheduler {

// Who acts and why.
struct Operator {
  std::string actor;   // the caller's principal
  std::string reason;  // as given; required for dismiss, link and accept
};

class OperatorActions {
 public:
  // `runs` must outlive this.
  explicit OperatorActions(RunManager& runs) : runs_(runs) {}

  // Starts a retry run of the entries (RunManager::RetryFailures): from the
  // MFL, or with `stored` the copy kept with each entry.
  absl::StatusOr<v1::Run> Retry(const std::vector<int64_t>& ids, bool all,
                                const std::string& source_id, bool stored, const Operator& by);
  // Dismisses open entries; how many.
  absl::StatusOr<int> Dismiss(const std::vector<int64_t>& ids, const Operator& by);
  // Opens dismissed entries again; how many.
  absl::StatusOr<int> Reopen(const std::vector<int64_t>& ids, const Operator& by);

  // A link or acceptance as recorded, and the retry run it started (or why
  // none could start now: the decision stands for the next retry or sync).
  struct Decided {
    v1::FacilityLink link;
    std::optional<v1::Run> run;
    std::string retry_error;
  };
  // Writes entry `failure_id`'s Location to the openIMIS facility `hf_code`.
  absl::StatusOr<Decided> Link(int64_t failure_id, const std::string& hf_code,
                               const Operator& by);
  // Writes entry `failure_id`'s Location as its own facility despite a
  // namesake in its district.
  absl::StatusOr<Decided> Accept(int64_t failure_id, const Operator& by);

 private:
  // Records `link` with its action, then retries the entry from the MFL.
  absl::StatusOr<Decided> Decide(int64_t failure_id, v1::FacilityLink link,
                                 v1::FailureActionKind kind, const Operator& by);

  RunManager& runs_;
};

}  // namespace mflsync::scheduler

#endif  // MFLSYNC_SCHEDULER_OPERATOR_ACTIONS_H_
