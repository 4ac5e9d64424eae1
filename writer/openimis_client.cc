#include "writer/openimis_client.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/fhir.h"
#include "common/log.h"
#include "common/url.h"

namespace mflsync::writer {
namespace {

using nlohmann::json;

// A hard stop for a searchset that never ends (a server that keeps
// answering with a next link).
constexpr int kMaxPages = 100000;

HttpHeaders JsonHeaders() {
  return {{"Accept", "application/fhir+json, application/json"},
          {"Content-Type", "application/json"}};
}

}  // namespace

std::string OpenImisMessage(const HttpResponse& response) {
  if (response.body.empty()) return absl::StrCat("HTTP ", response.status);
  return OperationOutcomeText(response.body, 1000);
}

OpenImisSession::OpenImisSession(OpenImisOptions options)
    : options_(std::move(options)) {
  RegisterSecret(options_.password);
}

absl::StatusOr<std::string> OpenImisSession::Token(HttpClient& http) {
  absl::MutexLock lock(&mu_);
  if (token_.empty() || absl::Now() >= renew_at_) {
    absl::Status status = Login(http);
    if (!status.ok()) return status;
  }
  return token_;
}

void OpenImisSession::Invalidate(const std::string& token) {
  absl::MutexLock lock(&mu_);
  if (token_ == token) token_.clear();
}

int64_t OpenImisSession::logins() const {
  absl::MutexLock lock(&mu_);
  return logins_;
}

absl::Status OpenImisSession::Login(HttpClient& http) {
  HttpRequest request;
  request.method = "POST";
  request.url = JoinUrl(options_.base_url, "login/");
  request.headers = JsonHeaders();
  request.body = json{{"username", options_.username},
                      {"password", options_.password}}
                     .dump();
  const std::string where =
      absl::StrCat("openIMIS login as '", options_.username, "' at ",
                   Redact(request.url));
  absl::StatusOr<HttpResponse> response = http.Send(request);
  if (!response.ok()) {
    return absl::UnavailableError(
        absl::StrCat(where, " failed: ", response.status().message()));
  }
  if (response->status == 401 || response->status == 403) {
    return absl::UnauthenticatedError(absl::StrCat(
        where, " refused (HTTP ", response->status,
        "): check openimis.username and openimis.password"));
  }
  if (response->status == 400) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, " answered HTTP 400 (bad login payload): ",
        OpenImisMessage(*response)));
  }
  if (response->status != 200) {
    return absl::UnavailableError(absl::StrCat(where, " answered HTTP ",
                                               response->status, ": ",
                                               OpenImisMessage(*response)));
  }
  json doc = json::parse(response->body, nullptr, false);
  if (!doc.is_object() || !doc.contains("token") || !doc["token"].is_string() ||
      doc["token"].get<std::string>().empty()) {
    return absl::UnavailableError(absl::StrCat(
        where, ": the 200 answer has no \"token\" string"));
  }
  token_ = doc["token"].get<std::string>();
  RegisterSecret(token_);
  ++logins_;
  const absl::Time now = absl::Now();
  absl::Time exp = now + absl::Hours(1);  // when the server sends no exp
  if (doc.contains("exp") && doc["exp"].is_number()) {
    exp = absl::FromUnixSeconds(doc["exp"].get<int64_t>());
  }
  const absl::Duration lifetime = std::max(exp - now, absl::ZeroDuration());
  const absl::Duration margin = std::min(options_.token_renew_margin, lifetime / 2);
  renew_at_ = exp - margin;
  LogDebug("openIMIS login", {{"user", options_.username},
                              {"expires_in_s", absl::ToInt64Seconds(lifetime)}});
  return absl::OkStatus();
}

OpenImisClient::OpenImisClient(std::shared_ptr<OpenImisSession> session)
    : session_(std::move(session)), http_(session_->options().http) {}

absl::StatusOr<HttpResponse> OpenImisClient::Send(absl::string_view method,
                                                  absl::string_view path,
                                                  const std::string& body) {
  return SendUrl(method, JoinUrl(session_->options().base_url, path), body);
}

absl::StatusOr<HttpResponse> OpenImisClient::SendUrl(absl::string_view method,
                                                     const std::string& url,
                                                     const std::string& body) {
  absl::StatusOr<HttpResponse> response;
  for (int attempt = 0; attempt < 2; ++attempt) {
    absl::StatusOr<std::string> token = session_->Token(http_);
    if (!token.ok()) return token.status();
    HttpRequest request;
    request.method = std::string(method);
    request.url = url;
    request.headers = JsonHeaders();
    request.headers.emplace_back("Authorization", absl::StrCat("Bearer ", *token));
    request.body = body;
    response = http_.Send(request);
    if (!response.ok() || response->status != 401) return response;
    // Expired or revoked before our renewal time: log in again, once.
    LogInfo("openIMIS refused the token; logging in again",
            {{"method", request.method}, {"url", Redact(url)}});
    session_->Invalidate(*token);
  }
  return absl::UnauthenticatedError(absl::StrCat(
      method, " ", Redact(url), ": openIMIS answered 401 even after a fresh login: ",
      OpenImisMessage(*response)));
}

absl::StatusOr<std::string> OpenImisClient::NextUrl(absl::string_view resource,
                                                    absl::string_view link) {
  std::string text(link);
  // openIMIS percent-encodes the whole URL ("http%3A%2F%2F...").
  if (!absl::StrContains(text, "://")) {
    absl::StatusOr<std::string> decoded = PercentDecode(text, true);
    if (!decoded.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "next link is not a URL and does not decode: ", decoded.status().message()));
    }
    text = *decoded;
  }
  absl::StatusOr<Url> next = ParseUrl(text);
  if (!next.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("next link is not a usable URL: ", next.status().message()));
  }
  absl::StatusOr<Url> base = ParseUrl(session_->options().base_url);
  if (!base.ok()) return base.status();
  if (!session_->options().via_openhim && !SameOrigin(*next, *base)) {
    return absl::PermissionDeniedError(absl::StrCat(
        "next link points to ", next->Origin(), ", not to the configured openIMIS ",
        base->Origin(), "; refusing to follow it"));
  }
  std::string path = next->path;
  while (absl::EndsWith(path, "/")) path.pop_back();
  if (!absl::EndsWith(path, absl::StrCat("/", resource))) {
    return absl::PermissionDeniedError(absl::StrCat(
        "next link path ", next->path, " is not the ", resource,
        " search that was asked; refusing to follow it"));
  }
  // Only the query is taken from the link; the request goes to our base.
  return absl::StrCat(JoinUrl(session_->options().base_url, resource), "/?",
                      next->query);
}

absl::StatusOr<std::vector<json>> OpenImisClient::ListAll(
    absl::string_view resource,
    const std::vector<std::pair<std::string, std::string>>& query,
    int page_size) {
  std::vector<json> resources;
  absl::Status status = ForEach(resource, query, page_size, [&resources](const json& r) {
    resources.push_back(r);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return resources;
}

namespace {

// The url of a Bundle's `next` link (the last one), or "".
std::string NextLink(const json& bundle) {
  std::string next_link;
  auto links = bundle.find("link");
  if (links == bundle.end() || !links->is_array()) return next_link;
  for (const json& link : *links) {
    if (link.is_object() && link.value("relation", "") == "next" && link.contains("url") &&
        link["url"].is_string()) {
      next_link = link["url"].get<std::string>();
    }
  }
  return next_link;
}

// Hands each entry's resource to `visit`; a malformed entry is an error.
absl::Status VisitEntries(const json& bundle,
                          const std::function<absl::Status(const json&)>& visit) {
  auto entries = bundle.find("entry");
  if (entries == bundle.end()) return absl::OkStatus();
  if (!entries->is_array()) return absl::DataLossError("Bundle.entry is not a list");
  for (size_t i = 0; i < entries->size(); ++i) {
    const json& entry = (*entries)[i];
    if (!entry.is_object() || !entry.contains("resource") || !entry["resource"].is_object()) {
      return absl::DataLossError(absl::StrCat("Bundle.entry[", i, "] has no resource"));
    }
    if (absl::Status visited = visit(entry["resource"]); !visited.ok()) return visited;
  }
  return absl::OkStatus();
}

// `status` with `where` before its message.
absl::Status Named(const absl::Status& status, absl::string_view where) {
  return absl::Status(status.code(), absl::StrCat(where, ": ", status.message()));
}

}  // namespace

absl::StatusOr<json> OpenImisClient::ReadBundle(const std::string& url) {
  absl::StatusOr<HttpResponse> response = SendUrl("GET", url, "");
  if (!response.ok()) return response.status();
  if (response->status != 200) {
    const absl::StatusCode code = response->status >= 500 || response->status == 429
                                      ? absl::StatusCode::kUnavailable
                                      : absl::StatusCode::kFailedPrecondition;
    return absl::Status(code, absl::StrCat("HTTP ", response->status, ": ",
                                           OpenImisMessage(*response)));
  }
  absl::StatusOr<json> bundle = ParseJson(response->body);
  if (!bundle.ok() || !bundle->is_object() || bundle->value("resourceType", "") != "Bundle") {
    return absl::DataLossError("the answer is not a FHIR Bundle");
  }
  return bundle;
}

absl::Status OpenImisClient::ForEach(
    absl::string_view resource,
    const std::vector<std::pair<std::string, std::string>>& query,
    int page_size, const std::function<absl::Status(const json&)>& visit) {
  std::vector<std::pair<std::string, std::string>> params = query;
  params.emplace_back("_count", absl::StrCat(page_size));
  std::string url = absl::StrCat(JoinUrl(session_->options().base_url, resource),
                                 "/?", BuildQuery(params));
  for (int page = 1; page <= kMaxPages; ++page) {
    const std::string where =
        absl::StrCat("openIMIS ", resource, " search, page ", page, " (", Redact(url), ")");
    absl::StatusOr<json> bundle = ReadBundle(url);
    if (!bundle.ok()) return Named(bundle.status(), where);
    if (absl::Status visited = VisitEntries(*bundle, visit); !visited.ok()) {
      return Named(visited, where);
    }
    const std::string next_link = NextLink(*bundle);
    if (next_link.empty()) return absl::OkStatus();
    absl::StatusOr<std::string> next = NextUrl(resource, next_link);
    if (!next.ok()) return Named(next.status(), where);
    if (*next == url) {
      return absl::DataLossError(
          absl::StrCat(where, ": the next link repeats the page just read"));
    }
    url = *next;
  }
  return absl::DataLossError(absl::StrCat("openIMIS ", resource, " search: more than ",
                                          kMaxPages, " pages; giving up"));
}

}  // namespace mflsync::writer
