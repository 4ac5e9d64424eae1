// URL parsing and checks for the HTTP edges: origins (so that a link taken
// from remote data is followed only to the configured server), percent
// encoding, and query building.
#ifndef MFLSYNC_COMMON_URL_H_
#define MFLSYNC_COMMON_URL_H_

#include <string>
#include "absl/strings/string_view.h"
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace mflsync {

struct Url {
  std::string scheme;  // "http" or "https", lower-case
  std::string host;    // lower-case; IPv6 without brackets
  int port = 0;        // explicit or the scheme's default
  std::string path;    // "/fhir/Location", at least "/"
  std::string query;   // without "?"
  // scheme://host:port
  std::string Origin() const;
};

// Parses an absolute http(s) URL. Rejects credentials in the authority,
// other schemes, and malformed ports.
absl::StatusOr<Url> ParseUrl(absl::string_view text);

// True when both have the same scheme, host and port.
bool SameOrigin(const Url& a, const Url& b);

// Decodes %XX escapes (and '+' as space when `plus_is_space`).
absl::StatusOr<std::string> PercentDecode(absl::string_view text,
                                          bool plus_is_space = false);

// Encodes everything but unreserved characters (RFC 3986).
std::string PercentEncode(absl::string_view text);

// "a=1&b=x%20y" from pairs.
std::string BuildQuery(const std::vector<std::pair<std::string, std::string>>& params);

// Joins a base URL ("https://h/fhir" or ".../fhir/") and a relative path
// ("Location") with exactly one slash.
std::string JoinUrl(absl::string_view base, absl::string_view path);

}  // namespace mflsync

#endif  // MFLSYNC_COMMON_URL_H_
