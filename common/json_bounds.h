// Bounds on JSON received from a peer, checked on the raw bytes before any
// parse: nesting depth and the length of one string, so that a hostile body
// cannot make the parser build a structure far larger than the body.
#ifndef MFLSYNC_COMMON_JSON_BOUNDS_H_
#define MFLSYNC_COMMON_JSON_BOUNDS_H_

#include <cstddef>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace mflsync {

struct JsonBounds {
  // Arrays and objects nested deeper than this are refused (FHIR resources
  // nest about 10 deep; a Bundle adds 3).
  int max_depth = 64;
  // One string (member name or value) longer than this, in bytes as sent
  // (escapes counted as written), is refused.
  size_t max_string_bytes = 1 << 20;
};

// OK, or INVALID_ARGUMENT naming the bound and the byte offset where it was
// passed. Not a validator: malformed JSON is left to the parser.
absl::Status CheckJsonBounds(absl::string_view body, const JsonBounds& bounds = {});

}  // namespace mflsync

#endif  // MFLSYNC_COMMON_JSON_BOUNDS_H_
