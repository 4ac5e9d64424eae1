// The one rule for "an outside HTTP system is reachable", used by the
// dependency checks (common/dependency_health.h) of the writer (openIMIS)
// and the mediator (openHIM's API): one request, no retry, a bounded
// time-out; the system answers with a status below 500 other than 404.
#ifndef MFLSYNC_COMMON_HTTP_PROBE_H_
#define MFLSYNC_COMMON_HTTP_PROBE_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/http_client.h"

namespace mflsync {

// OK when `request` gets an answer below 500 other than 404 within
// `timeout`. Otherwise UNAVAILABLE (or DEADLINE_EXCEEDED): "`what` at URL:"
// and why: no answer (refused, reset, DNS, TLS, time-out), a 5xx (e.g.
// openHIM's 502 for a route whose server is down) or 404 (the path is not
// served: a wrong base URL or a missing openHIM channel). The URL is
// redacted; no header is echoed.
absl::Status ProbeHttp(absl::string_view what, const HttpRequest& request,
                       const TlsOptions& tls, absl::Duration timeout);

}  // namespace mflsync

#endif  // MFLSYNC_COMMON_HTTP_PROBE_H_
