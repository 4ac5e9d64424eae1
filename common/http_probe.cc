#include "common/http_probe.h"

#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace mflsync {

absl::Status ProbeHttp(absl::string_view what, const HttpRequest& request,
                       const TlsOptions& tls, absl::Duration timeout) {
  HttpClientOptions options;
  options.connect_timeout = timeout;
  options.request_timeout = timeout;
  options.max_response_bytes = 1 << 20;
  options.tls = tls;
  options.user_agent = "mflsync-health/0.1";
  HttpClient http(options);
  const std::string where = absl::StrCat(what, " at ", Redact(request.url));
  absl::StatusOr<HttpResponse> response = http.Send(request);
  if (!response.ok()) {
    return absl::Status(response.status().code(),
                        absl::StrCat(where, ": no answer: ", response.status().message()));
  }
  if (response->status >= 500) {
    return absl::UnavailableError(absl::StrCat(where, ": answered HTTP ", response->status));
  }
  if (response->status == 404) {
    return absl::UnavailableError(absl::StrCat(
        where, ": answered HTTP 404 (path not served: a wrong base URL, or an openHIM "
               "channel that is not installed yet)"));
  }
  return absl::OkStatus();
}

}  // namespace mflsync
