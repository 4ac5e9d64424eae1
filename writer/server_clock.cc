#include "writer/server_clock.h"

#include <algorithm>

namespace mflsync::writer {

void ServerClock::Observe(absl::Time server_time, absl::Time local_now) {
  if (server_time == absl::InfinitePast() || server_time == absl::InfiniteFuture()) return;
  const absl::Duration offset = server_time - local_now;
  absl::MutexLock lock(&mu_);
  offset_ = offset_.has_value() ? std::max(*offset_, offset) : offset;
}

std::optional<absl::Time> ServerClock::AtLeast(absl::Time local_now) const {
  absl::MutexLock lock(&mu_);
  if (!offset_.has_value()) return std::nullopt;
  return local_now + *offset_;
}

}  // namespace mflsync::writer
