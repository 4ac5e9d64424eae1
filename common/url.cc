#include "common/url.h"

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"

namespace mflsync {

std::string Url::Origin() const {
  bool v6 = host.find(':') != std::string::npos;
  return absl::StrCat(scheme, "://", v6 ? "[" : "", host, v6 ? "]" : "", ":", port);
}

absl::StatusOr<Url> ParseUrl(absl::string_view text) {
  Url url;
  size_t sep = text.find("://");
  if (sep == absl::string_view::npos)
    return absl::InvalidArgumentError("URL has no scheme");
  url.scheme = absl::AsciiStrToLower(text.substr(0, sep));
  if (url.scheme != "http" && url.scheme != "https")
    return absl::InvalidArgumentError(
        absl::StrCat("URL scheme '", url.scheme, "' is not http or https"));
  absl::string_view rest = text.substr(sep + 3);
  size_t end = rest.find_first_of("/?#");
  absl::string_view authority = rest.substr(0, end);
  rest = end == absl::string_view::npos ? absl::string_view() : rest.substr(end);
  if (authority.find('@') != absl::string_view::npos)
    return absl::InvalidArgumentError("URL carries credentials");
  absl::string_view port_text;
  if (absl::StartsWith(authority, "[")) {
    size_t close = authority.find(']');
    if (close == absl::string_view::npos)
      return absl::InvalidArgumentError("URL has an unclosed IPv6 host");
    url.host = std::string(authority.substr(1, close - 1));
    absl::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return absl::InvalidArgumentError("URL host is malformed");
      port_text = after.substr(1);
    }
  } else {
    size_t colon = authority.rfind(':');
    url.host = std::string(authority.substr(0, colon));
    if (colon != absl::string_view::npos) port_text = authority.substr(colon + 1);
  }
  url.host = absl::AsciiStrToLower(url.host);
  if (url.host.empty()) return absl::InvalidArgumentError("URL has no host");
  if (!port_text.empty()) {
    if (!absl::SimpleAtoi(port_text, &url.port) || url.port <= 0 || url.port > 65535)
      return absl::InvalidArgumentError("URL port is not 1-65535");
  } else {
    url.port = url.scheme == "https" ? 443 : 80;
  }
  size_t hash = rest.find('#');
  if (hash != absl::string_view::npos) rest = rest.substr(0, hash);
  size_t q = rest.find('?');
  url.path = std::string(rest.substr(0, q));
  if (url.path.empty()) url.path = "/";
  if (q != absl::string_view::npos) url.query = std::string(rest.substr(q + 1));
  return url;
}

bool SameOrigin(const Url& a, const Url& b) {
  return a.scheme == b.scheme && a.host == b.host && a.port == b.port;
}

absl::StatusOr<std::string> PercentDecode(absl::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size() || !absl::ascii_isxdigit(text[i + 1]) ||
          !absl::ascii_isxdigit(text[i + 2])) {
        return absl::InvalidArgumentError(
            absl::StrCat("bad percent escape at offset ", i));
      }
      auto hex = [](char h) {
        return absl::ascii_isdigit(h) ? h - '0' : absl::ascii_tolower(h) - 'a' + 10;
      };
      out.push_back(static_cast<char>(hex(text[i + 1]) * 16 + hex(text[i + 2])));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string PercentEncode(absl::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string BuildQuery(const std::vector<std::pair<std::string, std::string>>& params) {
  std::string out;
  for (const auto& [k, v] : params) {
    if (!out.empty()) out.push_back('&');
    absl::StrAppend(&out, PercentEncode(k), "=", PercentEncode(v));
  }
  return out;
}

std::string JoinUrl(absl::string_view base, absl::string_view path) {
  while (!base.empty() && base.back() == '/') base.remove_suffix(1);
  while (!path.empty() && path.front() == '/') path.remove_prefix(1);
  return absl::StrCat(base, "/", path);
}

}  // namespace mflsync
