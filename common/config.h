// A service's configuration: a JSON file plus MFLSYNC_* environment
// overrides, checked against a declared schema at start-up so that a typo or
// a bad value stops the service with one line that says what and where.
#ifndef MFLSYNC_COMMON_CONFIG_H_
#define MFLSYNC_COMMON_CONFIG_H_

#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace mflsync {

enum class ConfigType {
  kString,
  kInt,
  kBool,
  kDuration,  // "250ms", "30s", "5m", "6h"
  kAddress,   // "host:port" (IPv4, [IPv6] or a DNS name; port 0-65535)
  kUrl,       // http:// or https:// URL without credentials, query or fragment
  kFile,      // path of a readable file; empty when unset
  kEnum,      // one of `choices`
};

// One configuration key. Keys are dotted ("mfl.base_url"); a "*" segment
// stands for a name the user chooses ("sources.*.base_url").
struct ConfigField {
  std::string key;
  ConfigType type = ConfigType::kString;
  std::string default_value;  // as text, validated like user input
  std::string help;
  bool secret = false;     // never logged, never echoed in errors
  // Refused in the config file: only from the environment (or its _FILE),
  // for a secret that must never sit in clear in the file.
  bool env_only = false;
  bool required = false;   // must be non-empty after defaults and overrides
  std::vector<std::string> choices;  // kEnum only
  int64_t min = std::numeric_limits<int64_t>::min();  // kInt only
  int64_t max = std::numeric_limits<int64_t>::max();  // kInt only
};

class Config {
 public:
  // Loads `file_path` (empty: no file, defaults only), applies overrides from
  // `env` (MFLSYNC_ + key upper-cased with "." → "__"; variables that name no
  // key are ignored so that one environment can serve every service), then
  // validates every value. A secret key can also come from a file named by
  // its variable plus _FILE (MFLSYNC_OPENIMIS__PASSWORD_FILE; Docker
  // secrets), not both. No value may hold a control character; URLs carry
  // no credentials, query or fragment. Errors name the file or variable and
  // the key, never a secret.
  static absl::StatusOr<Config> Load(const std::vector<ConfigField>& schema,
                                     const std::string& file_path,
                                     const std::map<std::string, std::string>& env);

  // The current process environment as a map.
  static std::map<std::string, std::string> ProcessEnvironment();

  // Values; the key must be in the schema (or match a "*" pattern with a
  // name in Names()). Unknown keys return the empty value.
  std::string GetString(absl::string_view key) const;
  int64_t GetInt(absl::string_view key) const;
  bool GetBool(absl::string_view key) const;
  absl::Duration GetDuration(absl::string_view key) const;

  // Names used for a "*" segment, e.g. Names("sources") → {"kenya"}.
  std::vector<std::string> Names(absl::string_view prefix) const;

  // Every value, secrets shown as "[REDACTED]" (for --check-config).
  std::string DescribeRedacted() const;

  // Markdown table of the schema (for docs and --print-schema).
  static std::string SchemaMarkdown(const std::vector<ConfigField>& schema);

 private:
  struct Given;
  absl::Status Accept(const Given& given);
  absl::Status ApplyDefaults();
  absl::Status ApplyDefault(const ConfigField& field, const std::string& key,
                            const std::string& where);

  std::map<std::string, std::string> values_;
  std::map<std::string, bool> secret_;  // key → is it a secret
  std::vector<ConfigField> schema_;
};

// The environment variable of `key`: MFLSYNC_ + the key upper-cased with
// each "." written "__" (sources.*.base_url → MFLSYNC_SOURCES__*__BASE_URL).
std::string EnvironmentName(absl::string_view key);

// Whether the variable `name` sets a key of `schema` as Config::Load reads
// it: the key's variable (a "*" segment standing for any valid name), or a
// secret key's variable plus _FILE.
bool NamesConfigKey(const std::vector<ConfigField>& schema, const std::string& name);

// Validates "host:port"; the error says why.
absl::Status ValidateAddress(absl::string_view address);

}  // namespace mflsync

#endif  // MFLSYNC_COMMON_CONFIG_H_
