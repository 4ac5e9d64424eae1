// A child process for tests (the Python stand-ins): started with fork + exec
// so that it dies with the test process (PR_SET_PDEATHSIG) even when a test
// crashes, its output kept in a log file, stopped with SIGTERM (SIGKILL after
// a grace period) when the object goes away.
#ifndef MFLSYNC_TESTS_SUPPORT_CHILD_PROCESS_H_
#define MFLSYNC_TESTS_SUPPORT_CHILD_PROCESS_H_

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace mflsync::testing {

class ChildProcess {
 public:
  // Runs argv[0] (looked up on PATH) with `argv`; stdout and stderr go to
  // `log_path`.
  static absl::StatusOr<std::unique_ptr<ChildProcess>> Start(
      const std::vector<std::string>& argv, const std::string& log_path);
  ~ChildProcess();  // Stop(absl::Seconds(5))

  // Waits until the file at `path` exists and `ready` accepts its content,
  // and returns that content. Fails naming `what` and the log when the child
  // exits first, or when `timeout` passes.
  absl::StatusOr<std::string> WaitForFile(
      const std::string& path, const std::function<bool(const std::string&)>& ready,
      absl::Duration timeout, absl::string_view what);

  // SIGTERM, then SIGKILL after `grace`; idempotent.
  void Stop(absl::Duration grace);

  pid_t pid() const { return pid_; }

 private:
  ChildProcess(pid_t pid, std::string log_path) : pid_(pid), log_path_(std::move(log_path)) {}
  pid_t pid_;
  std::string log_path_;
};

// A fresh directory under /tmp named after `prefix`.
absl::StatusOr<std::string> MakeTempDir(absl::string_view prefix);

}  // namespace mflsync::testing

#endif  // MFLSYNC_TESTS_SUPPORT_CHILD_PROCESS_H_
