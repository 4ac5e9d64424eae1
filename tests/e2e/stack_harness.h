// Runs the real mflsync stack for end-to-end tests: the MFL and openIMIS
// Python stand-ins and the four service binaries as child processes on
// loopback ports (port 0 + ready files), each with a generated JSON config,
// plus HTTP helpers for the stand-ins' $testbed API.
#ifndef MFLSYNC_TESTS_E2E_STACK_HARNESS_H_
#define MFLSYNC_TESTS_E2E_STACK_HARNESS_H_

#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "mflsync/v1/scheduler.grpc.pb.h"

namespace mflsync::e2e {

int DefaultFacilities();

// A child process; stdout and stderr go to `log_path`. The destructor stops
// it (SIGTERM, then SIGKILL after 10 s).
class Process {
 public:
  static absl::StatusOr<std::unique_ptr<Process>> Spawn(const std::vector<std::string>& argv,
                                                        const std::string& log_path);
  ~Process();
  void Signal(int sig);
  // Waits for the exit; returns the exit code (128 + signal when killed).
  int Wait();
  pid_t pid() const { return pid_; }

 private:
  explicit Process(pid_t pid) : pid_(pid) {}
  pid_t pid_;
  bool reaped_ = false;
};

struct StackOptions {
  // MFLSYNC_E2E_FACILITIES overrides the default (e.g. 5000 for the demo size).
  int synthetic_facilities = DefaultFacilities();
  int mfl_page_size_default = 100;
  std::string mapping_file;  // default: mapper/mappings/synthetic.json
  std::map<std::string, nlohmann::json> extra_config;  // by service name
  // Also the openHIM stand-in ("openhim": its API; "openhim_router") and the
  // mediator registered with it ("mediator").
  bool with_mediator = false;
};

class Stack {
 public:
  // Source and build paths come from compile definitions.
  explicit Stack(StackOptions options);
  ~Stack();

  // Starts everything; the error names the process and the tail of its log.
  absl::Status Start();
  // Starts or stops one service ("fetcher", "mapper", "writer", "scheduler").
  absl::Status StartService(const std::string& name);
  // Sends `sig` and waits for the exit.
  int StopService(const std::string& name, int sig);

  // The JSON configuration a service gets (edit before StartService).
  nlohmann::json& config(const std::string& name) { return configs_[name]; }

  std::unique_ptr<v1::SchedulerService::Stub> Scheduler();
  std::string scheduler_address() const { return addresses_.at("scheduler"); }
  // host:port of a service or stand-in ("writer", "openimis", ...).
  std::string address(const std::string& name) const { return addresses_.at(name); }
  // The bearer token the services admit (every role).
  std::string token() const;

  // Stops a stand-in ("mfl", "openimis" or "openhim") with SIGTERM, or starts it again
  // on the port it had (its data kept): an outside system going down and
  // coming back.
  absl::Status StopStandIn(const std::string& name);
  absl::Status StartStandIn(const std::string& name);

  // HTTP to a stand-in: `server` is "mfl" or "openimis"; `path` starts with /.
  absl::StatusOr<nlohmann::json> Http(const std::string& server, const std::string& method,
                                      const std::string& path,
                                      const nlohmann::json& body = nullptr);

  // openIMIS facilities as the stand-in holds them, by HF code.
  absl::StatusOr<std::map<std::string, nlohmann::json>> OpenImisFacilities();
  // Every facility Location the MFL serves now, by id.
  absl::StatusOr<std::map<std::string, nlohmann::json>> MflFacilities();

  // Triggers a sync and waits for its end (WatchRun); returns the run.
  absl::StatusOr<v1::Run> SyncAndWait(bool full, absl::Duration timeout = absl::Minutes(5),
                                       bool dry_run = false);
  // Waits for a run's end by polling GetRun.
  absl::StatusOr<v1::Run> WaitRun(const std::string& run_id,
                                  absl::Duration timeout = absl::Minutes(5));
  absl::StatusOr<std::vector<v1::Failure>> Failures(
      v1::FailureState state = v1::FAILURE_STATE_OPEN);

  const std::string& dir() const { return dir_; }
  std::string LogTail(const std::string& name, int lines = 30) const;

 private:
  absl::Status StartStandIns();
  // The openHIM stand-in on the ports it had (free ones the first time).
  absl::Status StartOpenHim();
  // The openHIM stand-in, then the mediator registered with it.
  absl::Status StartMediator();
  std::vector<std::string> StandInArgv(const std::string& name, const std::string& port);
  absl::StatusOr<std::string> WaitReady(const std::string& name, const std::string& ready_file);

  StackOptions options_;
  std::string dir_;
  std::map<std::string, std::unique_ptr<Process>> processes_;
  std::map<std::string, std::string> addresses_;  // name → host:port
  std::map<std::string, nlohmann::json> configs_;
};

}  // namespace mflsync::e2e

#endif  // MFLSYNC_TESTS_E2E_STACK_HARNESS_H_
