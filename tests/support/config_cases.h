// The per-service configuration tests' one assertion: a table of bad
// configurations, each refused by --check-config and by start-up alike
// (exit 2, the same one-line message naming key, value and why).
#ifndef MFLSYNC_TESTS_SUPPORT_CONFIG_CASES_H_
#define MFLSYNC_TESTS_SUPPORT_CONFIG_CASES_H_

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "tests/support/run_process.h"

namespace mflsync::testing {

struct BadConfig {
  std::string what;                        // the case, for failure messages
  std::map<std::string, std::string> env;  // added to the base environment
  std::string message;                     // a part of the expected error line
};

// `base` alone passes --check-config (so each case fails for its own entry).
inline void ExpectAccepted(const std::string& binary,
                           const std::map<std::string, std::string>& base) {
  absl::StatusOr<Finished> check = RunToEnd({binary, "--check-config"}, base, absl::Seconds(10));
  ASSERT_TRUE(check.ok()) << check.status();
  EXPECT_EQ(check->exit_code, 0) << check->output;
}

inline void ExpectEachRefusedAlike(const std::string& binary,
                                   const std::map<std::string, std::string>& base,
                                   const std::vector<BadConfig>& cases) {
  for (const BadConfig& c : cases) {
    std::map<std::string, std::string> env = base;
    for (const auto& [name, value] : c.env) env[name] = value;
    absl::StatusOr<ConfigPaths> paths = RunBothConfigPaths(binary, env);
    ASSERT_TRUE(paths.ok()) << paths.status();
    EXPECT_EQ(paths->check.exit_code, 2) << c.what << ": --check-config: " << paths->check.output;
    EXPECT_EQ(paths->start.exit_code, 2) << c.what << ": start-up: " << paths->start.output;
    EXPECT_FALSE(paths->start.timed_out) << c.what << ": the service started";
    EXPECT_EQ(paths->check.output, paths->start.output) << c.what;
    EXPECT_NE(paths->check.output.find(c.message), std::string::npos)
        << c.what << ": expected '" << c.message << "' in: " << paths->check.output;
    EXPECT_EQ(std::count(paths->check.output.begin(), paths->check.output.end(), '\n'), 1)
        << c.what << ": one line: " << paths->check.output;
  }
}

}  // namespace mflsync::testing

#endif  // MFLSYNC_TESTS_SUPPORT_CONFIG_CASES_H_
