#include "mediator/openhim_api.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/fhir.h"
#include "common/log.h"

namespace mflsync::mediator {

OpenHimApi::OpenHimApi(OpenHimApiOptions options) : options_(std::move(options)) {
  while (absl::EndsWith(options_.api_url, "/")) options_.api_url.pop_back();
  RegisterSecret(options_.password);
}

absl::StatusOr<HttpResponse> OpenHimApi::Call(const std::string& method,
                                              const std::string& path,
                                              const nlohmann::json& body) const {
  HttpClientOptions http;
  http.connect_timeout = options_.connect_timeout;
  http.request_timeout = options_.request_timeout;
  http.max_response_bytes = 16u << 20;
  http.tls = options_.tls;
  http.user_agent = "mflsync-mediator/0.1";
  HttpClient client(http);
  HttpRequest request;
  request.method = method;
  request.url = options_.api_url + path;
  request.headers.push_back(
      {"Authorization", BasicAuthHeader(options_.username, options_.password)});
  request.headers.push_back({"Accept", "application/json"});
  if (!body.is_null()) {
    request.headers.push_back({"Content-Type", "application/json"});
    request.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  absl::StatusOr<HttpResponse> response = client.Send(request);
  if (!response.ok()) {
    return absl::Status(response.status().code(),
                        Redact(absl::StrCat("openHIM API ", method, " ", options_.api_url,
                                            path, ": ", response.status().message())));
  }
  return response;
}

absl::StatusOr<nlohmann::json> OpenHimApi::GetJsonList(const std::string& path,
                                                       const std::string& what) const {
  absl::StatusOr<HttpResponse> got = Call("GET", path, nullptr);
  if (!got.ok()) return got.status();
  if (got->status != 200) return UnexpectedAnswer(what, *got);
  absl::StatusOr<nlohmann::json> parsed = ParseJson(got->body);
  if (!parsed.ok() || !parsed->is_array())
    return absl::UnavailableError(
        absl::StrCat(what, " at ", options_.api_url, " did not answer a JSON list"));
  return *std::move(parsed);
}

absl::Status OpenHimApi::UnexpectedAnswer(const std::string& what,
                                          const HttpResponse& response) const {
  std::string why;
  if (response.status == 401) {
    why = absl::StrCat(": openHIM refused the credentials of user '", options_.username,
                       "' (check openhim.username and openhim.password)");
  } else if (response.status == 403) {
    why = absl::StrCat(": user '", options_.username,
                       "' lacks the permission: openHIM 8.5.0 allows mediator and transaction calls "
                       "to users in group admin only");
  } else if (response.status == 503) {
    why = ": the openHIM API is unavailable";
  }
  std::string text = response.body.substr(0, 200);
  absl::StatusCode code = response.status == 401 || response.status == 403
                              ? absl::StatusCode::kPermissionDenied
                          : response.status >= 500 ? absl::StatusCode::kUnavailable
                                                   : absl::StatusCode::kFailedPrecondition;
  return absl::Status(code, Redact(absl::StrCat(what, " at ", options_.api_url, " answered HTTP ",
                                                response.status, why, text.empty() ? "" : ": ",
                                                text)));
}

}  // namespace mflsync::mediator
