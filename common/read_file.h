// Reads a whole (small) file: PEM certificates and keys, access files,
// tokens. The one place that turns an unreadable file into an error.
#ifndef MFLSYNC_COMMON_READ_FILE_H_
#define MFLSYNC_COMMON_READ_FILE_H_

#include <string>

#include "absl/status/statusor.h"

namespace mflsync {

// The file's bytes, or NotFound "PATH: cannot be read" (never its content).
absl::StatusOr<std::string> ReadTextFile(const std::string& path);

}  // namespace mflsync

#endif  // MFLSYNC_COMMON_READ_FILE_H_
