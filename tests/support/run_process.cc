#include "tests/support/run_process.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace mflsync::testing {
namespace {

// Execs `argv` with `env`, its output to `fd` (in the child; never returns).
[[noreturn]] void ExecChild(std::vector<std::string> argv, std::vector<std::string> env,
                            int fd, pid_t parent) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(126);
  dup2(fd, 1);
  dup2(fd, 2);
  close(fd);
  std::vector<char*> c_argv;
  for (std::string& a : argv) c_argv.push_back(a.data());
  c_argv.push_back(nullptr);
  std::vector<char*> c_env;
  for (std::string& e : env) c_env.push_back(e.data());
  c_env.push_back(nullptr);
  execve(c_argv[0], c_argv.data(), c_env.data());
  _exit(127);
}

// Waits for `pid` until `timeout`, then kills it.
Finished Await(pid_t pid, absl::Duration timeout) {
  Finished done;
  const absl::Time deadline = absl::Now() + timeout;
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (absl::Now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      done.timed_out = true;
      return done;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  done.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return done;
}

}  // namespace

absl::StatusOr<Finished> RunToEnd(const std::vector<std::string>& argv,
                                  const std::map<std::string, std::string>& env,
                                  absl::Duration timeout) {
  if (argv.empty()) return absl::InvalidArgumentError("no program to run");
  char path[] = "/tmp/mflsync-run-XXXXXX";
  const int fd = mkstemp(path);
  if (fd < 0) return absl::InternalError("mkstemp failed");
  std::vector<std::string> entries;
  for (const auto& [name, value] : env) entries.push_back(absl::StrCat(name, "=", value));
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) ExecChild(argv, entries, fd, parent);
  close(fd);
  Finished done = Await(pid, timeout);
  std::ifstream in(path);
  std::stringstream output;
  output << in.rdbuf();
  done.output = output.str();
  unlink(path);
  return done;
}

absl::StatusOr<ConfigPaths> RunBothConfigPaths(const std::string& binary,
                                               const std::map<std::string, std::string>& env,
                                               absl::Duration timeout) {
  absl::StatusOr<Finished> check = RunToEnd({binary, "--check-config"}, env, timeout);
  if (!check.ok()) return check.status();
  absl::StatusOr<Finished> start = RunToEnd({binary}, env, timeout);
  if (!start.ok()) return start.status();
  return ConfigPaths{*std::move(check), *std::move(start)};
}

}  // namespace mflsync::testing
