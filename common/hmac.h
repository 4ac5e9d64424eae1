// HMAC-SHA256 (RFC 2104 over SHA-256, OpenSSL) as lower-case hex: the
// signature of the scheduler's webhook deliveries (X-Mflsync-Signature).
#ifndef MFLSYNC_COMMON_HMAC_H_
#define MFLSYNC_COMMON_HMAC_H_

#include <string>

#include "absl/strings/string_view.h"

namespace mflsync {

// HMAC-SHA256 of `message` under `key`: 64 lower-case hex digits. Any key
// length (a key longer than SHA-256's block is hashed first, RFC 2104).
std::string HmacSha256Hex(absl::string_view key, absl::string_view message);

}  // namespace mflsync

#endif  // MFLSYNC_COMMON_HMAC_H_
