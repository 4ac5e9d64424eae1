#include "writer/graphql_client.h"

#include <algorithm>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/log.h"

namespace mflsync::writer {
namespace {

using nlohmann::json;

constexpr char kLogin[] =
    "mutation mflsyncLogin($username: String!, $password: String!) {"
    " tokenAuth(username: $username, password: $password) { token } }";
constexpr char kCsrf[] = "mutation mflsyncCsrf { getCsrfToken { csrfToken } }";

// Messages openIMIS (graphql_jwt, core) gives when the login behind a
// request is missing, expired or not accepted.
bool IsAuthFailure(absl::string_view message) {
  const std::string lower = absl::AsciiStrToLower(message);
  for (absl::string_view marker :
       {"signature has expired", "error decoding signature", "authentication_required",
        "you do not have permission", "unauthorized", "csrf", "invalid token"}) {
    if (absl::StrContains(lower, marker)) return true;
  }
  return false;
}

// name=value pairs of every Set-Cookie header, added to (or replacing in)
// `jar`.
void TakeCookies(const HttpResponse& response, std::map<std::string, std::string>* jar) {
  for (const auto& [name, value] : response.headers) {
    if (name != "set-cookie") continue;
    std::string pair(value.substr(0, value.find(';')));
    const size_t eq = pair.find('=');
    if (eq == std::string::npos || eq == 0) continue;
    (*jar)[std::string(absl::StripAsciiWhitespace(pair.substr(0, eq)))] =
        std::string(absl::StripAsciiWhitespace(pair.substr(eq + 1)));
  }
}

std::string CookieHeader(const std::map<std::string, std::string>& jar) {
  std::vector<std::string> parts;
  for (const auto& [name, value] : jar) parts.push_back(absl::StrCat(name, "=", value));
  return absl::StrJoin(parts, "; ");
}

// A query only reads: its document is `{...}` or `query ...`, where a
// mutation's begins with `mutation`.
bool IsQuery(absl::string_view document) {
  const absl::string_view text = absl::StripLeadingAsciiWhitespace(document);
  if (absl::StartsWith(text, "{")) return true;
  if (!absl::StartsWith(text, "query")) return false;
  const bool keyword_ends = text.size() == 5 || (!absl::ascii_isalnum(text[5]) && text[5] != '_');
  return keyword_ends;
}

// A GraphQL POST; `variables_json`: the variables object as JSON text, or
// empty for none.
HttpRequest Post(const std::string& url, absl::string_view document,
                 absl::string_view variables_json) {
  HttpRequest request;
  request.method = "POST";
  request.read_only = IsQuery(document);
  request.url = url;
  request.headers = {{"Accept", "application/json"}, {"Content-Type", "application/json"}};
  request.body = absl::StrCat(R"({"query":)", json(document).dump());
  if (!variables_json.empty()) absl::StrAppend(&request.body, R"(,"variables":)", variables_json);
  request.body.push_back('}');
  return request;
}

std::string VariablesJson(const json& variables) {
  return variables.is_null() ? std::string() : variables.dump();
}

void AddCredentials(const GraphqlCredentials& credentials, HttpRequest* request) {
  request->headers.emplace_back("Authorization", absl::StrCat("Bearer ", credentials.jwt));
  if (!credentials.cookie_header.empty()) {
    request->headers.emplace_back("Cookie", credentials.cookie_header);
  }
  if (!credentials.csrf_token.empty()) {
    request->headers.emplace_back("X-CSRFToken", credentials.csrf_token);
  }
}

// The answer's JSON, or an error naming `where` for a non-JSON body.
absl::StatusOr<json> ParseAnswer(const std::string& where, const HttpResponse& response) {
  json doc = json::parse(response.body, nullptr, false);
  if (!doc.is_object()) {
    return absl::UnavailableError(absl::StrCat(where, ": HTTP ", response.status,
                                               ", not a GraphQL answer: ",
                                               OpenImisMessage(response)));
  }
  return doc;
}

}  // namespace

bool AnyFieldAnswered(const json& answer) {
  auto data = answer.find("data");
  if (data == answer.end() || !data->is_object()) return false;
  for (const auto& [name, value] : data->items()) {
    if (!value.is_null()) return true;
  }
  return false;
}

std::string GraphqlErrors(const json& answer) {
  auto errors = answer.find("errors");
  if (errors == answer.end() || !errors->is_array() || errors->empty()) return "";
  std::vector<std::string> messages;
  for (const json& error : *errors) {
    if (error.is_object() && error.contains("message") && error["message"].is_string()) {
      messages.push_back(error["message"].get<std::string>());
    } else {
      messages.push_back(error.dump());
    }
  }
  return absl::StrJoin(messages, "; ");
}

std::optional<absl::Time> JwtExpiry(absl::string_view jwt) {
  std::vector<absl::string_view> parts = absl::StrSplit(jwt, '.');
  if (parts.size() != 3) return std::nullopt;
  std::string payload;
  if (!absl::WebSafeBase64Unescape(parts[1], &payload)) return std::nullopt;
  json claims = json::parse(payload, nullptr, false);
  if (!claims.is_object() || !claims.contains("exp") || !claims["exp"].is_number()) {
    return std::nullopt;
  }
  return absl::FromUnixSeconds(claims["exp"].get<int64_t>());
}

absl::StatusOr<int64_t> RelayNumericId(absl::string_view global_id) {
  std::string decoded;
  if (!absl::Base64Unescape(global_id, &decoded)) {
    return absl::InvalidArgumentError(
        absl::StrCat("id '", global_id, "' is not a base64 relay id"));
  }
  const size_t colon = decoded.rfind(':');
  int64_t id = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(decoded.substr(colon + 1), &id)) {
    return absl::InvalidArgumentError(
        absl::StrCat("relay id '", global_id, "' (", decoded, ") has no numeric id"));
  }
  return id;
}

GraphqlSession::GraphqlSession(OpenImisOptions options) : options_(std::move(options)) {
  RegisterSecret(options_.password);
}

absl::StatusOr<GraphqlCredentials> GraphqlSession::Credentials(HttpClient& http) {
  absl::MutexLock lock(&mu_);
  if (credentials_.jwt.empty() || absl::Now() >= renew_at_) {
    absl::Status status = Login(http);
    if (!status.ok()) return status;
  }
  return credentials_;
}

void GraphqlSession::Invalidate(const std::string& jwt) {
  absl::MutexLock lock(&mu_);
  if (credentials_.jwt == jwt) credentials_.jwt.clear();
}

int64_t GraphqlSession::logins() const {
  absl::MutexLock lock(&mu_);
  return logins_;
}

absl::Status GraphqlSession::Login(HttpClient& http) {
  const std::string where = absl::StrCat("openIMIS login as '", options_.username,
                                         "' at ", Redact(options_.base_url));
  std::map<std::string, std::string> jar;
  GraphqlCredentials fresh;
  absl::StatusOr<std::string> jwt = RequestToken(http, where, jar);
  if (!jwt.ok()) return jwt.status();
  fresh.jwt = *std::move(jwt);
  RegisterSecret(fresh.jwt);
  absl::StatusOr<std::string> csrf = RequestCsrfToken(http, where, fresh, jar);
  if (!csrf.ok()) return csrf.status();
  fresh.csrf_token = *std::move(csrf);
  for (const auto& [name, value] : jar) RegisterSecret(value);
  RegisterSecret(fresh.csrf_token);
  fresh.cookie_header = CookieHeader(jar);
  credentials_ = std::move(fresh);
  ++logins_;
  const absl::Time now = absl::Now();
  const absl::Time exp = JwtExpiry(credentials_.jwt).value_or(now + absl::Minutes(5));
  const absl::Duration lifetime = std::max(exp - now, absl::ZeroDuration());
  renew_at_ = exp - std::min(options_.token_renew_margin, lifetime / 2);
  LogDebug("openIMIS GraphQL login", {{"user", options_.username},
                                      {"expires_in_s", absl::ToInt64Seconds(lifetime)}});
  return absl::OkStatus();
}

absl::StatusOr<std::string> GraphqlSession::RequestToken(
    HttpClient& http, const std::string& where, std::map<std::string, std::string>& jar) {
  absl::StatusOr<HttpResponse> response = http.Send(Post(
      options_.base_url, kLogin,
      VariablesJson(json{{"username", options_.username}, {"password", options_.password}})));
  if (!response.ok()) {
    return absl::UnavailableError(absl::StrCat(where, " failed: ", response.status().message()));
  }
  absl::StatusOr<json> answer = ParseAnswer(where, *response);
  if (!answer.ok()) return answer.status();
  const json* token = nullptr;
  if ((*answer)["data"].is_object() && (*answer)["data"]["tokenAuth"].is_object()) {
    token = &(*answer)["data"]["tokenAuth"]["token"];
  }
  if (token == nullptr || !token->is_string() || token->get<std::string>().empty()) {
    const std::string errors = GraphqlErrors(*answer);
    if (response->status == 200 && !errors.empty()) {
      return absl::UnauthenticatedError(absl::StrCat(
          where, " refused (", errors, "): check openimis.username and openimis.password "
          "(user names are case-sensitive)"));
    }
    return absl::UnavailableError(absl::StrCat(where, ": HTTP ", response->status,
                                               " without a token: ",
                                               errors.empty() ? OpenImisMessage(*response)
                                                              : errors));
  }
  TakeCookies(*response, &jar);
  return token->get<std::string>();
}

absl::StatusOr<std::string> GraphqlSession::RequestCsrfToken(
    HttpClient& http, const std::string& where, const GraphqlCredentials& with_jwt,
    std::map<std::string, std::string>& jar) {
  HttpRequest csrf = Post(options_.base_url, kCsrf, "");
  GraphqlCredentials sent = with_jwt;
  sent.cookie_header = CookieHeader(jar);
  AddCredentials(sent, &csrf);
  absl::StatusOr<HttpResponse> response = http.Send(csrf);
  if (!response.ok()) {
    return absl::UnavailableError(
        absl::StrCat(where, ": getCsrfToken failed: ", response.status().message()));
  }
  absl::StatusOr<json> answer = ParseAnswer(where, *response);
  if (!answer.ok()) return answer.status();
  const json& data = (*answer)["data"];
  if (!data.is_object() || !data["getCsrfToken"].is_object() ||
      !data["getCsrfToken"]["csrfToken"].is_string()) {
    return absl::UnavailableError(absl::StrCat(where, ": getCsrfToken answered HTTP ",
                                               response->status, " without a token: ",
                                               GraphqlErrors(*answer)));
  }
  TakeCookies(*response, &jar);
  return data["getCsrfToken"]["csrfToken"].get<std::string>();
}

GraphqlClient::GraphqlClient(std::shared_ptr<GraphqlSession> session)
    : session_(std::move(session)), http_(session_->options().http) {}

absl::StatusOr<json> GraphqlClient::Execute(absl::string_view what, absl::string_view document,
                                            const json& variables) {
  absl::StatusOr<json> answer = Run(what, document, variables);
  if (!answer.ok()) return answer.status();
  const std::string errors = GraphqlErrors(*answer);
  if (!errors.empty()) return absl::FailedPreconditionError(absl::StrCat(what, ": ", errors));
  if (!(*answer)["data"].is_object()) {
    return absl::UnavailableError(absl::StrCat(what, ": the answer has no data"));
  }
  return (*answer)["data"];
}

absl::StatusOr<json> GraphqlClient::Run(absl::string_view what, absl::string_view document,
                                        const json& variables) {
  return RunSerialized(what, document, VariablesJson(variables));
}

absl::StatusOr<json> GraphqlClient::RunSerialized(absl::string_view what,
                                                  absl::string_view document,
                                                  absl::string_view variables_json) {
  std::string last_refusal;
  for (int attempt = 0; attempt < 2; ++attempt) {
    last_http_status_ = 0;
    absl::StatusOr<GraphqlCredentials> credentials = session_->Credentials(http_);
    if (!credentials.ok()) return credentials.status();
    HttpRequest request = Post(session_->options().base_url, document, variables_json);
    AddCredentials(*credentials, &request);
    absl::StatusOr<HttpResponse> response = http_.Send(request);
    if (!response.ok()) {
      return absl::Status(response.status().code(),
                          absl::StrCat(what, ": ", response.status().message()));
    }
    last_http_status_ = response->status;
    if (response->status == 401 || response->status == 403) {
      last_refusal = absl::StrCat("HTTP ", response->status, ": ", OpenImisMessage(*response));
      session_->Invalidate(credentials->jwt);
      continue;
    }
    if (response->status == 400) {
      // openIMIS refused the document itself (a field over its length, a
      // malformed value): nothing was run.
      absl::StatusOr<json> answer = ParseAnswer(std::string(what), *response);
      const std::string errors = answer.ok() ? GraphqlErrors(*answer) : "";
      return absl::InvalidArgumentError(absl::StrCat(
          what, ": openIMIS refused the request (HTTP 400): ",
          errors.empty() ? OpenImisMessage(*response) : errors));
    }
    if (response->status != 200) {
      return absl::UnavailableError(absl::StrCat(what, ": HTTP ", response->status, ": ",
                                                 OpenImisMessage(*response)));
    }
    absl::StatusOr<json> answer = ParseAnswer(std::string(what), *response);
    if (!answer.ok()) return answer.status();
    const std::string errors = GraphqlErrors(*answer);
    // A refused login is sent again only when no field ran: a request of
    // several mutations some of which ran must not run them twice.
    if (!errors.empty() && IsAuthFailure(errors) && !AnyFieldAnswered(*answer)) {
      last_refusal = errors;
      session_->Invalidate(credentials->jwt);
      continue;
    }
    return answer;
  }
  return absl::UnauthenticatedError(absl::StrCat(
      what, ": openIMIS refused the login even after a fresh one (", last_refusal,
      "); check that openimis.username has the health-facility rights"));
}

}  // namespace mflsync::writer
