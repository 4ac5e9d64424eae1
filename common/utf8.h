// UTF-8-safe bounds for text headed for a protobuf string, a log line or a
// terminal: a cut never splits a character.
#ifndef MFLSYNC_COMMON_UTF8_H_
#define MFLSYNC_COMMON_UTF8_H_

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace mflsync {

// `text` with invalid UTF-8 bytes replaced by '?', cut to at most
// `max_bytes` on a character boundary (protobuf strings must be valid
// UTF-8).
std::string SafeUtf8(absl::string_view text, size_t max_bytes);

// SafeUtf8 with "..." appended when cut and ASCII control characters
// replaced by spaces: safe as one log or CLI line.
std::string OneLine(absl::string_view text, size_t max_bytes);

}  // namespace mflsync

#endif  // MFLSYNC_COMMON_UTF8_H_
