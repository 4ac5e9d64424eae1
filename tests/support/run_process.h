// A service binary run to its end with an environment of the test's choosing
// (nothing inherited), for the configuration tests: --check-config and
// start-up must refuse the same configurations with the same message.
#ifndef MFLSYNC_TESTS_SUPPORT_RUN_PROCESS_H_
#define MFLSYNC_TESTS_SUPPORT_RUN_PROCESS_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace mflsync::testing {

struct Finished {
  int exit_code = -1;      // -1 when killed after the time-out
  std::string output;      // stdout and stderr
  bool timed_out = false;  // still running after the time-out (a service that started)
};

// Runs `argv` (argv[0] a path) with exactly `env`; kills it after `timeout`.
absl::StatusOr<Finished> RunToEnd(const std::vector<std::string>& argv,
                                  const std::map<std::string, std::string>& env,
                                  absl::Duration timeout);

// The two ways a service reads its configuration.
struct ConfigPaths {
  Finished check;  // `binary --check-config`
  Finished start;  // `binary`
};

// Runs `binary --check-config`, then `binary`, each with `env`; a service
// that starts is stopped after `timeout`.
absl::StatusOr<ConfigPaths> RunBothConfigPaths(const std::string& binary,
                                               const std::map<std::string, std::string>& env,
                                               absl::Duration timeout = absl::Seconds(10));

}  // namespace mflsync::testing

#endif  // MFLSYNC_TESTS_SUPPORT_RUN_PROCESS_H_
