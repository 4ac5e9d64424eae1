// Conversions between absl::Status (the error currency inside mflsync) and
// grpc::Status (used only at the service edge).
#ifndef MFLSYNC_COMMON_STATUS_UTIL_H_
#define MFLSYNC_COMMON_STATUS_UTIL_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace mflsync {

// Maps an absl::Status to the grpc::Status with the same code and message.
grpc::Status ToGrpcStatus(const absl::Status& status);

// Maps a grpc::Status to the absl::Status with the same code and message.
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace mflsync

#endif  // MFLSYNC_COMMON_STATUS_UTIL_H_
