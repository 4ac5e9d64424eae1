#include "fetcher/mfl_client.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/backoff.h"
#include "common/fhir.h"
#include "common/log.h"

namespace mflsync::fetcher {
namespace {

bool TransientStatus(int status) {
  return status == 408 || status == 429 || status == 502 || status == 503 ||
         status == 504;
}

bool TransientTransport(const absl::Status& s) {
  return s.code() == absl::StatusCode::kUnavailable ||
         s.code() == absl::StatusCode::kDeadlineExceeded;
}

absl::Status HttpError(int status, const std::string& where, const std::string& text) {
  std::string message = absl::StrCat(where, ": HTTP ", status, ": ", text);
  switch (status) {
    case 400:
      return absl::InvalidArgumentError(message);
    case 401:
      return absl::UnauthenticatedError(
          absl::StrCat(message, " (check sources.*.auth settings)"));
    case 403:
      return absl::PermissionDeniedError(message);
    case 404:
      return absl::NotFoundError(message);
    default:
      if (status >= 500) return absl::UnavailableError(message);
      return absl::FailedPreconditionError(message);
  }
}

}  // namespace

std::optional<absl::Time> ParseHttpDate(absl::string_view value) {
  absl::Time t;
  std::string err;
  if (absl::ParseTime("%a, %d %b %Y %H:%M:%S GMT", std::string(value), &t, &err)) return t;
  return std::nullopt;
}

std::optional<absl::Duration> ParseRetryAfter(absl::string_view value, absl::Time now) {
  value = absl::StripAsciiWhitespace(value);
  if (value.empty()) return std::nullopt;
  int64_t seconds;
  if (absl::SimpleAtoi(value, &seconds)) {
    if (seconds < 0) return std::nullopt;
    return absl::Seconds(seconds);
  }
  std::optional<absl::Time> at = ParseHttpDate(value);
  if (!at.has_value()) return std::nullopt;
  return std::max(absl::ZeroDuration(), *at - now);
}

MflClient::MflClient(const SourceConfig& source, Sleeper sleeper)
    : source_(source),
      http_(HttpClientOptions{.connect_timeout = source.connect_timeout,
                              .request_timeout = source.read_timeout,
                              .max_response_bytes = source.max_body_bytes,
                              .accept_gzip = true,
                              .tls = source.tls,
                              .on_response = source.on_response}),
      sleeper_(std::move(sleeper)),
      rng_(std::random_device{}()) {
  if (!sleeper_) {
    sleeper_ = [](absl::Duration d) {
      absl::SleepFor(d);
      return true;
    };
  }
  switch (source_.auth_type) {
    case AuthType::kBasic:
      auth_header_ = BasicAuthHeader(source_.username, source_.password);
      break;
    case AuthType::kCustom:
      auth_header_ = absl::StrCat("Custom ", source_.token);
      break;
    case AuthType::kNone:
      break;
  }
  if (!auth_header_.empty()) RegisterSecret(auth_header_.substr(auth_header_.find(' ') + 1));
}

absl::Duration MflClient::Backoff(int attempt) {
  // Full jitter: uniform in [0, min(max, initial * 2^(attempt-1))].
  const absl::Duration cap =
      ExponentialBackoff(source_.retry.initial_backoff, source_.retry.max_backoff, attempt);
  int64_t cap_us = std::max<int64_t>(1, absl::ToInt64Microseconds(cap));
  std::uniform_int_distribution<int64_t> dist(cap_us / 2, cap_us);
  return absl::Microseconds(dist(rng_));
}

absl::StatusOr<MflResponse> MflClient::Get(const std::string& url) {
  HttpRequest request;
  request.url = url;
  request.headers.emplace_back("Accept", "application/fhir+json");
  if (!auth_header_.empty()) request.headers.emplace_back("Authorization", auth_header_);
  const std::string where = absl::StrCat("GET ", Redact(url));
  const int max_attempts = std::max(1, source_.retry.max_attempts);
  std::string last_problem;
  for (int attempt = 1;; ++attempt) {
    ++requests_;
    absl::StatusOr<HttpResponse> response = http_.Send(request);
    std::optional<absl::Duration> wait;
    if (!response.ok()) {
      if (!TransientTransport(response.status())) return response.status();
      last_problem = std::string(response.status().message());
    } else if (response->status >= 200 && response->status < 300) {
      MflResponse out;
      out.body = std::move(response->body);
      out.server_time = ParseHttpDate(response->Header("date"));
      out.attempts = attempt;
      return out;
    } else if (TransientStatus(response->status)) {
      last_problem = absl::StrCat(where, ": HTTP ", response->status, ": ",
                                  OperationOutcomeText(response->body, 200));
      std::string retry_after = response->Header("retry-after");
      if (!retry_after.empty()) {
        wait = ParseRetryAfter(retry_after, absl::Now());
        if (wait.has_value() && *wait > source_.retry.max_retry_after)
          return absl::UnavailableError(absl::StrCat(
              last_problem, "; the server asks to retry after ",
              absl::FormatDuration(*wait), ", longer than retry.max_retry_after = ",
              absl::FormatDuration(source_.retry.max_retry_after)));
      }
    } else {
      return HttpError(response->status, where, OperationOutcomeText(response->body));
    }
    if (attempt >= max_attempts) {
      return absl::UnavailableError(absl::StrCat(
          last_problem, " (gave up after ", attempt, " attempt",
          attempt == 1 ? "" : "s", ")"));
    }
    // The server's Retry-After wins over our own backoff.
    absl::Duration delay = wait.has_value() ? *wait : Backoff(attempt);
    LogWarning("MFL request failed, retrying",
               {{"source", source_.name},
                {"problem", last_problem},
                {"attempt", attempt},
                {"retry_in_ms", absl::ToInt64Milliseconds(delay)}});
    if (!sleeper_(delay))
      return absl::CancelledError(absl::StrCat(where, ": cancelled while waiting to retry"));
  }
}

}  // namespace mflsync::fetcher
