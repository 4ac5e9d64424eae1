// Builds the Rejection messages every stage attaches to a record it refuses
// (mapper rules, writer plans): one place that keeps them valid UTF-8 and
// bounded.
#ifndef MFLSYNC_COMMON_REJECTION_H_
#define MFLSYNC_COMMON_REJECTION_H_

#include <vector>

#include "absl/strings/string_view.h"
#include "mflsync/v1/records.pb.h"

namespace mflsync {

// A rejection; the value is cut to 200 bytes and the path to 1,000, the
// message to 2,000, each on a character boundary, and invalid UTF-8 is
// replaced by '?' (protobuf strings are UTF-8).
v1::Rejection MakeRejection(absl::string_view path, absl::string_view rule,
                            absl::string_view value, absl::string_view message);

// Appends MakeRejection(...) to `out`.
void AddRejection(std::vector<v1::Rejection>* out, absl::string_view path,
                  absl::string_view rule, absl::string_view value,
                  absl::string_view message);

}  // namespace mflsync

#endif  // MFLSYNC_COMMON_REJECTION_H_
