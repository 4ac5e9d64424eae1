// The one conversion between absl::Time, microseconds since the epoch (the
// scheduler's storage unit) and google.protobuf.Timestamp; sub-second parts
// are kept to the microsecond and times before 1970 round down.
#ifndef MFLSYNC_COMMON_PROTO_TIME_H_
#define MFLSYNC_COMMON_PROTO_TIME_H_

#include <cstdint>

#include <google/protobuf/timestamp.pb.h>

#include "absl/time/time.h"

namespace mflsync {

int64_t ToMicros(const google::protobuf::Timestamp& ts);
google::protobuf::Timestamp FromMicros(int64_t micros);
google::protobuf::Timestamp ToTimestamp(absl::Time t);
absl::Time FromTimestamp(const google::protobuf::Timestamp& ts);

}  // namespace mflsync

#endif  // MFLSYNC_COMMON_PROTO_TIME_H_
