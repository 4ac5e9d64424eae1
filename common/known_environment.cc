#include "common/known_environment.h"

#include <algorithm>
#include <numeric>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"

namespace mflsync {
namespace {

constexpr absl::string_view kPrefix = "MFLSYNC_";
constexpr absl::string_view kPlaceholder = "<NAME>";

// Whether `name` is `pattern` with a non-empty part for its "<NAME>".
bool MatchesPlaceholder(absl::string_view pattern, absl::string_view name) {
  const size_t at = pattern.find(kPlaceholder);
  if (at == absl::string_view::npos) return pattern == name;
  absl::string_view before = pattern.substr(0, at);
  absl::string_view after = pattern.substr(at + kPlaceholder.size());
  return name.size() > before.size() + after.size() && absl::StartsWith(name, before) &&
         absl::EndsWith(name, after);
}

// The most edits a misspelling may be from what was meant.
size_t MaxSuggestionDistance(absl::string_view name) { return name.size() >= 20 ? 3 : 2; }

}  // namespace

size_t EditDistance(absl::string_view a, absl::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  std::iota(row.begin(), row.end(), 0);
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t substitution = diagonal + (a[i - 1] == b[j - 1] ? 0 : 1);
      diagonal = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, substitution});
    }
  }
  return row[b.size()];
}

KnownEnvironment::KnownEnvironment(std::vector<ConfigField> schema,
                                   std::vector<EnvironmentVariable> others)
    : schema_(std::move(schema)), others_(std::move(others)) {}

bool KnownEnvironment::Knows(const std::string& name) const {
  if (NamesConfigKey(schema_, name)) return true;
  return std::any_of(others_.begin(), others_.end(), [&](const EnvironmentVariable& v) {
    return MatchesPlaceholder(v.name, name);
  });
}

std::vector<std::string> KnownEnvironment::Candidates(const std::string& name) const {
  std::vector<std::string> out;
  const std::vector<std::string> segments =
      absl::StrSplit(absl::string_view(name).substr(std::min(name.size(), kPrefix.size())), "__");
  for (const ConfigField& field : schema_) {
    std::vector<std::string> pattern = absl::StrSplit(field.key, '.');
    if (absl::StrContains(field.key, "*")) {
      if (pattern.size() != segments.size()) continue;
      for (size_t i = 0; i < pattern.size(); ++i) {
        if (pattern[i] == "*") pattern[i] = absl::AsciiStrToLower(segments[i]);
      }
    }
    const std::string variable = EnvironmentName(absl::StrJoin(pattern, "."));
    out.push_back(variable);
    if (field.secret) out.push_back(absl::StrCat(variable, "_FILE"));
  }
  for (const EnvironmentVariable& v : others_) {
    if (!absl::StrContains(v.name, kPlaceholder)) out.push_back(v.name);
  }
  return out;
}

std::optional<std::string> KnownEnvironment::Suggest(const std::string& name) const {
  std::optional<std::string> best;
  size_t best_distance = MaxSuggestionDistance(name) + 1;
  for (const std::string& candidate : Candidates(name)) {
    const size_t distance = EditDistance(name, candidate);
    if (distance < best_distance) {
      best = candidate;
      best_distance = distance;
    }
  }
  return best;
}

absl::Status KnownEnvironment::Check(const std::map<std::string, std::string>& env) const {
  std::vector<std::string> unknown;
  for (const auto& [name, value] : env) {
    if (!absl::StartsWith(name, kPrefix) || Knows(name)) continue;
    std::optional<std::string> meant = Suggest(name);
    unknown.push_back(meant.has_value() ? absl::StrCat(name, " (did you mean ", *meant, "?)")
                                        : name);
  }
  if (unknown.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "environment: ", absl::StrJoin(unknown, ", "),
      unknown.size() == 1 ? " is not a variable" : " are not variables",
      " any part of mflsync reads (docs/configuration.md lists them; a misspelled one would "
      "be ignored)"));
}

std::string KnownEnvironment::OthersMarkdown() const {
  std::string out = "| variable | read by | what |\n|---|---|---|\n";
  for (const EnvironmentVariable& v : others_) {
    absl::StrAppend(&out, "| `", v.name, "` | ", v.reader, " | ", v.help, " |\n");
  }
  return out;
}

}  // namespace mflsync
