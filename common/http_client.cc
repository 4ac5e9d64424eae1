#include "common/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cstring>
#include <mutex>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/pem.h"

namespace mflsync {
namespace {

struct Transfer {
  HttpResponse* response;
  size_t limit;
  bool overflow = false;
};

// The body of a POST that may change something, handed to libcurl piece by
// piece. There is deliberately no seek callback: libcurl cannot rewind it,
// so it can never send it a second time by itself (see SetWriteBody).
struct Upload {
  absl::string_view body;
  size_t sent = 0;
};

size_t OnUpload(char* buffer, size_t size, size_t count, void* user) {
  auto* upload = static_cast<Upload*>(user);
  const size_t n = std::min(size * count, upload->body.size() - upload->sent);
  std::memcpy(buffer, upload->body.data() + upload->sent, n);
  upload->sent += n;
  return n;
}

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t n = size * count;
  if (t->response->body.size() + n > t->limit) {
    t->overflow = true;
    return 0;  // aborts the transfer
  }
  t->response->body.append(data, n);
  return n;
}

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t n = size * count;
  absl::string_view line(data, n);
  if (absl::StartsWith(line, "HTTP/")) {
    t->response->headers.clear();  // a new response (after 100 or redirect)
    return n;
  }
  size_t colon = line.find(':');
  if (colon != absl::string_view::npos) {
    std::string name = absl::AsciiStrToLower(line.substr(0, colon));
    std::string value(absl::StripAsciiWhitespace(line.substr(colon + 1)));
    t->response->headers.emplace_back(std::move(name), std::move(value));
  }
  return n;
}

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// How every request of a client travels: protocols, timeouts, TLS, and the
// callbacks that collect the answer into `transfer` (errors into `error`).
void SetTransferOptions(CURL* curl, const HttpClientOptions& options, Transfer* transfer,
                        char* error) {
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(absl::ToInt64Milliseconds(options.connect_timeout)));
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS,
                   static_cast<long>(absl::ToInt64Milliseconds(options.request_timeout)));
  curl_easy_setopt(curl, CURLOPT_USERAGENT, options.user_agent.c_str());
  if (options.accept_gzip) curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "gzip");
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, options.tls.verify ? 1L : 0L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, options.tls.verify ? 2L : 0L);
  if (!options.tls.ca_file.empty())
    curl_easy_setopt(curl, CURLOPT_CAINFO, options.tls.ca_file.c_str());
  if (!options.tls.client_cert_file.empty())
    curl_easy_setopt(curl, CURLOPT_SSLCERT, options.tls.client_cert_file.c_str());
  if (!options.tls.client_key_file.empty())
    curl_easy_setopt(curl, CURLOPT_SSLKEY, options.tls.client_key_file.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, transfer);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, transfer);
  curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE,
                   static_cast<curl_off_t>(options.max_response_bytes));
}

// Whether libcurl may send the request again by itself, on a fresh
// connection, when a reused keep-alive connection turns out closed before
// any answer: it only reads, or its method is idempotent (PUT, DELETE: sent
// twice, it leaves what sent once does). A POST that may write may not.
bool MayResend(const HttpRequest& request) {
  return request.read_only || request.method == "PUT" || request.method == "DELETE";
}

// The body of a request that MayResend.
void SetResendableBody(CURL* curl, const HttpRequest& request) {
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                   static_cast<curl_off_t>(request.body.size()));
}

// The body of a POST that may change something (a create, a mutation). It
// may ride a reused keep-alive connection, but is never sent twice: when
// that connection closes with no answer after the body went out, libcurl
// would re-send it on a fresh one, and a mutation openIMIS already committed
// would run again behind the callers' look-up-before-retry rule. Given
// through a read callback without a seek callback, the body cannot be
// rewound, so libcurl stops with CURLE_SEND_FAIL_REWIND instead (an
// UNAVAILABLE "may have been received" error for the caller to resolve).
// A connection found closed before any of the body went out is re-sent
// safely: the server cannot have run a request it did not receive whole.
void SetWriteBody(CURL* curl, const HttpRequest& request, Upload* upload) {
  upload->body = request.body;
  curl_easy_setopt(curl, CURLOPT_POST, 1L);
  curl_easy_setopt(curl, CURLOPT_READFUNCTION, OnUpload);
  curl_easy_setopt(curl, CURLOPT_READDATA, upload);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                   static_cast<curl_off_t>(request.body.size()));
}

// The request itself: URL, headers, method and body. Returns the header
// list, for the caller to free after the transfer.
struct curl_slist* SetRequest(CURL* curl, const HttpRequest& request, Upload* upload) {
  curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
  struct curl_slist* headers = nullptr;
  for (const auto& [name, value] : request.headers) {
    headers = curl_slist_append(headers, absl::StrCat(name, ": ", value).c_str());
  }
  headers = curl_slist_append(headers, "Expect:");
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  if (request.method == "GET") {
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
    return headers;
  }
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  if (MayResend(request)) {
    SetResendableBody(curl, request);
  } else {
    SetWriteBody(curl, request, upload);
  }
  return headers;
}

// A failed transfer as a status: timeouts DEADLINE_EXCEEDED, TLS trouble
// FAILED_PRECONDITION, a bad URL INVALID_ARGUMENT, the rest UNAVAILABLE.
// `where` names the request; `error` is libcurl's message, if any.
absl::Status TransferError(CURLcode rc, const char* error, const std::string& where) {
  std::string detail = error[0] != '\0' ? error : curl_easy_strerror(rc);
  std::string message = absl::StrCat(where, ": ", Redact(detail));
  switch (rc) {
    case CURLE_SEND_FAIL_REWIND:
      return absl::UnavailableError(absl::StrCat(
          where, ": the connection closed after the request was sent and before any answer; "
                 "the server may have received and run it"));
    case CURLE_OPERATION_TIMEDOUT:
      return absl::DeadlineExceededError(message);
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
      return absl::FailedPreconditionError(absl::StrCat("TLS: ", message));
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return absl::InvalidArgumentError(message);
    default:
      return absl::UnavailableError(message);
  }
}

}  // namespace

std::string HttpResponse::Header(absl::string_view name) const {
  for (const auto& [n, v] : headers)
    if (n == name) return v;
  return "";
}

std::vector<ConfigField> TlsConfigFields(const std::string& prefix, absl::string_view peer) {
  return {
      {.key = prefix + "verify", .type = ConfigType::kBool, .default_value = "true",
       .help = absl::StrCat("Verify ", peer,
                            "'s TLS certificate and host name (keep true outside tests).")},
      {.key = prefix + "ca_file", .type = ConfigType::kFile,
       .help = absl::StrCat("PEM CA bundle to verify ", peer,
                            " with (e.g. its self-signed CA); empty uses the system store.")},
      {.key = prefix + "client_cert_file", .type = ConfigType::kFile,
       .help = absl::StrCat("PEM client certificate for mutual TLS to ", peer, ".")},
      {.key = prefix + "client_key_file", .type = ConfigType::kFile,
       .help = absl::StrCat("PEM private key of ", prefix, "client_cert_file.")},
  };
}

TlsOptions TlsOptionsFromConfig(const Config& config, absl::string_view prefix) {
  TlsOptions tls;
  tls.verify = config.GetBool(absl::StrCat(prefix, "verify"));
  tls.ca_file = config.GetString(absl::StrCat(prefix, "ca_file"));
  tls.client_cert_file = config.GetString(absl::StrCat(prefix, "client_cert_file"));
  tls.client_key_file = config.GetString(absl::StrCat(prefix, "client_key_file"));
  return tls;
}

absl::Status ValidateTlsConfig(const Config& config, absl::string_view prefix) {
  return CheckTlsFiles(config,
                       {absl::StrCat(prefix, "client_cert_file"),
                        absl::StrCat(prefix, "client_key_file"), absl::StrCat(prefix, "ca_file")},
                       absl::Now());
}

std::string BasicAuthHeader(absl::string_view user, absl::string_view password) {
  return absl::StrCat("Basic ", absl::Base64Escape(absl::StrCat(user, ":", password)));
}

HttpClient::HttpClient(HttpClientOptions options) : options_(std::move(options)) {
  GlobalInit();
  curl_ = curl_easy_init();
}

HttpClient::~HttpClient() {
  if (curl_ != nullptr) curl_easy_cleanup(static_cast<CURL*>(curl_));
}

absl::StatusOr<HttpResponse> HttpClient::Send(const HttpRequest& request) {
  CURL* curl = static_cast<CURL*>(curl_);
  if (curl == nullptr) return absl::InternalError("libcurl could not initialise");
  curl_easy_reset(curl);  // keeps the connection cache
  HttpResponse response;
  Transfer transfer{&response, options_.max_response_bytes};
  char error[CURL_ERROR_SIZE] = {0};
  SetTransferOptions(curl, options_, &transfer, error);
  Upload upload;
  struct curl_slist* headers = SetRequest(curl, request, &upload);

  const absl::Time start = absl::Now();
  CURLcode rc = curl_easy_perform(curl);
  curl_slist_free_all(headers);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  response.status = static_cast<int>(status);
  if (options_.on_response) {
    options_.on_response(rc == CURLE_OK ? response.status : 0, absl::Now() - start);
  }

  if (rc == CURLE_OK && !transfer.overflow) return response;
  const std::string where = absl::StrCat(request.method, " ", Redact(request.url));
  if (transfer.overflow || rc == CURLE_FILESIZE_EXCEEDED) {
    return absl::ResourceExhaustedError(absl::StrCat(
        where, ": response body exceeds the limit of ",
        options_.max_response_bytes, " bytes"));
  }
  return TransferError(rc, error, where);
}

}  // namespace mflsync
