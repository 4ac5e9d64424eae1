#include "scheduler/operator_actions.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/log.h"

namespace mflsync::scheduler {
namespace {

// OK when `reason` is given (when `required`) and not too long.
absl::Status CheckReason(const std::string& reason, bool required, const char* action) {
  if (required && reason.empty())
    return absl::InvalidArgumentError(
        absl::StrCat(action, " needs a reason (kept with the entries, with who acted)"));
  if (reason.size() > RunManager::kMaxReasonLength)
    return absl::InvalidArgumentError(absl::StrCat(
        action, ": the reason is longer than ", RunManager::kMaxReasonLength, " characters"));
  return absl::OkStatus();
}

absl::Status CheckIds(const std::vector<int64_t>& ids, const char* action) {
  if (ids.empty())
    return absl::InvalidArgumentError(absl::StrCat(action, ": name at least one entry"));
  for (int64_t id : ids) {
    if (id <= 0)
      return absl::InvalidArgumentError(
          absl::StrCat(action, ": ", id, " is not a failure-queue entry id"));
  }
  return absl::OkStatus();
}

v1::FailureAction ActionOf(v1::FailureActionKind kind, const Operator& by) {
  v1::FailureAction a;
  a.set_kind(kind);
  a.set_actor(by.actor);
  a.set_reason(by.reason);
  return a;
}

}  // namespace

absl::StatusOr<v1::Run> OperatorActions::Retry(const std::vector<int64_t>& ids, bool all,
                                               const std::string& source_id, bool stored,
                                               const Operator& by) {
  if (absl::Status s = CheckReason(by.reason, false, "retry"); !s.ok()) return s;
  RetryHow how;
  how.from_mfl = !stored;
  how.action = ActionOf(v1::FAILURE_ACTION_KIND_RETRY, by);
  return runs_.RetryFailures(ids, all, source_id, how);
}

absl::StatusOr<int> OperatorActions::Dismiss(const std::vector<int64_t>& ids,
                                             const Operator& by) {
  if (absl::Status s = CheckIds(ids, "dismiss"); !s.ok()) return s;
  if (absl::Status s = CheckReason(by.reason, true, "dismiss"); !s.ok()) return s;
  return runs_.store().DismissFailures(ids, ActionOf(v1::FAILURE_ACTION_KIND_DISMISS, by),
                                       absl::Now());
}

absl::StatusOr<int> OperatorActions::Reopen(const std::vector<int64_t>& ids, const Operator& by) {
  if (absl::Status s = CheckIds(ids, "reopen"); !s.ok()) return s;
  if (absl::Status s = CheckReason(by.reason, false, "reopen"); !s.ok()) return s;
  return runs_.store().ReopenFailures(ids, ActionOf(v1::FAILURE_ACTION_KIND_REOPEN, by),
                                      absl::Now());
}

absl::StatusOr<OperatorActions::Decided> OperatorActions::Link(int64_t failure_id,
                                                               const std::string& hf_code,
                                                               const Operator& by) {
  if (hf_code.empty() || hf_code.size() > 50)
    return absl::InvalidArgumentError(
        absl::StrCat("link: the HF code '", hf_code.substr(0, 60),
                     "' must be 1-50 characters (the openIMIS facility to write to)"));
  v1::FacilityLink link;
  link.set_hf_code(hf_code);
  return Decide(failure_id, std::move(link), v1::FAILURE_ACTION_KIND_LINK, by);
}

absl::StatusOr<OperatorActions::Decided> OperatorActions::Accept(int64_t failure_id,
                                                                 const Operator& by) {
  v1::FacilityLink link;
  link.set_accept_namesake(true);
  return Decide(failure_id, std::move(link), v1::FAILURE_ACTION_KIND_ACCEPT, by);
}

absl::StatusOr<OperatorActions::Decided> OperatorActions::Decide(int64_t failure_id,
                                                                 v1::FacilityLink link,
                                                                 v1::FailureActionKind kind,
                                                                 const Operator& by) {
  const bool accept = kind == v1::FAILURE_ACTION_KIND_ACCEPT;
  const char* what = accept ? "accept" : "link";
  if (absl::Status s = CheckIds({failure_id}, what); !s.ok()) return s;
  if (absl::Status s = CheckReason(by.reason, true, what); !s.ok()) return s;
  link.set_actor(by.actor);
  link.set_reason(by.reason);
  v1::FailureAction action = ActionOf(kind, by);
  action.set_detail(accept ? "written as a facility of its own despite its namesake"
                           : absl::StrCat("written to openIMIS HF code ", link.hf_code()));
  Decided out;
  absl::StatusOr<v1::FacilityLink> recorded =
      runs_.store().LinkFailure(failure_id, std::move(link), action, absl::Now());
  if (!recorded.ok()) return recorded.status();
  out.link = *std::move(recorded);
  Operator retry_by = by;
  retry_by.reason = accept ? "after the acceptance" : "after the link";
  absl::StatusOr<v1::Run> run = Retry({failure_id}, false, "", /*stored=*/false, retry_by);
  if (run.ok()) {
    out.run = *std::move(run);
  } else {
    out.retry_error = std::string(run.status().message());
    LogWarning("the retry after a link could not start",
               {{"failure", failure_id}, {"error", out.retry_error}});
  }
  return out;
}

}  // namespace mflsync::scheduler
