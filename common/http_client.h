// A blocking HTTP(S) client for the FHIR edges (MFL via openHIM, openIMIS,
// the openHIM API), built on libcurl: TLS verification on by default,
// timeouts, gzip, a response size limit, keep-alive reuse of one connection.
#ifndef MFLSYNC_COMMON_HTTP_CLIENT_H_
#define MFLSYNC_COMMON_HTTP_CLIENT_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include "absl/strings/string_view.h"
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/config.h"

namespace mflsync {

struct TlsOptions {
  bool verify = true;            // verify the server certificate and host
  std::string ca_file;           // PEM bundle; empty uses the system store
  std::string client_cert_file;  // PEM, for mutual TLS
  std::string client_key_file;   // PEM, for mutual TLS
};

struct HttpClientOptions {
  absl::Duration connect_timeout = absl::Seconds(10);
  absl::Duration request_timeout = absl::Seconds(60);
  size_t max_response_bytes = 64u << 20;
  bool accept_gzip = true;
  TlsOptions tls;
  std::string user_agent = "mflsync/0.1";
  // Called after each request with its HTTP status (0: no answer arrived)
  // and how long it took; e.g. a request-duration histogram. May be empty.
  std::function<void(int http_status, absl::Duration took)> on_response;
};

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  HttpHeaders headers;  // e.g. {"Authorization", "Basic ..."}
  std::string body;
  // The request only reads (a GraphQL query sent as POST): libcurl may send
  // it again by itself when a reused keep-alive connection closes before
  // any answer, as it may a GET, PUT or DELETE (idempotent). A POST that is
  // not read_only is never sent twice: that case is an UNAVAILABLE error
  // ("may have received and run it").
  bool read_only = false;
};

struct HttpResponse {
  int status = 0;
  HttpHeaders headers;  // names lower-cased, in arrival order
  std::string body;
  // First header with that (lower-case) name, or empty.
  std::string Header(absl::string_view name) const;
};

// One client owns one connection pool entry and keeps its connection alive
// between requests; it is not thread-safe: use one per thread. A POST that
// may change something (not read_only) is never re-sent silently by libcurl
// after a reused connection dropped (SetWriteBody in the .cc).
// Errors never contain credentials: URLs are redacted and headers are not
// echoed.
class HttpClient {
 public:
  explicit HttpClient(HttpClientOptions options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends the request. A transport failure is an error status:
  // DEADLINE_EXCEEDED (timeout), UNAVAILABLE (refused, reset, DNS),
  // RESOURCE_EXHAUSTED (body over the limit), FAILED_PRECONDITION (TLS).
  // Any HTTP status, 4xx and 5xx included, is a response.
  absl::StatusOr<HttpResponse> Send(const HttpRequest& request);

 private:
  HttpClientOptions options_;
  void* curl_ = nullptr;  // CURL*
};

// The TLS keys of one HTTP edge, under `prefix` (e.g. "openimis.tls."):
// verify (default true), ca_file, client_cert_file, client_key_file; `peer`
// names the server in the help text.
std::vector<ConfigField> TlsConfigFields(const std::string& prefix, absl::string_view peer);

// TlsOptions read from the keys TlsConfigFields declared under `prefix`.
TlsOptions TlsOptionsFromConfig(const Config& config, absl::string_view prefix);

// The start-up check of those keys beyond their types (the files' presence
// is the schema's): client_cert_file and client_key_file set together, a
// valid certificate and its key, a CA bundle of certificates (common/pem.h).
absl::Status ValidateTlsConfig(const Config& config, absl::string_view prefix);

// "Basic base64(user:password)".
std::string BasicAuthHeader(absl::string_view user, absl::string_view password);

}  // namespace mflsync

#endif  // MFLSYNC_COMMON_HTTP_CLIENT_H_
