// The next-link policy: a Bundle's `next` URL is remote data, so it is
// followed only to the configured scheme, host and port. Links that the
// server percent-encoded as a whole (openIMIS does) are decoded first.
#ifndef MFLSYNC_FETCHER_NEXT_LINK_H_
#define MFLSYNC_FETCHER_NEXT_LINK_H_

#include <string>

#include "absl/status/statusor.h"
#include "common/url.h"

namespace mflsync::fetcher {

// A server behind openHIM writes its own address into next links. When the
// administrator names that address (`sources.*.upstream_base_url`), links
// under it are re-pointed to the configured base URL: the request still goes
// only to the configured origin, never to a host taken from remote data.
struct NextLinkRebase {
  Url upstream;           // parsed upstream_base_url
  std::string base_url;   // the configured base URL to put in its place
};

// Returns the absolute URL to request next, or PERMISSION_DENIED when the
// link leaves the base's origin (and is not under `rebase`'s upstream),
// INVALID_ARGUMENT when it is unreadable.
absl::StatusOr<std::string> ResolveNextLink(const Url& base, absl::string_view link,
                                            const NextLinkRebase* rebase = nullptr);

}  // namespace mflsync::fetcher

#endif  // MFLSYNC_FETCHER_NEXT_LINK_H_
