#include "mediator/live_settings.h"

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace mflsync::mediator {
namespace {

constexpr int64_t kMaxPushEntries = 100000;

absl::Status TypeError(const std::string& param, const char* what) {
  return absl::InvalidArgumentError(
      absl::StrCat("openHIM config param '", param, "' must be ", what));
}

}  // namespace

nlohmann::json SettingsConfigDefs() {
  return nlohmann::json::array({
      {{"param", "push_enabled"},
       {"displayName", "Push mode enabled"},
       {"description", "Accept FHIR Bundles pushed by the MFL through the push channel; "
                       "when off, pushes are answered Failed."},
       {"type", "bool"}},
      {{"param", "push_max_entries"},
       {"displayName", "Most entries per pushed Bundle"},
       {"description", "A pushed Bundle with more entries is refused as a whole (1-100000)."},
       {"type", "number"}},
      {{"param", "sync_source"},
       {"displayName", "Source triggered by /sync"},
       {"description", "Scheduler source name that the sync channel triggers; empty selects "
                       "the only configured source."},
       {"type", "string"}},
      {{"param", "log_level"},
       {"displayName", "Log level"},
       {"description", "Verbosity of the mediator's log."},
       {"type", "option"},
       {"values", {"debug", "info", "warning", "error"}}},
      {{"param", "endpoint_password"},
       {"displayName", "Endpoint password"},
       {"description", "Basic-auth password (user 'openhim') that the mediator requires on "
                       "/push and /sync; set the same on the channels' routes. Empty: no "
                       "authentication."},
       {"type", "password"}},
  });
}

nlohmann::json SettingsToConfig(const Settings& s) {
  return {{"push_enabled", s.push_enabled},
          {"push_max_entries", s.push_max_entries},
          {"sync_source", s.sync_source},
          {"log_level", s.log_level},
          {"endpoint_password", s.endpoint_password}};
}

absl::StatusOr<Settings> SettingsFromConfig(const nlohmann::json& config,
                                            const Settings& base) {
  if (!config.is_object())
    return absl::InvalidArgumentError(absl::StrCat(
        "openHIM config must be a JSON object, got ", config.type_name()));
  Settings out = base;
  for (const auto& [param, value] : config.items()) {
    if (param == "push_enabled") {
      if (!value.is_boolean()) return TypeError(param, "a boolean");
      out.push_enabled = value.get<bool>();
    } else if (param == "push_max_entries") {
      if (!value.is_number()) return TypeError(param, "a number");
      double v = value.get<double>();
      if (!(v >= 1 && v <= kMaxPushEntries) || std::floor(v) != v)
        return absl::InvalidArgumentError(absl::StrCat(
            "openHIM config param 'push_max_entries' = ", value.dump(),
            " must be a whole number from 1 to ", kMaxPushEntries));
      out.push_max_entries = static_cast<int64_t>(v);
    } else if (param == "sync_source") {
      if (!value.is_string()) return TypeError(param, "a string");
      std::string v = value.get<std::string>();
      if (v.size() > 64)
        return absl::InvalidArgumentError(
            "openHIM config param 'sync_source' is longer than 64 characters");
      out.sync_source = v;
    } else if (param == "log_level") {
      if (!value.is_string()) return TypeError(param, "a string");
      std::string v = value.get<std::string>();
      LogLevel level;
      if (!ParseLogLevel(v, &level).ok())
        return absl::InvalidArgumentError(absl::StrCat(
            "openHIM config param 'log_level' = '", v.substr(0, 32),
            "' must be debug, info, warning or error"));
      out.log_level = v;
    } else if (param == "endpoint_password") {
      if (!value.is_string()) return TypeError(param, "a string");
      out.endpoint_password = value.get<std::string>();
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "openHIM config param '", param.substr(0, 64),
          "' is not one of the mediator's settings (push_enabled, push_max_entries, "
          "sync_source, log_level, endpoint_password)"));
    }
  }
  return out;
}

LiveSettings::LiveSettings(Settings initial,
                           std::function<void(const std::string&)> on_log_level)
    : on_log_level_(std::move(on_log_level)), current_(std::move(initial)) {
  RegisterSecret(current_.endpoint_password);
}

Settings LiveSettings::Get() const {
  absl::MutexLock lock(&mu_);
  return current_;
}

absl::StatusOr<bool> LiveSettings::Apply(const nlohmann::json& config) {
  Settings before, after;
  bool kept_secret = false;
  {
    absl::MutexLock lock(&mu_);
    before = current_;
    absl::StatusOr<Settings> next = SettingsFromConfig(config, current_);
    if (!next.ok()) return next.status();
    if (next->endpoint_password.empty() && !current_.endpoint_password.empty()) {
      next->endpoint_password = current_.endpoint_password;
      kept_secret = true;
    }
    RegisterSecret(next->endpoint_password);
    current_ = *next;
    after = current_;
  }
  if (kept_secret)
    LogWarning(
        "openHIM holds an empty endpoint_password; keeping the mediator's (a secret is never "
        "emptied from openHIM: authentication on /push and /sync stays on). To turn "
        "authentication off, empty it in the console and in the mediator's configuration "
        "(endpoint_password), then restart the mediator");
  nlohmann::json changed = nlohmann::json::object();
  if (before.push_enabled != after.push_enabled) changed["push_enabled"] = after.push_enabled;
  if (before.push_max_entries != after.push_max_entries)
    changed["push_max_entries"] = after.push_max_entries;
  if (before.sync_source != after.sync_source) changed["sync_source"] = after.sync_source;
  if (before.log_level != after.log_level) changed["log_level"] = after.log_level;
  if (before.endpoint_password != after.endpoint_password)
    changed["endpoint_password_changed"] = true;
  if (changed.empty()) return false;
  if (before.log_level != after.log_level && on_log_level_) on_log_level_(after.log_level);
  LogInfo("settings changed in openHIM applied", {{"changed", changed}});
  return true;
}

}  // namespace mflsync::mediator
