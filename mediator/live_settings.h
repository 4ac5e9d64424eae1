// The mediator's settings that an administrator edits in the openHIM console:
// their openHIM configDefs, validation of a config object from openHIM, and a
// thread-safe current value that push and sync read on every request.
#ifndef MFLSYNC_MEDIATOR_LIVE_SETTINGS_H_
#define MFLSYNC_MEDIATOR_LIVE_SETTINGS_H_

#include <cstdint>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace mflsync::mediator {

// One consistent set of live settings.
struct Settings {
  // Push mode on: false answers every push with status Failed.
  bool push_enabled = true;
  // Most entries accepted in one pushed Bundle (1..100000).
  int64_t push_max_entries = 1000;
  // Scheduler source that POST /sync triggers; empty selects the only one.
  std::string sync_source;
  // Log level: debug, info, warning or error.
  std::string log_level = "info";
  // Password that openHIM's routes send (Basic auth, user "openhim") to the
  // mediator's /push and /sync endpoints; empty accepts unauthenticated
  // calls. A secret (configDef type password).
  std::string endpoint_password;
};

// The openHIM `configDefs` describing Settings (param names use
// underscores: push_enabled, push_max_entries, sync_source, log_level,
// endpoint_password).
nlohmann::json SettingsConfigDefs();

// Settings as an openHIM `config` object.
nlohmann::json SettingsToConfig(const Settings& settings);

// Applies an openHIM `config` object onto `base`: unknown params, wrong
// types and out-of-range values are errors naming the param (values are
// never echoed for the password). Params absent from `config` keep `base`.
absl::StatusOr<Settings> SettingsFromConfig(const nlohmann::json& config,
                                            const Settings& base);

// The current settings, shared by the HTTP handlers and the heartbeat.
class LiveSettings {
 public:
  // `on_log_level` (may be empty) is called with the new level when it
  // changes, to re-initialise logging.
  LiveSettings(Settings initial, std::function<void(const std::string&)> on_log_level);
  Settings Get() const;
  // Validates and installs a config from openHIM; on success registers the
  // password as a secret and logs what changed (without secrets). Returns
  // true when something changed. Precedence (mediator/README.md): openHIM's
  // values win, except that an empty endpoint_password never replaces a
  // set one (kept, with a warning).
  absl::StatusOr<bool> Apply(const nlohmann::json& config);

 private:
  std::function<void(const std::string&)> on_log_level_;
  mutable absl::Mutex mu_;
  Settings current_ ABSL_GUARDED_BY(mu_);
};

}  // namespace mflsync::mediator

#endif  // MFLSYNC_MEDIATOR_LIVE_SETTINGS_H_
