// SHA-256 of bytes as lower-case hex (OpenSSL): token hashes in the access
// file, stable names for MFL entries that carry no id.
#ifndef MFLSYNC_COMMON_SHA256_H_
#define MFLSYNC_COMMON_SHA256_H_

#include <string>

#include "absl/strings/string_view.h"

namespace mflsync {

// 64 lower-case hex digits.
std::string Sha256Hex(absl::string_view bytes);

}  // namespace mflsync

#endif  // MFLSYNC_COMMON_SHA256_H_
