#include "mediator/registrar.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/fhir.h"
#include "common/log.h"
#include "common/url.h"

namespace mflsync::mediator {

Registrar::Registrar(OpenHimApi api, RegistrationBuilder build, LiveSettings* settings,
                     RegistrarOptions options)
    : api_(std::move(api)), build_(std::move(build)), settings_(settings), options_(options) {
  nlohmann::json registration = build_(settings_->Get());
  urn_ = registration.value("urn", "");
  absl::MutexLock lock(&mu_);
  state_.version = registration.value("version", "");
}

Registrar::Registrar(OpenHimApi api, nlohmann::json registration, LiveSettings* settings,
                     RegistrarOptions options)
    : Registrar(std::move(api),
                [fixed = std::move(registration)](const Settings& current) {
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
  const nlohmann::json registration = build_(settings_->Get());
  absl::StatusOr<HttpResponse> r = api_.Call("POST", "/mediators", registration);
  if (!r.ok()) return r.status();
  if (r->status != 201 && r->status != 200)
    return api_.UnexpectedAnswer("registration (POST /mediators)", *r);
  if (options_.install_channels) {
    if (absl::Status s = InstallMissingChannels(registration); !s.ok()) return s;
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

absl::Status Registrar::InstallMissingChannels(const nlohmann::json& registration) {
  std::set<std::string> wanted;
  for (const nlohmann::json& c :
       registration.value("defaultChannelConfig", nlohmann::json::array()))
    wanted.insert(c.value("name", ""));
  absl::StatusOr<nlohmann::json> channels = api_.GetJsonList("/channels", "GET /channels");
  if (!channels.ok()) return channels.status();
  for (const nlohmann::json& c : *channels) {
    if (c.is_object() && c.contains("name") && c["name"].is_string())
      wanted.erase(c["name"].get<std::string>());
  }
  if (wanted.empty()) return absl::OkStatus();
  nlohmann::json names = wanted;
  absl::StatusOr<HttpResponse> install = api_.Call(
      "POST", absl::StrCat("/mediators/", PercentEncode(urn_), "/channels"), names);
  if (!install.ok()) return install.status();
  if (install->status != 201)
    return api_.UnexpectedAnswer("installing the default channels", *install);
  LogInfo("openHIM default channels installed", {{"channels", names}});
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
      }
    }
  }
  absl::MutexLock lock(&mu_);
  state_.heartbeats++;
  if (applied) state_.config_updates++;
  state_.last_heartbeat = absl::Now();
  state_.last_error.clear();
  return absl::OkStatus();
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
