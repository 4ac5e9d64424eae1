// The writer's HTTP client to openIMIS's GraphQL API (`{api}/graphql`, the
// path the openIMIS UI uses): a login shared by every connection (tokenAuth
// JWT, then getCsrfToken for the Django session and CSRF token), renewed
// before the JWT's exp and after openIMIS refuses it, and one request =
// one GraphQL document with variables.
#ifndef MFLSYNC_WRITER_GRAPHQL_CLIENT_H_
#define MFLSYNC_WRITER_GRAPHQL_CLIENT_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/http_client.h"
#include "writer/openimis_client.h"

namespace mflsync::writer {

// The credentials every request carries: JWT (Authorization: Bearer), the
// cookies openIMIS set (sessionid, csrftoken, JWT) and the CSRF token
// (X-CSRFToken).
struct GraphqlCredentials {
  std::string jwt;
  std::string cookie_header;  // "name=value; name=value"
  std::string csrf_token;
};

// Login state shared by every connection to one openIMIS; thread-safe. One
// login runs at a time; the others wait for it.
class GraphqlSession {
 public:
  // `options.base_url` is the GraphQL endpoint (…/api/graphql) or the
  // openHIM channel that proxies it.
  explicit GraphqlSession(OpenImisOptions options);

  const OpenImisOptions& options() const { return options_; }

  // Credentials valid for at least the renewal margin, logging in over
  // `http` when there are none or the JWT is about to expire.
  absl::StatusOr<GraphqlCredentials> Credentials(HttpClient& http);

  // Forgets `jwt` after openIMIS refused it (no-op when another thread
  // already replaced it).
  void Invalidate(const std::string& jwt);

  // Successful logins so far.
  int64_t logins() const;

 private:
  absl::Status Login(HttpClient& http) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Login's two steps: the JWT (tokenAuth), then the CSRF token and the
  // Django session cookie every later request needs (getCsrfToken, sent
  // with the JWT). Each keeps the cookies it was given in `jar`.
  absl::StatusOr<std::string> RequestToken(HttpClient& http, const std::string& where,
                                           std::map<std::string, std::string>& jar);
  absl::StatusOr<std::string> RequestCsrfToken(HttpClient& http, const std::string& where,
                                               const GraphqlCredentials& with_jwt,
                                               std::map<std::string, std::string>& jar);

  const OpenImisOptions options_;
  mutable absl::Mutex mu_;
  GraphqlCredentials credentials_ ABSL_GUARDED_BY(mu_);
  absl::Time renew_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  int64_t logins_ ABSL_GUARDED_BY(mu_) = 0;
};

// One keep-alive connection to openIMIS's GraphQL endpoint. Not
// thread-safe: one per thread.
class GraphqlClient {
 public:
  explicit GraphqlClient(std::shared_ptr<GraphqlSession> session);

  // Runs one document with `variables` and returns its `data`. Errors:
  // transport faults as HttpClient reports them (DEADLINE_EXCEEDED,
  // UNAVAILABLE, ...); a non-200 HTTP answer is INVALID_ARGUMENT for 400
  // (openIMIS refused the document, e.g. core.string.over_max_length) and
  // UNAVAILABLE otherwise, with openIMIS's message; GraphQL `errors` are
  // FAILED_PRECONDITION with their messages. A refused login is renewed
  // once; a second refusal is UNAUTHENTICATED. `what` names the operation
  // in error messages.
  absl::StatusOr<nlohmann::json> Execute(absl::string_view what,
                                         absl::string_view document,
                                         const nlohmann::json& variables);

  // Runs one document and returns the whole answer of an HTTP 200 (`data`,
  // and `errors` when there are any: a request of several fields may have
  // some answered and some refused). Transport faults, HTTP errors and
  // refused logins as Execute; a refused login is sent again only when no
  // field was answered.
  absl::StatusOr<nlohmann::json> Run(absl::string_view what, absl::string_view document,
                                     const nlohmann::json& variables);
  // Run with the variables already as JSON text (an object, or empty for
  // none): a request's parts serialised where they are, never copied into
  // one tree first.
  absl::StatusOr<nlohmann::json> RunSerialized(absl::string_view what,
                                               absl::string_view document,
                                               absl::string_view variables_json);

  // HTTP status of the last answer (0 when none arrived).
  int last_http_status() const { return last_http_status_; }

  GraphqlSession& session() { return *session_; }

 private:
  std::shared_ptr<GraphqlSession> session_;
  HttpClient http_;
  int last_http_status_ = 0;
};

// The text of a GraphQL answer's `errors` (messages joined with "; "), or
// empty when there are none.
std::string GraphqlErrors(const nlohmann::json& answer);

// Whether any field of an answer's `data` is answered (not null).
bool AnyFieldAnswered(const nlohmann::json& answer);

// The `exp` claim of a JWT (its payload decoded without checking the
// signature: the server checks it), or nullopt.
std::optional<absl::Time> JwtExpiry(absl::string_view jwt);

// The numeric database id inside a relay global id
// (base64("LocationGQLType:17") → 17), or an error.
absl::StatusOr<int64_t> RelayNumericId(absl::string_view global_id);

}  // namespace mflsync::writer

#endif  // MFLSYNC_WRITER_GRAPHQL_CLIENT_H_
