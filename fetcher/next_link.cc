#include "fetcher/next_link.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace mflsync::fetcher {

absl::StatusOr<std::string> ResolveNextLink(const Url& base, absl::string_view link,
                                            const NextLinkRebase* rebase) {
  std::string text(absl::StripAsciiWhitespace(link));
  const std::string shown = Redact(text.substr(0, 300));
  // "http%3A%2F%2F…": encoded as a whole; decode once.
  std::string lower = absl::AsciiStrToLower(text.substr(0, 12));
  if (absl::StartsWith(lower, "http%3a") || absl::StartsWith(lower, "https%3a")) {
    absl::StatusOr<std::string> decoded = PercentDecode(text);
    if (!decoded.ok())
      return absl::InvalidArgumentError(absl::StrCat(
          "next link '", shown, "' looks percent-encoded but is not: ",
          decoded.status().message()));
    text = *std::move(decoded);
  }
  if (text.empty()) return absl::InvalidArgumentError("next link is empty");
  if (text[0] == '/' && (text.size() < 2 || text[1] != '/')) {
    // Relative to the server root: stays on the base's origin by construction.
    text = absl::StrCat(base.Origin(), text);
  }
  absl::StatusOr<Url> url = ParseUrl(text);
  if (!url.ok())
    return absl::InvalidArgumentError(
        absl::StrCat("next link '", shown, "' is not a usable URL: ", url.status().message()));
  if (!SameOrigin(*url, base) && rebase != nullptr && SameOrigin(*url, rebase->upstream)) {
    std::string prefix = rebase->upstream.path;
    while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
    const std::string& path = url->path;
    if (absl::StartsWith(path, prefix) &&
        (path.size() == prefix.size() || path[prefix.size()] == '/')) {
      std::string rebased = JoinUrl(rebase->base_url, path.substr(prefix.size()));
      if (!url->query.empty()) absl::StrAppend(&rebased, "?", url->query);
      return rebased;
    }
  }
  if (!SameOrigin(*url, base)) {
    return absl::PermissionDeniedError(absl::StrCat(
        "next link points to ", url->Origin(), ", not to the configured origin ",
        base.Origin(), "; not followed (links from remote data never leave the source)"));
  }
  return text;
}

}  // namespace mflsync::fetcher
