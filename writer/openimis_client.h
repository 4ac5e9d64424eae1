// The writer's HTTP client to openIMIS's FHIR R4 API (directly or through an
// openHIM channel): JWT login shared by every connection, renewed before
// `exp` and after a 401, and searchset paging that follows openIMIS's
// percent-encoded next links without ever leaving the configured server.
#ifndef MFLSYNC_WRITER_OPENIMIS_CLIENT_H_
#define MFLSYNC_WRITER_OPENIMIS_CLIENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/http_client.h"

namespace mflsync::writer {

struct OpenImisOptions {
  // Where every request goes: openIMIS's FHIR base
  // ("http://host/api/api_fhir_r4") or the openHIM channel that proxies it.
  std::string base_url;
  // True when base_url is an openHIM channel: next links (which name
  // openIMIS's own host) are rebased onto the channel instead of being
  // checked against it.
  bool via_openhim = false;
  std::string username;
  std::string password;  // secret
  HttpClientOptions http;
  // Renew the token this long before `exp` (at most half its lifetime).
  absl::Duration token_renew_margin = absl::Seconds(60);
};

// Login state shared by every connection to one openIMIS; thread-safe. One
// login runs at a time; the others wait for its token.
class OpenImisSession {
 public:
  explicit OpenImisSession(OpenImisOptions options);

  const OpenImisOptions& options() const { return options_; }

  // A token valid for at least the renewal margin, logging in over `http`
  // when there is none or it is about to expire.
  absl::StatusOr<std::string> Token(HttpClient& http);

  // Forgets `token` after openIMIS refused it (no-op when another thread
  // already replaced it).
  void Invalidate(const std::string& token);

  // Successful logins so far.
  int64_t logins() const;

 private:
  absl::Status Login(HttpClient& http) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const OpenImisOptions options_;
  mutable absl::Mutex mu_;
  std::string token_ ABSL_GUARDED_BY(mu_);
  absl::Time renew_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  int64_t logins_ ABSL_GUARDED_BY(mu_) = 0;
};

// One keep-alive connection to openIMIS. Not thread-safe: one per thread
// (see ConnectionPool).
class OpenImisClient {
 public:
  explicit OpenImisClient(std::shared_ptr<OpenImisSession> session);

  // Sends `method` to `path` (relative to the base, e.g. "Organization/",
  // "Location/?physicalType=si") with a JSON body when not empty. Adds the
  // Bearer token; on a 401 logs in again and resends once. Transport faults
  // are errors as HttpClient reports them (DEADLINE_EXCEEDED, UNAVAILABLE,
  // ...); a login that fails is UNAVAILABLE (server fault) or
  // UNAUTHENTICATED (credentials); every HTTP status is a response.
  absl::StatusOr<HttpResponse> Send(absl::string_view method,
                                    absl::string_view path,
                                    const std::string& body = "");

  // Every entry resource of a searchset, page after page: `resource`
  // ("Location" or "Organization") with `query` and `_count=page_size`,
  // then Bundle.link[next] (percent-decoded when openIMIS encoded it whole)
  // while there is one. A next link must name the same resource (and, when
  // talking to openIMIS directly, the same origin as the base); only its
  // query is used, sent to the configured base. Errors name the page.
  absl::StatusOr<std::vector<nlohmann::json>> ListAll(
      absl::string_view resource,
      const std::vector<std::pair<std::string, std::string>>& query,
      int page_size);

  // The same walk, handing each entry resource to `visit` as its page
  // arrives, so that memory holds one page, not the whole search. An error
  // from `visit` stops the walk and is returned with the page named.
  absl::Status ForEach(absl::string_view resource,
                       const std::vector<std::pair<std::string, std::string>>& query,
                       int page_size,
                       const std::function<absl::Status(const nlohmann::json&)>& visit);

  // The shared session.
  OpenImisSession& session() { return *session_; }

 private:
  absl::StatusOr<HttpResponse> SendUrl(absl::string_view method,
                                       const std::string& url,
                                       const std::string& body);
  // One search page: GET, then the Bundle (within the JSON bounds), or why
  // not (UNAVAILABLE for 5xx and 429).
  absl::StatusOr<nlohmann::json> ReadBundle(const std::string& url);
  // The URL to request for a Bundle's next link, or an error saying why the
  // link is refused.
  absl::StatusOr<std::string> NextUrl(absl::string_view resource,
                                      absl::string_view link);

  std::shared_ptr<OpenImisSession> session_;
  HttpClient http_;
};

// The text openIMIS gave for a refused request: OperationOutcome
// details.text / diagnostics, or the start of the body.
std::string OpenImisMessage(const HttpResponse& response);

}  // namespace mflsync::writer

#endif  // MFLSYNC_WRITER_OPENIMIS_CLIENT_H_
