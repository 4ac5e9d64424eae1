// Starts and tracks runs: one at a time per source, manual triggers and dry
// runs, schedules, automatic retries of transient failures, resumption of
// runs a stopped scheduler left unfinished, the approval of plans a source
// may require before its first real run, and progress for WatchRun.
#ifndef MFLSYNC_SCHEDULER_RUN_MANAGER_H_
#define MFLSYNC_SCHEDULER_RUN_MANAGER_H_

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/thread_group.h"
#include "mflsync/v1/scheduler.pb.h"
#include "scheduler/orchestrator.h"
#include "scheduler/peers.h"
#include "scheduler/schedule.h"
#include "scheduler/state_store.h"

namespace mflsync::scheduler {

// One configured source.
struct SourceConfig {
  Schedule schedule;
  bool enabled = true;  // false: no scheduled or automatic runs
  // true: no real run (sync or push) until a real sync succeeded or a dry
  // run's plan was approved (ApprovePlan).
  bool require_plan_approval = false;
  // How long an approved plan lets the source run (before a real sync
  // succeeded); zero: it never expires. A plan older than this cannot be
  // approved.
  absl::Duration plan_approval_ttl = absl::Hours(24 * 7);
};

struct RunManagerOptions {
  std::map<std::string, SourceConfig> sources;
  int run_history_limit = 1000;
  absl::Duration tick = absl::Seconds(1);                  // schedule check period
  absl::Duration retry_check_interval = absl::Seconds(5);  // due-retry check period
  bool resume_interrupted = true;
  // After an automatic retry run of a source fails as a whole (e.g. the
  // writer cannot reach openIMIS), the next one waits this long (doubling).
  absl::Duration failed_retry_backoff = absl::Seconds(30);
  absl::Duration failed_retry_max_backoff = absl::Hours(1);
  // A sync that fails (not cancelled) runs again by itself after
  // rerun_backoff (doubling up to rerun_max_backoff), at most
  // rerun_max_attempts times in a row; 0 turns this off. A restart keeps the
  // plan (Run.rerun_at of the newest failed sync).
  int rerun_max_attempts = 5;
  absl::Duration rerun_backoff = absl::Minutes(1);
  absl::Duration rerun_max_backoff = absl::Minutes(30);
  // Called once with each run as it ends (metrics, notifications), when the
  // orchestrator reports the final state and before GetRun, ListRuns or
  // WatchRun show it; may be empty. It must not block (a run thread).
  std::function<void(const v1::Run&)> on_run_end;
  // The change history keeps the writes of this long; the schedule thread
  // prunes it once per change_prune_interval, by `clock` (tests inject one).
  absl::Duration change_retention = absl::Hours(24 * 365);
  absl::Duration change_prune_interval = absl::Hours(1);
  std::function<absl::Time()> clock = [] { return absl::Now(); };
};

// How a retry reads its records: the stored copy of each entry, or each
// entry's Location as the MFL serves it now (Orchestrator::RunRetryFromMfl);
// and the operator's action to record on each entry, with the run (none for
// an automatic retry).
struct RetryHow {
  bool from_mfl = false;
  std::optional<v1::FailureAction> action;
};

class RunManager {
 public:
  RunManager(StateStore& store, Peers& peers, OrchestratorOptions orchestrator,
             RunManagerOptions options);
  ~RunManager();

  // Closes runs a previous process left RUNNING, resumes their sources
  // (when configured) and starts the schedule thread. On a new state
  // database (no run yet) an interval schedule waits one interval before
  // its first run instead of running at once.
  absl::Status Start();
  // Cancels every run, waits for them to record their end, stops schedules.
  void Stop();

  // Starts a run for `source_id` ("" = the only source); when one is
  // running, returns it with `already_running` set. A dry run plans only
  // (Orchestrator::RunSync with Run.dry_run); a real run of a source with
  // require_plan_approval is FAILED_PRECONDITION until RealRunAllowed.
  struct Triggered {
    v1::Run run;
    bool already_running = false;
  };
  absl::StatusOr<Triggered> TriggerSync(const std::string& source_id, bool full,
                                        v1::RunTrigger trigger, bool dry_run = false);
  // Approves the plan of dry run `run_id` as `actor` (the caller's
  // principal) for `reason` (optional, at most kMaxReasonLength); the run
  // must have succeeded within its source's plan_approval_ttl. A second
  // approval returns the first. The approval has its expires_at.
  absl::StatusOr<v1::PlanApproval> ApprovePlan(const std::string& run_id,
                                               const std::string& actor = "",
                                               const std::string& reason = "");
  // The approval of dry run `run_id`'s plan, with its expires_at, if any.
  absl::StatusOr<std::optional<v1::PlanApproval>> PlanApprovalOf(const std::string& run_id);
  // Starts a retry run over open entries (the given ids, or every open entry
  // of `source_id` with `all`). The ids must belong to one source, which must
  // have no run in progress.
  absl::StatusOr<v1::Run> RetryFailures(const std::vector<int64_t>& ids, bool all,
                                        const std::string& source_id,
                                        const RetryHow& how = {});
  // The longest reason an operator may give for an action (dismiss, watermark).
  static constexpr size_t kMaxReasonLength = 1000;
  // An operator's watermark change for a source (nullopt: reset); refused
  // while it has a run in progress, for a time later than now, or without a
  // reason.
  absl::StatusOr<v1::WatermarkChange> SetWatermark(const std::string& source_id,
                                                   std::optional<absl::Time> watermark,
                                                   const std::string& reason);
  // Runs pushed records now, on the caller's thread, beside any run of the
  // source (Orchestrator::RunPush): a run with trigger RUN_TRIGGER_PUSH in
  // the history, its refused and failed records in the failure queue. At
  // most kMaxPushRecords records, each naming its Location.
  struct Pushed {
    v1::Run run;
    std::vector<v1::RecordResult> results;  // one per record, in order
  };
  static constexpr size_t kMaxPushRecords = 10000;
  absl::StatusOr<Pushed> Push(const std::string& source_id,
                              std::vector<v1::SourceRecord> records);
  // Cancels a run in progress and returns it; FAILED_PRECONDITION when the
  // run has already ended, NOT_FOUND when it does not exist.
  absl::StatusOr<v1::Run> CancelRun(const std::string& run_id);

  absl::StatusOr<v1::Run> GetRun(const std::string& run_id);
  // Calls `on_update` with the run now and after every change, until the run
  // ends (the last call has the final state), `on_update` returns false or
  // `client_gone` returns true. "" watches the newest run.
  absl::Status WatchRun(const std::string& run_id,
                        const std::function<bool(const v1::Run&)>& on_update,
                        const std::function<bool()>& client_gone);
  // Waits until no run is in progress for `source_id` or `timeout` passes.
  bool WaitIdle(const std::string& source_id, absl::Duration timeout);

  // The source a request means: "" resolves to the only configured source
  // (or the fetcher's only source); a name must be configured here or known
  // to the fetcher.
  absl::StatusOr<std::string> ResolveSource(const std::string& source_id);

  StateStore& store() { return store_; }
  const std::map<std::string, SourceConfig>& sources() const { return options_.sources; }

  // When the schedule runs `source` next: the time the schedule thread
  // waits for, or, before it has looked, the one it will compute at `now`;
  // nullopt for a source that is unknown, disabled or manual only.
  std::optional<absl::Time> NextScheduledRun(const std::string& source, absl::Time now);

 private:
  struct Active {
    v1::Run run;
    std::shared_ptr<CancelToken> cancel;  // cancelled outside mu_
  };
  // A retry run's entries and how it reads them.
  struct RetryWork {
    std::vector<std::pair<v1::Failure, v1::SourceRecord>> entries;
    bool from_mfl = false;
  };
  // Starts `run` on its own thread (mu_ held): a sync, or a retry of `retry`.
  void Launch(v1::Run run, std::optional<RetryWork> retry);
  // Runs `run` to its end on the calling thread (Launch's thread).
  v1::Run RunToEnd(const v1::Run& run, std::optional<RetryWork> retry, CancelToken& cancel);
  // Deletes the change history older than change_retention, once per
  // change_prune_interval (by options_.clock).
  void CheckChangeRetention();
  void Progress(const v1::Run& run);
  // Logs each configured source the fetcher does not know (at start).
  void WarnUnknownSources();
  void Loop();
  void CheckSchedules(absl::Time now);
  // The first due time of `name`'s schedule: from its last sync's start
  // (a new database: from Start).
  std::optional<absl::Time> FirstDue(const std::string& name, const SourceConfig& cfg,
                                     absl::Time now);
  // next_due_ of `name` (nullopt: not computed yet), and setting it.
  std::optional<absl::Time> Due(const std::string& name) const;
  void SetDue(const std::string& name, std::optional<absl::Time> due);
  void CheckRetries(absl::Time now);
  // Saves the end of a run, or keeps it in unsaved_ (served by GetRun and
  // WatchRun) until SaveUnsaved manages to (a full disk, a read-only file).
  void SaveEnd(const v1::Run& done);
  void SaveUnsaved();
  // Plans (or forgets) the rerun of a sync that just ended; sets rerun_at.
  void PlanRerun(v1::Run& done);
  void CheckReruns(absl::Time now);
  // At start: the rerun the newest failed sync of each source planned
  // (Run.rerun_at) stands, with the failures in a row counted.
  void RestoreReruns(const std::vector<v1::Run>& recent);
  // OK when `source` may start a real run: it does not require an approved
  // plan, or a real sync of it succeeded, or a plan of it was approved and
  // the approval has not expired (plan_approval_ttl); FAILED_PRECONDITION
  // naming the way out otherwise.
  absl::Status CheckPlanApproval(const std::string& source);
  // The run from live_ or unsaved_ (mu_ held).
  std::optional<v1::Run> InMemory(const std::string& run_id) const;
  // The source's plan_approval_ttl (zero when unknown: never expires).
  absl::Duration ApprovalTtl(const std::string& source) const;
  // `approval` with expires_at set from its source's plan_approval_ttl.
  v1::PlanApproval WithExpiry(v1::PlanApproval approval) const;

  StateStore& store_;
  Peers& peers_;
  Orchestrator orchestrator_;
  RunManagerOptions options_;

  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t version_ = 0;  // bumped on every progress update
  bool stopping_ = false;
  std::map<std::string, Active> active_;          // by source
  std::map<std::string, std::shared_ptr<CancelToken>> pushes_;  // by run id, running
  std::map<std::string, v1::Run> live_;           // by run id, while running
  std::map<std::string, v1::Run> unsaved_;        // ended, not yet saved, by run id
  mutable std::mutex due_mu_;                     // guards next_due_
  std::map<std::string, absl::Time> next_due_;    // by source
  absl::Time next_retry_check_ = absl::InfinitePast();
  absl::Time next_change_prune_ = absl::InfinitePast();  // by options_.clock
  // When Start found a new state database: the schedules count from then.
  std::optional<absl::Time> fresh_start_;
  struct RetryHold {
    absl::Time until = absl::InfinitePast();
    absl::Duration backoff = absl::ZeroDuration();
  };
  std::map<std::string, RetryHold> retry_hold_;  // by source
  struct Rerun {
    int attempts = 0;  // reruns planned since the last sync that did not fail
    absl::Time due;
    bool full = false;
  };
  std::map<std::string, Rerun> reruns_;  // by source, guarded by mu_
  ThreadGroup run_threads_;  // one per run Launch starts, joined soon after it ends
  std::thread loop_;
};

}  // namespace mflsync::scheduler

#endif  // MFLSYNC_SCHEDULER_RUN_MANAGER_H_
