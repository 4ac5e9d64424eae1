#include "tests/mediator/real_openhim.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/fhir.h"
#include "common/url.h"
#include "tests/support/env_file.h"

namespace mflsync::mediator::testing {

absl::StatusOr<RealOpenHim> RealOpenHim::FromEnv(const char* env_var,
                                                 const std::string& fixture) {
  absl::StatusOr<mflsync::testing::EnvValues> read =
      mflsync::testing::ReadEnvFileNamedBy(env_var, fixture);
  if (!read.ok()) return read.status();
  mflsync::testing::EnvValues& v = *read;
  RealOpenHim real;
  real.api_url = v["OPENHIM_API_URL"];
  real.api_ca = v["OPENHIM_API_CA"];
  real.router_url = v["OPENHIM_ROUTER_URL"];
  real.root_user = v["OPENHIM_ROOT_USER"];
  real.root_password = v["OPENHIM_ROOT_PASSWORD"];
  real.mediator_user = v["OPENHIM_MEDIATOR_USER"];
  real.mediator_password = v["OPENHIM_MEDIATOR_PASSWORD"];
  real.fetcher_id = v["OPENHIM_CLIENT_FETCHER_ID"];
  real.fetcher_password = v["OPENHIM_CLIENT_FETCHER_PASSWORD"];
  real.writer_id = v["OPENHIM_CLIENT_WRITER_ID"];
  real.writer_password = v["OPENHIM_CLIENT_WRITER_PASSWORD"];
  real.client_role = v["OPENHIM_CLIENT_ROLE"];
  if (real.api_url.empty() || real.router_url.empty() || real.mediator_user.empty())
    return absl::DataLossError(absl::StrCat(std::getenv(env_var), " lacks OPENHIM_API_URL, "
                                            "OPENHIM_ROUTER_URL or OPENHIM_MEDIATOR_USER"));
  return real;
}

OpenHimApiOptions RealOpenHim::ApiOptions(bool as_root) const {
  OpenHimApiOptions options;
  options.api_url = api_url;
  options.username = as_root ? root_user : mediator_user;
  options.password = as_root ? root_password : mediator_password;
  options.tls.ca_file = api_ca;
  return options;
}

absl::StatusOr<HttpResponse> RealOpenHim::Api(const std::string& method,
                                              const std::string& path,
                                              const nlohmann::json& body) const {
  return OpenHimApi(ApiOptions(/*as_root=*/true)).Call(method, path, body);
}

absl::StatusOr<nlohmann::json> RealOpenHim::ApiJson(const std::string& method,
                                                    const std::string& path,
                                                    const nlohmann::json& body) const {
  absl::StatusOr<HttpResponse> r = Api(method, path, body);
  if (!r.ok()) return r.status();
  if (r->status / 100 != 2)
    return absl::UnknownError(
        absl::StrCat(method, " ", path, " answered ", r->status, ": ", r->body.substr(0, 300)));
  return ParseJson(r->body);
}

absl::StatusOr<nlohmann::json> RealOpenHim::Channel(const std::string& name) const {
  absl::StatusOr<nlohmann::json> channels = ApiJson("GET", "/channels");
  if (!channels.ok()) return channels.status();
  for (const nlohmann::json& c : *channels)
    if (c.value("name", "") == name) return c;
  return absl::NotFoundError(absl::StrCat("openHIM has no channel named '", name, "'"));
}

absl::Status RealOpenHim::UpdateChannel(const std::string& name,
                                        const nlohmann::json& changes) const {
  absl::StatusOr<nlohmann::json> channel = Channel(name);
  if (!channel.ok()) return channel.status();
  absl::StatusOr<HttpResponse> r =
      Api("PUT", absl::StrCat("/channels/", (*channel)["_id"].get<std::string>()), changes);
  if (!r.ok()) return r.status();
  if (r->status != 200)
    return absl::UnknownError(absl::StrCat("PUT channel '", name, "' answered ", r->status,
                                           ": ", r->body.substr(0, 300)));
  absl::SleepFor(absl::Milliseconds(1500));  // the router's channel cache refresh
  return absl::OkStatus();
}

absl::Status RealOpenHim::AddClientRoles(const std::string& client_id,
                                         const nlohmann::json& roles) const {
  absl::StatusOr<nlohmann::json> clients = ApiJson("GET", "/clients");
  if (!clients.ok()) return clients.status();
  for (const nlohmann::json& c : *clients) {
    if (c.value("clientID", "") != client_id) continue;
    nlohmann::json all = c.value("roles", nlohmann::json::array());
    for (const nlohmann::json& r : roles) all.push_back(r);
    absl::StatusOr<HttpResponse> put = Api(
        "PUT", absl::StrCat("/clients/", c["_id"].get<std::string>()), {{"roles", all}});
    if (!put.ok()) return put.status();
    if (put->status != 200)
      return absl::UnknownError(absl::StrCat("PUT client answered ", put->status));
    return absl::OkStatus();
  }
  return absl::NotFoundError(absl::StrCat("openHIM has no client '", client_id, "'"));
}

absl::StatusOr<HttpResponse> RealOpenHim::Router(const std::string& method,
                                                 const std::string& path,
                                                 const std::string& body,
                                                 const std::string& client_id,
                                                 const std::string& client_password,
                                                 const std::string& content_type) const {
  HttpRequest request{.method = method, .url = router_url + path, .body = body};
  request.headers.push_back({"Authorization", BasicAuthHeader(client_id, client_password)});
  if (!content_type.empty()) request.headers.push_back({"Content-Type", content_type});
  HttpClientOptions options;
  options.request_timeout = absl::Seconds(120);
  return HttpClient(options).Send(request);
}

absl::StatusOr<nlohmann::json> RealOpenHim::Transactions(const std::string& channel_id,
                                                         int limit) const {
  nlohmann::json filters = {{"channelID", channel_id}};
  return ApiJson("GET", absl::StrCat("/transactions?filterRepresentation=full&filterLimit=",
                                     limit, "&filters=", PercentEncode(filters.dump())));
}

}  // namespace mflsync::mediator::testing
