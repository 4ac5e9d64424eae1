#include "mediator/registration.h"

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/json_access.h"
#include "common/url.h"

namespace mflsync::mediator {
namespace {

// A route to an upstream FHIR base, or null when `url` is unusable.
nlohmann::json UpstreamChannel(const std::string& name, const std::string& prefix,
                               const std::string& url, bool forward_auth) {
  absl::StatusOr<Url> parsed = ParseUrl(url);
  if (!parsed.ok()) return nullptr;
  std::string path = parsed->path;
  while (!path.empty() && path.back() == '/') path.pop_back();
  auto sed_escape = [](const std::string& text) {
    std::string out;
    for (char c : text) {
      if (c == '/') out += "\\/";
      else out += c;
    }
    return out;
  };
  nlohmann::json route = {
      {"name", name + " upstream"},
      {"host", parsed->host},
      {"port", parsed->port},
      {"primary", true},
      {"type", "http"},
      {"secured", parsed->scheme == "https"},
      {"forwardAuthHeader", forward_auth},
      {"pathTransform",
       absl::StrCat("s/^", sed_escape("/" + prefix), "/", sed_escape(path), "/")}};
  return {{"name", name},
          {"urlPattern", absl::StrCat("^/", prefix, "(/.*)?$")},
          {"type", "http"},
          {"authType", "private"},
          {"allow", {"mflsync"}},
          {"methods", {"GET", "POST", "PUT"}},
          {"routes", {route}}};
}

// A route (or endpoint) to the mediator's listener at `path`.
nlohmann::json MediatorRoute(const MediatorIdentity& identity, const std::string& name,
                             const std::string& path) {
  nlohmann::json route = {{"name", name},          {"host", identity.host},
                          {"port", identity.port}, {"path", path},
                          {"primary", true},       {"type", "http"},
                          {"secured", identity.secured}};
  if (identity.secured && !identity.trusted_ca_id.empty()) route["cert"] = identity.trusted_ca_id;
  return route;
}

}  // namespace

std::string MediatorVersion(int settings_revision) {
  return absl::StrCat(kMediatorMajorMinor, ".", settings_revision);
}

std::string SettingsFingerprint(const MediatorIdentity& identity) {
  MediatorIdentity shape = identity;
  shape.host = "host";
  shape.port = 1;
  shape.secured = false;
  shape.trusted_ca_id.clear();
  shape.mfl_url = "http://mfl/fhir";
  shape.openimis_url = "http://openimis/api";
  nlohmann::json schema = {{"configDefs", SettingsConfigDefs()},
                           {"channels", DefaultChannels(shape, Settings{})}};
  std::string text = schema.dump();
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return absl::StrFormat("%016x", h);
}

nlohmann::json DefaultChannels(const MediatorIdentity& identity, const Settings& settings) {
  auto mediator_route = [&](const std::string& name, const std::string& path) {
    nlohmann::json route = MediatorRoute(identity, name, path);
    if (!settings.endpoint_password.empty()) {
      route["username"] = "openhim";
      route["password"] = settings.endpoint_password;
    }
    return route;
  };
  nlohmann::json channels = nlohmann::json::array();
  channels.push_back({{"name", "mflsync push"},
                      {"urlPattern", "^/mflsync/push$"},
                      {"type", "http"},
                      {"authType", "private"},
                      {"allow", {"mfl"}},
                      {"methods", {"POST"}},
                      {"routes", {mediator_route("mflsync mediator push", "/push")}}});
  channels.push_back({{"name", kSyncChannelName},
                      {"urlPattern", "^/mflsync/sync$"},
                      {"type", "http"},
                      {"authType", "private"},
                      {"allow", {"mflsync-admin"}},
                      {"methods", {"POST"}},
                      {"routes", {mediator_route("mflsync mediator sync", "/sync")}}});
  if (!identity.mfl_url.empty()) {
    nlohmann::json c = UpstreamChannel("mflsync MFL", "mfl/fhir", identity.mfl_url, false);
    if (!c.is_null()) channels.push_back(c);
  }
  if (!identity.openimis_url.empty()) {
    // The writer's Bearer token must reach openIMIS.
    nlohmann::json c =
        UpstreamChannel("mflsync openIMIS", "openimis/api", identity.openimis_url, true);
    if (!c.is_null() && !identity.openimis_whitelist.empty()) {
      c["authType"] = "public";
      c["whitelist"] = identity.openimis_whitelist;
    }
    if (!c.is_null()) channels.push_back(c);
  }
  return channels;
}

std::optional<nlohmann::json> UpdatedRoutes(const nlohmann::json& stored,
                                            const nlohmann::json& wanted) {
  static constexpr const char* kOwned[] = {"host",    "port",     "path",     "pathTransform",
                                           "secured", "cert",     "username", "password",
                                           "type",    "forwardAuthHeader"};
  if (!stored.is_object() || !stored.contains("routes") || !stored["routes"].is_array())
    return std::nullopt;
  nlohmann::json routes = stored["routes"];
  bool changed = false;
  for (const nlohmann::json& want : wanted.value("routes", nlohmann::json::array())) {
    for (nlohmann::json& route : routes) {
      if (!route.is_object() || StringAt(route, "name") != StringAt(want, "name")) continue;
      for (const char* field : kOwned) {
        if (!want.contains(field) || (route.contains(field) && route[field] == want[field]))
          continue;
        route[field] = want[field];
        changed = true;
      }
    }
  }
  if (!changed) return std::nullopt;
  return routes;
}

nlohmann::json BuildRegistration(const MediatorIdentity& identity, const Settings& defaults,
                                 const std::string& version) {
  return {{"urn", identity.urn},
          {"version", version},
          {"name", identity.name},
          {"description", identity.description},
          {"endpoints", {MediatorRoute(identity, "mflsync mediator", "/")}},
          {"defaultChannelConfig", DefaultChannels(identity, defaults)},
          {"configDefs", SettingsConfigDefs()},
          {"config", SettingsToConfig(defaults)}};
}

}  // namespace mflsync::mediator
