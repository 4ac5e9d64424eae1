// The MFLSYNC_* environment variables the suite reads, so that a service
// refuses to start on one nobody reads: a misspelled secret variable would
// otherwise be silently ignored. One environment may serve every service, the
// mflsync command and the scripts (compose's env files, scripts/stack.sh),
// so the list is the whole suite's (suite/suite_environment.h builds it from
// every module's schema), never one service's.
#ifndef MFLSYNC_COMMON_KNOWN_ENVIRONMENT_H_
#define MFLSYNC_COMMON_KNOWN_ENVIRONMENT_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/config.h"

namespace mflsync {

// A variable outside every configuration schema that part of the suite
// reads. A "<NAME>" in `name` stands for a part the user chooses
// (MFLSYNC_E2E_<NAME>_BIN).
struct EnvironmentVariable {
  std::string name;
  std::string reader;  // who reads it: "mflsync (CLI)", "scripts/stack.sh", …
  std::string help;    // one line
};

class KnownEnvironment {
 public:
  KnownEnvironment(std::vector<ConfigField> schema, std::vector<EnvironmentVariable> others);

  // Whether some part of the suite reads `name`.
  bool Knows(const std::string& name) const;

  // OK when every MFLSYNC_* variable of `env` is known. Else InvalidArgument
  // naming each unknown one (never its value), with "did you mean X?" when a
  // known name is a few edits away.
  absl::Status Check(const std::map<std::string, std::string>& env) const;

  // The known name closest to `name` within a small edit distance, if any.
  std::optional<std::string> Suggest(const std::string& name) const;

  // Markdown table of the variables outside the schemas.
  std::string OthersMarkdown() const;

 private:
  // The known names a misspelling of `name` may have meant: every plain
  // key's variable, each "*" pattern with `name`'s own segments in place of
  // the "*", and the other variables.
  std::vector<std::string> Candidates(const std::string& name) const;

  std::vector<ConfigField> schema_;
  std::vector<EnvironmentVariable> others_;
};

// The Levenshtein distance between `a` and `b` (insertions, deletions and
// substitutions of one byte each).
size_t EditDistance(absl::string_view a, absl::string_view b);

}  // namespace mflsync

#endif  // MFLSYNC_COMMON_KNOWN_ENVIRONMENT_H_
