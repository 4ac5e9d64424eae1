#include "common/config.h"

#include <unistd.h>

#include <fstream>
#include <optional>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "common/fhir.h"
#include "common/log.h"

extern char** environ;

namespace mflsync {
namespace {

bool MatchesPattern(absl::string_view pattern, absl::string_view key,
                    std::string* name) {
  std::vector<absl::string_view> p = absl::StrSplit(pattern, '.');
  std::vector<absl::string_view> k = absl::StrSplit(key, '.');
  if (p.size() != k.size()) return false;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] == "*") {
      if (k[i].empty()) return false;
      if (name != nullptr) *name = std::string(k[i]);
    } else if (p[i] != k[i]) {
      return false;
    }
  }
  return true;
}

bool ValidName(absl::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  for (char c : name) {
    if (!(absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '_'))
      return false;
  }
  return !absl::StrContains(name, "__");
}


// Flattens nested JSON objects into dotted keys.
absl::Status Flatten(const nlohmann::json& node, const std::string& prefix,
                     const std::string& file,
                     std::map<std::string, std::string>* out) {
  for (auto it = node.begin(); it != node.end(); ++it) {
    std::string key = prefix.empty() ? it.key() : absl::StrCat(prefix, ".", it.key());
    if (it->is_object()) {
      absl::Status s = Flatten(*it, key, file, out);
      if (!s.ok()) return s;
    } else if (it->is_string()) {
      (*out)[key] = it->get<std::string>();
    } else if (it->is_boolean()) {
      (*out)[key] = it->get<bool>() ? "true" : "false";
    } else if (it->is_number_integer()) {
      (*out)[key] = std::to_string(it->get<int64_t>());
    } else if (it->is_null()) {
      (*out)[key] = "";
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          file, ": key '", key, "' has a ", it->type_name(),
          " value; expected a string, a whole number or a boolean"));
    }
  }
  return absl::OkStatus();
}

// An environment variable's schema key: exact keys, then "*" patterns
// compared segment by segment on the upper-cased form.
struct EnvMatch {
  std::string key;
  const ConfigField* field;
};

std::optional<EnvMatch> MatchEnvName(const std::vector<ConfigField>& schema,
                                     const std::string& name) {
  for (const ConfigField& field : schema) {
    if (!absl::StrContains(field.key, "*")) {
      if (EnvironmentName(field.key) == name) return EnvMatch{field.key, &field};
      continue;
    }
    std::vector<std::string> psegs = absl::StrSplit(field.key, '.');
    std::vector<std::string> esegs = absl::StrSplit(absl::string_view(name).substr(8), "__");
    if (psegs.size() != esegs.size()) continue;
    bool match = true;
    std::string key;
    for (size_t i = 0; i < psegs.size() && match; ++i) {
      std::string seg;
      if (psegs[i] == "*") {
        seg = absl::AsciiStrToLower(esegs[i]);
        if (!ValidName(seg)) match = false;
      } else {
        seg = psegs[i];
        if (absl::AsciiStrToUpper(seg) != esegs[i]) match = false;
      }
      key = key.empty() ? seg : absl::StrCat(key, ".", seg);
    }
    if (match) return EnvMatch{key, &field};
  }
  return std::nullopt;
}

// A secret from the file `path` named by the variable `name`: its content
// less one trailing line end. Errors name the variable and the file, never
// the content.
absl::StatusOr<std::string> ReadSecretFile(const std::string& name, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return absl::InvalidArgumentError(
        absl::StrCat("environment ", name, ": file ", path, " cannot be read"));
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string secret = buffer.str();
  if (absl::EndsWith(secret, "\n")) secret.pop_back();
  if (absl::EndsWith(secret, "\r")) secret.pop_back();
  if (secret.empty())
    return absl::InvalidArgumentError(
        absl::StrCat("environment ", name, ": file ", path, " is empty"));
  return secret;
}

// The offset of the first C0 control character or DEL, or npos.
size_t FirstControlCharacter(absl::string_view value) {
  for (size_t i = 0; i < value.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(value[i]);
    if (c < 0x20 || c == 0x7F) return i;
  }
  return std::string::npos;
}

// The value as an error may show it: secrets never, a URL without its query
// and fragment (they may hold a token), control characters escaped.
std::string ShownValue(const ConfigField& field, const std::string& value) {
  if (field.secret) return "[REDACTED]";
  std::string v = value;
  if (field.type == ConfigType::kUrl) v = v.substr(0, v.find_first_of("?#"));
  return absl::CHexEscape(Redact(v));
}

// Why `value` is not a URL a setting may hold; empty when it is.
std::string UrlError(const std::string& value) {
  if (!absl::StartsWith(value, "http://") && !absl::StartsWith(value, "https://"))
    return "must start with http:// or https://";
  absl::string_view rest = absl::string_view(value).substr(value.find("://") + 3);
  absl::string_view authority = rest.substr(0, rest.find('/'));
  if (authority.empty()) return "has no host";
  if (absl::StrContains(authority, "@"))
    return "must not carry credentials; use the auth settings";
  if (absl::StrContains(value, " ")) return "contains a space";
  if (absl::StrContains(value, "?"))
    return "must not carry a query (a token there would be logged); use the auth "
           "settings";
  if (absl::StrContains(value, "#")) return "must not carry a fragment";
  return "";
}

// Why the non-empty `value` is not of `field`'s type (or out of its range
// or choices); empty when it is.
std::string TypeError(const ConfigField& field, const std::string& value) {
  switch (field.type) {
    case ConfigType::kString:
      return "";
    case ConfigType::kInt: {
      int64_t v;
      if (!absl::SimpleAtoi(value, &v)) return "not a whole number";
      if (v < field.min || v > field.max)
        return absl::StrCat("must be between ", field.min, " and ", field.max);
      return "";
    }
    case ConfigType::kBool:
      return value != "true" && value != "false" ? "must be true or false" : "";
    case ConfigType::kDuration: {
      absl::Duration d;
      if (!absl::ParseDuration(value, &d) || d < absl::ZeroDuration())
        return "not a duration such as 500ms, 30s, 5m or 6h";
      return "";
    }
    case ConfigType::kAddress:
      return std::string(ValidateAddress(value).message());
    case ConfigType::kUrl:
      return UrlError(value);
    case ConfigType::kFile:
      return ::access(value.c_str(), R_OK) != 0 ? "file does not exist or is not readable" : "";
    case ConfigType::kEnum:
      for (const std::string& c : field.choices)
        if (c == value) return "";
      return absl::StrCat("must be one of ", absl::StrJoin(field.choices, ", "));
  }
  return "";
}

absl::Status CheckValue(const ConfigField& field, const std::string& value,
                        const std::string& where) {
  auto fail = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": ", field.key, " = '", ShownValue(field, value), "': ", why));
  };
  if (size_t bad = FirstControlCharacter(value); bad != std::string::npos)
    return fail(absl::StrCat("contains a control character (byte 0x",
                             absl::Hex(static_cast<unsigned char>(value[bad]), absl::kZeroPad2),
                             " at offset ", bad,
                             "); a setting is one line of printable text (values go into "
                             "HTTP headers, URLs and logs)"));
  if (value.empty()) {
    if (field.required)
      return fail(absl::StrCat("a value is required (set it in the config file or in ",
                               EnvironmentName(field.key), ")"));
    return absl::OkStatus();
  }
  const std::string why = TypeError(field, value);
  return why.empty() ? absl::OkStatus() : fail(why);
}

}  // namespace

std::string EnvironmentName(absl::string_view key) {
  return absl::StrCat("MFLSYNC_",
                      absl::AsciiStrToUpper(absl::StrReplaceAll(key, {{".", "__"}})));
}

bool NamesConfigKey(const std::vector<ConfigField>& schema, const std::string& name) {
  if (!absl::StartsWith(name, "MFLSYNC_")) return false;
  if (MatchEnvName(schema, name).has_value()) return true;
  if (!absl::EndsWith(name, "_FILE")) return false;
  std::optional<EnvMatch> base = MatchEnvName(schema, name.substr(0, name.size() - 5));
  return base.has_value() && base->field->secret;
}

absl::Status ValidateAddress(absl::string_view address) {
  size_t colon = address.rfind(':');
  if (colon == absl::string_view::npos || colon == 0)
    return absl::InvalidArgumentError("not host:port");
  absl::string_view host = address.substr(0, colon);
  absl::string_view port = address.substr(colon + 1);
  int p;
  if (port.empty() || !absl::SimpleAtoi(port, &p) || p < 0 || p > 65535)
    return absl::InvalidArgumentError("port must be a number from 0 to 65535");
  if (host.front() == '[') {
    if (host.back() != ']' || host.size() < 3)
      return absl::InvalidArgumentError("IPv6 host must be written [addr]");
    return absl::OkStatus();
  }
  for (char c : host) {
    if (!(absl::ascii_isalnum(c) || c == '.' || c == '-' || c == '_'))
      return absl::InvalidArgumentError(
          absl::StrCat("host contains '", std::string(1, c), "'"));
  }
  return absl::OkStatus();
}

std::map<std::string, std::string> Config::ProcessEnvironment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    absl::string_view entry(*e);
    size_t eq = entry.find('=');
    if (eq == absl::string_view::npos) continue;
    env.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
  }
  return env;
}

// The values the config file and the environment give, each with where it
// came from (for errors).
struct Config::Given {
  std::map<std::string, std::string> value;  // key → value
  std::map<std::string, std::string> where;  // key → origin
};

namespace {

// Adds the values of the JSON config file `file_path` to `value`, and where
// they came from to `where`.
absl::Status ReadConfigFile(const std::string& file_path,
                            std::map<std::string, std::string>* value,
                            std::map<std::string, std::string>* where) {
  std::ifstream in(file_path);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat("config file ", file_path, ": cannot be read"));
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  absl::StatusOr<nlohmann::json> parsed = ParseJson(buffer.str());
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("config file ", file_path, ": ", parsed.status().message()));
  }
  const nlohmann::json& doc = *parsed;
  if (!doc.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("config file ", file_path, ": must be a JSON object"));
  }
  std::map<std::string, std::string> flat;
  absl::Status s = Flatten(doc, "", file_path, &flat);
  if (!s.ok()) return s;
  for (auto& [key, v] : flat) {
    (*value)[key] = v;
    (*where)[key] = absl::StrCat("config file ", file_path);
  }
  return absl::OkStatus();
}

// Environment overrides: exact keys, then pattern keys with any name; a
// secret also from NAME_FILE (Docker secrets).
absl::Status ApplyEnvironment(const std::vector<ConfigField>& schema,
                              const std::map<std::string, std::string>& env,
                              std::map<std::string, std::string>* value,
                              std::map<std::string, std::string>* where) {
  for (const auto& [name, v] : env) {
    if (!absl::StartsWith(name, "MFLSYNC_")) continue;
    std::optional<EnvMatch> match = MatchEnvName(schema, name);
    if (match.has_value()) {
      (*value)[match->key] = v;
      (*where)[match->key] = absl::StrCat("environment ", name);
      continue;
    }
    if (!absl::EndsWith(name, "_FILE")) continue;
    std::string base = name.substr(0, name.size() - 5);
    match = MatchEnvName(schema, base);
    if (!match.has_value() || !match->field->secret) continue;
    if (env.count(base))
      return absl::InvalidArgumentError(
          absl::StrCat("environment: both ", base, " and ", name, " are set; set one"));
    absl::StatusOr<std::string> secret = ReadSecretFile(name, v);
    if (!secret.ok()) return secret.status();
    (*value)[match->key] = *secret;
    (*where)[match->key] = absl::StrCat("environment ", name, " (file ", v, ")");
  }
  return absl::OkStatus();
}

// The schema field of `key`: its own, or a "*" pattern's (the name matched
// goes to `name`); null when none.
const ConfigField* FindField(const std::vector<ConfigField>& schema, const std::string& key,
                             std::string* name) {
  for (const ConfigField& field : schema) {
    if (field.key == key || MatchesPattern(field.key, key, name)) return &field;
  }
  return nullptr;
}

}  // namespace

absl::StatusOr<Config> Config::Load(
    const std::vector<ConfigField>& schema, const std::string& file_path,
    const std::map<std::string, std::string>& env) {
  Config config;
  config.schema_ = schema;
  Given given;
  if (!file_path.empty()) {
    absl::Status s = ReadConfigFile(file_path, &given.value, &given.where);
    if (!s.ok()) return s;
  }
  absl::Status s = ApplyEnvironment(schema, env, &given.value, &given.where);
  if (s.ok()) s = config.Accept(given);
  if (s.ok()) s = config.ApplyDefaults();
  if (!s.ok()) return s;
  return config;
}

// Every given key must be known, and its value valid.
absl::Status Config::Accept(const Given& given) {
  for (const auto& [key, value] : given.value) {
    const std::string& where = given.where.at(key);
    std::string name;
    const ConfigField* found = FindField(schema_, key, &name);
    if (found == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": unknown key '", key,
                       "' (run with --print-schema for the known keys)"));
    }
    if (absl::StrContains(found->key, "*") && !ValidName(name)) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": key '", key, "': name '", name,
          "' must be 1-63 characters of a-z, 0-9 and _ (no double _)"));
    }
    if (found->env_only && absl::StartsWith(where, "config file"))
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": key '", key, "' is a secret kept out of the file: set it with the "
          "environment (MFLSYNC_... or MFLSYNC_..._FILE)"));
    absl::Status s = CheckValue(*found, value, where);
    if (!s.ok()) return s;
    values_[key] = value;
    secret_[key] = found->secret;
    if (found->secret) RegisterSecret(value);
  }
  return absl::OkStatus();
}

// Defaults, and required keys. For "*" patterns, defaults apply per name.
absl::Status Config::ApplyDefaults() {
  for (const ConfigField& field : schema_) {
    if (!absl::StrContains(field.key, "*")) {
      absl::Status s = ApplyDefault(field, field.key, "default");
      if (!s.ok()) return s;
      continue;
    }
    std::string prefix = field.key.substr(0, field.key.find('*'));
    std::string prefix_dotless = prefix.substr(0, prefix.size() - 1);
    for (const std::string& name : Names(prefix_dotless)) {
      std::string key = absl::StrReplaceAll(field.key, {{"*", name}});
      absl::Status s = ApplyDefault(field, key, "configuration");
      if (!s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

// Gives `key` (of `field`) its default unless it has a value; the default
// must be valid too (a required key without one is an error from `where`).
absl::Status Config::ApplyDefault(const ConfigField& field, const std::string& key,
                                  const std::string& where) {
  if (values_.count(key)) return absl::OkStatus();
  ConfigField concrete = field;
  concrete.key = key;
  absl::Status s = CheckValue(concrete, field.default_value, where);
  if (!s.ok()) return s;
  values_[key] = field.default_value;
  secret_[key] = field.secret;
  return absl::OkStatus();
}

std::string Config::GetString(absl::string_view key) const {
  auto it = values_.find(std::string(key));
  return it == values_.end() ? std::string() : it->second;
}

int64_t Config::GetInt(absl::string_view key) const {
  int64_t v = 0;
  if (!absl::SimpleAtoi(GetString(key), &v)) return 0;
  return v;
}

bool Config::GetBool(absl::string_view key) const { return GetString(key) == "true"; }

absl::Duration Config::GetDuration(absl::string_view key) const {
  absl::Duration d = absl::ZeroDuration();
  if (!absl::ParseDuration(GetString(key), &d)) return absl::ZeroDuration();
  return d;
}

std::vector<std::string> Config::Names(absl::string_view prefix) const {
  std::set<std::string> names;
  std::string p = absl::StrCat(prefix, ".");
  for (const auto& [key, value] : values_) {
    if (!absl::StartsWith(key, p)) continue;
    absl::string_view rest = absl::string_view(key).substr(p.size());
    size_t dot = rest.find('.');
    if (dot == absl::string_view::npos) continue;
    names.insert(std::string(rest.substr(0, dot)));
  }
  return {names.begin(), names.end()};
}

std::string Config::DescribeRedacted() const {
  std::string out;
  for (const auto& [key, value] : values_) {
    auto f = secret_.find(key);
    bool secret = f != secret_.end() && f->second;
    absl::StrAppend(&out, key, " = ",
                    secret && !value.empty() ? "[REDACTED]" : Redact(value), "\n");
  }
  return out;
}

std::string Config::SchemaMarkdown(const std::vector<ConfigField>& schema) {
  auto type_name = [](const ConfigField& f) -> std::string {
    switch (f.type) {
      case ConfigType::kString: return "string";
      case ConfigType::kInt:
        return absl::StrCat("integer ", f.min, "..", f.max);
      case ConfigType::kBool: return "bool";
      case ConfigType::kDuration: return "duration";
      case ConfigType::kAddress: return "host:port";
      case ConfigType::kUrl: return "URL";
      case ConfigType::kFile: return "file";
      case ConfigType::kEnum: return absl::StrJoin(f.choices, " \\| ");
    }
    return "string";
  };
  std::string out =
      "| key | environment | type | default | description |\n|---|---|---|---|---|\n";
  for (const ConfigField& f : schema) {
    absl::StrAppend(&out, "| `", f.key, "` | `", EnvironmentName(f.key), "` | ",
                    type_name(f), " | ",
                    f.default_value.empty() ? "" : absl::StrCat("`", f.default_value, "`"),
                    " | ", f.help, f.required ? " Required." : "",
                    f.secret ? absl::StrCat(" Secret: never logged; or from the file named by `",
                                            EnvironmentName(f.key), "_FILE`.")
                             : "",
                    f.env_only ? " Not in the config file: environment only." : "",
                    " |\n");
  }
  return out;
}

}  // namespace mflsync
