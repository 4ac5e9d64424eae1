#include "mediator/registrar.h"

#include <algorithm>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/fhir.h"
#include "common/json_access.h"
#include "common/log.h"
#include "common/url.h"
#include "mediator/registration.h"
#include "mediator/trusted_ca.h"

namespace mflsync::mediator {

Registrar::Registrar(OpenHimApi api, RegistrationBuilder build, LiveSettings* settings,
                     RegistrarOptions options)
    : api_(std::move(api)), build_(std::move(build)), settings_(settings), options_(options) {
  nlohmann::json registration = build_(settings_->Get(), "");
  urn_ = registration.value("urn", "");
  absl::MutexLock lock(&mu_);
  state_.version = registration.value("version", "");
}

Registrar::Registrar(OpenHimApi api, nlohmann::json registration, LiveSettings* settings,
                     RegistrarOptions options)
    : Registrar(std::move(api),
                [fixed = std::move(registration)](const Settings& current, const std::string&) {
                  nlohmann::json out = fixed;
                  if (!out["config"].is_object()) out["config"] = nlohmann::json::object();
                  out["config"].update(SettingsToConfig(current));
                  return out;
                },
                settings, options) {}

Registrar::~Registrar() { Stop(); }

void Registrar::Note(const absl::Status& status) {
  absl::MutexLock lock(&mu_);
  state_.last_error = status.ok() ? "" : std::string(status.message());
}

absl::Status Registrar::RegisterOnce() {
  std::string trusted_ca_id;
  if (!options_.trusted_ca_pem.empty()) {
    absl::StatusOr<std::string> id = EnsureTrustedCa(api_, options_.trusted_ca_pem);
    if (!id.ok()) return id.status();
    trusted_ca_id = *id;
  }
  {
    absl::MutexLock lock(&mu_);
    trusted_ca_id_ = trusted_ca_id;
  }
  const nlohmann::json registration = build_(settings_->Get(), trusted_ca_id);
  absl::StatusOr<HttpResponse> r = api_.Call("POST", "/mediators", registration);
  if (!r.ok()) return r.status();
  if (r->status != 201 && r->status != 200)
    return api_.UnexpectedAnswer("registration (POST /mediators)", *r);
  if (options_.install_channels) {
    if (absl::Status s = InstallChannels(registration); !s.ok()) return s;
  }
  {
    absl::MutexLock lock(&mu_);
    state_.registered = true;
    state_.registrations++;
    state_.last_error.clear();
  }
  LogInfo("registered with openHIM",
          {{"api", api_.api_url()}, {"urn", urn_}, {"version", registration["version"]}});
  return absl::OkStatus();
}

absl::Status Registrar::InstallChannels(const nlohmann::json& registration) {
  const nlohmann::json defaults =
      registration.value("defaultChannelConfig", nlohmann::json::array());
  std::map<std::string, const nlohmann::json*> wanted;
  for (const nlohmann::json& c : defaults) wanted[StringAt(c, "name")] = &c;
  absl::StatusOr<nlohmann::json> channels = api_.GetJsonList("/channels", "GET /channels");
  if (!channels.ok()) return channels.status();
  for (const nlohmann::json& stored : *channels) {
    auto it = wanted.find(StringAt(stored, "name"));
    if (it == wanted.end()) continue;
    std::optional<nlohmann::json> routes = UpdatedRoutes(stored, *it->second);
    wanted.erase(it);
    if (!routes.has_value()) continue;
    std::string name = StringAt(stored, "name");
    absl::StatusOr<HttpResponse> put =
        api_.Call("PUT", absl::StrCat("/channels/", PercentEncode(StringAt(stored, "_id"))),
                  nlohmann::json{{"routes", *routes}});
    if (!put.ok()) return put.status();
    if (put->status != 200)
      return api_.UnexpectedAnswer(absl::StrCat("updating the routes of channel '", name, "'"),
                                   *put);
    LogInfo("openHIM channel routes updated to the mediator's address and TLS",
            {{"channel", name}});
  }
  std::vector<std::string> missing;
  for (const auto& [name, channel] : wanted) missing.push_back(name);
  return InstallMissing(missing);
}

absl::Status Registrar::InstallMissing(const std::vector<std::string>& names) {
  if (names.empty()) return absl::OkStatus();
  nlohmann::json list = names;
  absl::StatusOr<HttpResponse> install = api_.Call(
      "POST", absl::StrCat("/mediators/", PercentEncode(urn_), "/channels"), list);
  if (!install.ok()) return install.status();
  if (install->status != 201)
    return api_.UnexpectedAnswer("installing the default channels", *install);
  LogInfo("openHIM default channels installed", {{"channels", list}});
  return absl::OkStatus();
}

absl::Status Registrar::HeartbeatOnce(bool request_config) {
  nlohmann::json body = {
      {"uptime", static_cast<int64_t>(absl::ToInt64Seconds(Uptime()))}};
  if (request_config) body["config"] = true;
  absl::StatusOr<HttpResponse> r = api_.Call(
      "POST", absl::StrCat("/mediators/", PercentEncode(urn_), "/heartbeat"), body);
  if (!r.ok()) return r.status();
  if (r->status == 404) {
    absl::MutexLock lock(&mu_);
    state_.registered = false;
    return absl::NotFoundError(absl::StrCat("openHIM at ", api_.api_url(),
                                            " does not know mediator ", urn_,
                                            " any more; registering again"));
  }
  if (r->status != 200) return api_.UnexpectedAnswer("heartbeat", *r);
  bool applied = false;
  std::string text = r->body;
  if (text.find_first_not_of(" \t\r\n") != std::string::npos) {
    absl::StatusOr<nlohmann::json> config = ParseJson(text);
    if (!config.ok())
      return absl::InvalidArgumentError(absl::StrCat(
          "heartbeat answer from ", api_.api_url(), " is not JSON: ",
          config.status().message()));
    if (!config->is_null() && !(config->is_string() && config->get<std::string>().empty())) {
      absl::StatusOr<bool> changed = settings_->Apply(*config);
      if (!changed.ok()) {
        LogWarning("settings from openHIM refused; keeping the current ones",
                   {{"error", std::string(changed.status().message())}});
      } else {
        applied = true;
        if (*changed) routes_stale_ = true;  // e.g. a new endpoint password
      }
    }
  }
  if (routes_stale_ && options_.install_channels) RefreshRoutes();
  absl::MutexLock lock(&mu_);
  state_.heartbeats++;
  if (applied) state_.config_updates++;
  state_.last_heartbeat = absl::Now();
  state_.last_error.clear();
  return absl::OkStatus();
}

void Registrar::RefreshRoutes() {
  std::string trusted_ca_id;
  {
    absl::MutexLock lock(&mu_);
    trusted_ca_id = trusted_ca_id_;
  }
  absl::Status s = InstallChannels(build_(settings_->Get(), trusted_ca_id));
  if (!s.ok()) {
    LogWarning("cannot bring openHIM's routes to the changed settings; trying again at the "
               "next heartbeat",
               {{"error", std::string(s.message())}});
    return;
  }
  routes_stale_ = false;
}

void Registrar::Start() {
  {
    absl::MutexLock lock(&mu_);
    if (thread_.joinable()) return;
    stop_ = false;
  }
  thread_ = std::thread([this] { Loop(); });
}

void Registrar::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void Registrar::Loop() {
  absl::Duration backoff = options_.initial_backoff;
  bool first_heartbeat = true;
  while (true) {
    bool registered;
    {
      absl::MutexLock lock(&mu_);
      if (stop_) return;
      registered = state_.registered;
    }
    absl::Duration wait = options_.heartbeat_interval;
    if (!registered) {
      absl::Status s = RegisterOnce();
      Note(s);
      if (!s.ok()) {
        LogWarning("openHIM registration failed; push and sync keep working, retrying",
                   {{"error", std::string(s.message())},
                    {"retry_in_ms", absl::ToInt64Milliseconds(backoff)}});
        wait = backoff;
        backoff = std::min(backoff * 2, options_.max_backoff);
      } else {
        backoff = options_.initial_backoff;
        first_heartbeat = true;
        wait = absl::ZeroDuration();  // heartbeat at once, asking for the config
      }
    } else {
      absl::Status s = HeartbeatOnce(first_heartbeat);
      Note(s);
      if (s.ok()) {
        first_heartbeat = false;
      } else {
        LogWarning("openHIM heartbeat failed", {{"error", std::string(s.message())}});
        if (s.code() == absl::StatusCode::kNotFound) wait = absl::ZeroDuration();
      }
    }
    absl::MutexLock lock(&mu_);
    auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_; };
    mu_.AwaitWithTimeout(absl::Condition(&stopping), wait);
  }
}

RegistrarState Registrar::State() const {
  absl::MutexLock lock(&mu_);
  return state_;
}

bool Registrar::WaitFor(const std::function<bool(const RegistrarState&)>& done,
                        absl::Duration max_wait) const {
  absl::MutexLock lock(&mu_);
  auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return done(state_); };
  return mu_.AwaitWithTimeout(absl::Condition(&ready), max_wait);
}

}  // namespace mflsync::mediator
