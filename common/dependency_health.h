// Health that tells the truth: runs a service's named dependency checks
// (probes) in the background, one thread each, every `period` with a bounded
// time-out, keeps each one's last result, logs each change with its cause,
// and reports the overall result (SERVING when every check passed) to a sink,
// which ServiceMain points at the gRPC health service. Readers (the
// StatusService RPC, metrics) only copy the last results: a check never
// blocks an RPC.
#ifndef MFLSYNC_COMMON_DEPENDENCY_HEALTH_H_
#define MFLSYNC_COMMON_DEPENDENCY_HEALTH_H_

#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace mflsync {

// One dependency check. `check` must return within `timeout` (it passes it
// to the HTTP or gRPC call it makes); a check that overruns counts as failed.
// Its error message is the cause shown to operators: say what was called and
// why it failed, never a secret.
struct DependencyProbe {
  std::string name;  // "openimis", "mfl:demo", "peer:writer", "state_db"
  std::function<absl::Status(absl::Duration timeout)> check;
};

struct DependencyHealthOptions {
  absl::Duration period = absl::Seconds(5);   // between two checks of a probe
  absl::Duration timeout = absl::Seconds(2);  // of one check
};

// The last result of one probe.
struct DependencyState {
  std::string name;
  absl::Status status = absl::UnavailableError("not checked yet");
  absl::Time checked_at = absl::InfinitePast();  // when the last check ended
  absl::Time since = absl::InfinitePast();       // when it got this result
};

class DependencyHealth {
 public:
  // Receives the overall result after the first round and on each change.
  using ServingSink = std::function<void(bool serving)>;
  // Receives every check's result (e.g. for a metric).
  using ResultSink = std::function<void(const std::string& name, bool ok)>;

  DependencyHealth(std::vector<DependencyProbe> probes, DependencyHealthOptions options,
                   ServingSink serving_sink, ResultSink result_sink = nullptr);
  ~DependencyHealth();
  DependencyHealth(const DependencyHealth&) = delete;
  DependencyHealth& operator=(const DependencyHealth&) = delete;

  // Runs every probe once, in parallel, and returns when all have answered
  // (at most about one time-out): the state is true from the first moment.
  void CheckNow();
  // Runs CheckNow, then starts one background thread per probe (wait a
  // period, check, again).
  void Start();
  // Stops and joins the threads; a check in progress ends within its
  // time-out. Idempotent.
  void Stop();

  // Every probe passed its last check (true without probes).
  bool serving() const;
  // Each probe's last result, in the order given.
  std::vector<DependencyState> States() const;

 private:
  void CheckOne(size_t index);
  void Loop(size_t index);
  void Record(size_t index, absl::Status status) ABSL_LOCKS_EXCLUDED(mu_);
  bool AllOk() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::vector<DependencyProbe> probes_;
  const DependencyHealthOptions options_;
  const ServingSink serving_sink_;
  const ResultSink result_sink_;
  mutable absl::Mutex mu_;
  std::vector<DependencyState> states_ ABSL_GUARDED_BY(mu_);
  int reported_ ABSL_GUARDED_BY(mu_) = -1;  // last serving value sent: -1 none
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

// "2s" → "took 2.5s, longer than its 2s time-out": the cause given to a
// check that returned OK but overran.
absl::Status OverranStatus(absl::Duration took, absl::Duration timeout);

}  // namespace mflsync

#endif  // MFLSYNC_COMMON_DEPENDENCY_HEALTH_H_
