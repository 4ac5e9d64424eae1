// A client of the openHIM management API (port 8080): Basic auth as an
// openHIM user, TLS with a CA option for openHIM's self-signed certificate,
// JSON in and out. Thread-safe (one HTTP connection per call).
#ifndef MFLSYNC_MEDIATOR_OPENHIM_API_H_
#define MFLSYNC_MEDIATOR_OPENHIM_API_H_

#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/http_client.h"

namespace mflsync::mediator {

struct OpenHimApiOptions {
  std::string api_url;   // "https://openhim:8080" (no trailing path needed)
  std::string username;  // openHIM user (email)
  std::string password;  // secret
  TlsOptions tls;
  absl::Duration connect_timeout = absl::Seconds(5);
  absl::Duration request_timeout = absl::Seconds(30);
};

class OpenHimApi {
 public:
  explicit OpenHimApi(OpenHimApiOptions options);

  // Sends `method` `path` (e.g. "/mediators") with `body` as JSON (null: no
  // body). Any HTTP status is a response; transport faults are errors that
  // name the API URL (credentials never appear).
  absl::StatusOr<HttpResponse> Call(const std::string& method, const std::string& path,
                                    const nlohmann::json& body) const;

  // GET `path`, expecting 200 and a JSON list; `what` names the call in
  // errors (e.g. "GET /transactions", without the query).
  absl::StatusOr<nlohmann::json> GetJsonList(const std::string& path,
                                             const std::string& what) const;

  // An error for an unexpected answer: what was called, the status, and why
  // (401: the user or password is wrong; 403: the user lacks the
  // permission), with the start of openHIM's text.
  absl::Status UnexpectedAnswer(const std::string& what, const HttpResponse& response) const;

  const std::string& api_url() const { return options_.api_url; }
  const std::string& username() const { return options_.username; }

 private:
  OpenHimApiOptions options_;
};

}  // namespace mflsync::mediator

#endif  // MFLSYNC_MEDIATOR_OPENHIM_API_H_
