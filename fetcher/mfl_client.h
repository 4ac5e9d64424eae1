// HTTP client of one MFL source: adds the openHIM client credentials, retries
// transient faults (429, 502, 503, 504, timeouts, resets) with bounded
// exponential backoff and jitter honouring Retry-After, and turns any other
// failure into a status that says what, where and why.
#ifndef MFLSYNC_FETCHER_MFL_CLIENT_H_
#define MFLSYNC_FETCHER_MFL_CLIENT_H_

#include <functional>
#include <optional>
#include <random>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/http_client.h"
#include "fetcher/source_config.h"

namespace mflsync::fetcher {

// One successful (2xx) answer.
struct MflResponse {
  std::string body;
  // The server's clock (HTTP Date header) when it answered, if it sent one.
  std::optional<absl::Time> server_time;
  int attempts = 1;  // HTTP attempts this answer took
};

class MflClient {
 public:
  // Waits between attempts; returns false when the wait was cut short by a
  // cancellation (the request then fails with CANCELLED).
  using Sleeper = std::function<bool(absl::Duration)>;

  explicit MflClient(const SourceConfig& source, Sleeper sleeper = nullptr);

  // GETs `url` (already checked to be on the source's origin).
  absl::StatusOr<MflResponse> Get(const std::string& url);

  // Requests made so far, retries included.
  int64_t requests() const { return requests_; }

 private:
  absl::Duration Backoff(int attempt);

  const SourceConfig& source_;
  HttpClient http_;
  Sleeper sleeper_;
  std::string auth_header_;
  std::mt19937_64 rng_;
  int64_t requests_ = 0;
};

// Parses a Retry-After value (delta seconds or an HTTP date) relative to
// `now`; nullopt when absent or unreadable.
std::optional<absl::Duration> ParseRetryAfter(absl::string_view value, absl::Time now);

// Parses an HTTP date ("Sun, 06 Nov 1994 08:49:37 GMT").
std::optional<absl::Time> ParseHttpDate(absl::string_view value);

}  // namespace mflsync::fetcher

#endif  // MFLSYNC_FETCHER_MFL_CLIENT_H_
