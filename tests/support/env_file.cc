#include "tests/support/env_file.h"

#include <cstdlib>
#include <fstream>

#include "absl/strings/str_cat.h"

namespace mflsync::testing {

absl::StatusOr<EnvValues> ReadEnvFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(path, " does not exist"));
  EnvValues values;
  std::string line;
  while (std::getline(in, line)) {
    const size_t eq = line.find('=');
    if (eq != std::string::npos && eq > 0) values[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return values;
}

absl::StatusOr<EnvValues> ReadEnvFileNamedBy(const char* env_var, const std::string& fixture) {
  const char* path = std::getenv(env_var);
  if (path == nullptr || *path == '\0')
    return absl::FailedPreconditionError(absl::StrCat(env_var, " is not set"));
  absl::StatusOr<EnvValues> values = ReadEnvFile(path);
  if (values.status().code() == absl::StatusCode::kNotFound)
    return absl::NotFoundError(absl::StrCat(values.status().message(), " (the fixture test ",
                                            fixture, " skipped or failed: see its output; it "
                                            "needs ../shared/peers)"));
  return values;
}

}  // namespace mflsync::testing
