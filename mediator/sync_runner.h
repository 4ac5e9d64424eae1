// POST /sync behind an openHIM channel: triggers a scheduler run, answers
// openHIM at once with status Processing, watches the run and completes the
// openHIM transaction (TransactionCompleter): final status, one
// orchestration per stage with the stage's own start and end, counts, and
// the records the run refused. A failed run is put in openHIM's auto-retry
// queue only when SyncRunnerOptions::auto_retry says so.
#ifndef MFLSYNC_MEDIATOR_SYNC_RUNNER_H_
#define MFLSYNC_MEDIATOR_SYNC_RUNNER_H_

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "mediator/live_settings.h"
#include "mediator/openhim_api.h"
#include "mediator/peers.h"
#include "mediator/transaction_completer.h"

namespace mflsync::mediator {

struct SyncRunnerOptions {
  // Report a failed run with an `error`, which makes openHIM queue the
  // transaction for auto-retry (retried only where the channel enables
  // auto-retry). Off: the failure is in the response and properties only.
  bool auto_retry = false;
  // How long the scheduler may be unreachable while a run is watched (its
  // restart, a network fault): the watch is retried every
  // kWatchRetryInterval meanwhile; beyond it the transaction ends Failed
  // ("lost track of run").
  absl::Duration watch_outage = absl::Minutes(2);
  CompleterOptions completer;
};

class SyncRunner {
 public:
  // `peers` must outlive the runner. `api` is null when no openHIM API is
  // configured (then transactions are not updated).
  SyncRunner(std::string urn, SuitePeers* peers, std::shared_ptr<const OpenHimApi> api,
             SyncRunnerOptions options = {});
  ~SyncRunner();  // Stop()

  // Starts the run; returns the immediate mediator answer (Processing, or
  // Failed when the scheduler refused). `full` asks for a full sync.
  nlohmann::json Start(const Settings& settings, const std::string& transaction_id, bool full);

  // The final outcome of a run that ended (exposed for tests): status,
  // response, orchestrations (one per stage, plus the refused records),
  // properties with the counts and, for a failed run with `auto_retry`, the
  // error.
  static TransactionOutcome FinalOutcome(const std::string& urn, const v1::Run& run,
                                         const std::vector<v1::Failure>& refused,
                                         bool auto_retry);

  // Watches again the runs whose transactions on the channel `channel_name`
  // openHIM still holds as Processing (a mediator that stopped or restarted
  // before they ended: FindPendingSyncs) and completes them as Start's
  // watchers do; a run that ended meanwhile is completed at once. Returns
  // how many it resumed (at most kMaxResumed).
  absl::StatusOr<int> ResumePending(const std::string& channel_name);
  static constexpr int kMaxResumed = 1000;

  // Cancels the watches and waits for the watcher threads.
  void Stop();
  // Waits for every watcher thread to finish (tests).
  void Wait();

 private:
  // Starts a watcher thread (Watch) and reaps the finished ones.
  void Spawn(std::string run_id, std::string transaction_id);
  void Watch(std::string run_id, std::string transaction_id);
  // The run's final state, watching again after a failed or timed-out watch
  // (see SyncRunnerOptions::watch_outage); CANCELLED when the mediator stops.
  absl::StatusOr<v1::Run> WatchUntilEnded(const std::string& run_id);
  static constexpr absl::Duration kWatchRetryInterval = absl::Seconds(2);
  // The run's refused records (at most kMaxRefusedListed).
  std::vector<v1::Failure> RefusedRecords(const v1::Run& run);

  std::string urn_;
  SuitePeers* peers_;
  std::shared_ptr<const OpenHimApi> api_;
  SyncRunnerOptions options_;
  std::atomic<bool> stopping_{false};
  absl::Mutex mu_;
  // One per watched run; `done` is set when its thread is about to end, so
  // that Start() can reap finished threads in a long-running mediator.
  struct Watcher {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  std::vector<Watcher> watchers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace mflsync::mediator

#endif  // MFLSYNC_MEDIATOR_SYNC_RUNNER_H_
