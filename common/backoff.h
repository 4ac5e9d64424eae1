// The one exponential backoff: the wait before retry `attempt` + 1 doubles
// from `initial` and stops at `max`. Callers add their own jitter.
#ifndef MFLSYNC_COMMON_BACKOFF_H_
#define MFLSYNC_COMMON_BACKOFF_H_

#include <algorithm>

#include "absl/time/time.h"

namespace mflsync {

// initial × 2^(attempt-1), at most `max`; `initial` for attempt ≤ 1.
inline absl::Duration ExponentialBackoff(absl::Duration initial, absl::Duration max,
                                         int64_t attempt) {
  absl::Duration wait = initial;
  for (int64_t i = 1; i < attempt && wait < max; ++i) wait *= 2;
  return std::min(wait, max);
}

}  // namespace mflsync

#endif  // MFLSYNC_COMMON_BACKOFF_H_
