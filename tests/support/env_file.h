// Test helper: reads the KEY=VALUE files that the testbed start scripts
// write (testbed/openimis-real's openimis.env, testbed/openhim-real's
// openhim.env), and names the fixture to look at when one is missing.
#ifndef MFLSYNC_TESTS_SUPPORT_ENV_FILE_H_
#define MFLSYNC_TESTS_SUPPORT_ENV_FILE_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"

namespace mflsync::testing {

using EnvValues = std::map<std::string, std::string>;

// The KEY=VALUE lines of `path` (no quoting; other lines ignored).
// NOT_FOUND when the file does not exist.
absl::StatusOr<EnvValues> ReadEnvFile(const std::string& path);

// ReadEnvFile of the path in environment variable `env_var`:
// FAILED_PRECONDITION when it is unset, NOT_FOUND (naming `fixture`, whose
// output says why it skipped or failed) when the file is absent.
absl::StatusOr<EnvValues> ReadEnvFileNamedBy(const char* env_var, const std::string& fixture);

}  // namespace mflsync::testing

#endif  // MFLSYNC_TESTS_SUPPORT_ENV_FILE_H_
