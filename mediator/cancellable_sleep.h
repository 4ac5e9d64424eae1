// A sleep that a stopping mediator cuts short: the watcher and completer
// threads wait with it so that Stop() never waits out a backoff.
#ifndef MFLSYNC_MEDIATOR_CANCELLABLE_SLEEP_H_
#define MFLSYNC_MEDIATOR_CANCELLABLE_SLEEP_H_

#include <algorithm>
#include <functional>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace mflsync::mediator {

// Sleeps `d` in steps of at most `step`; false when `cancelled` turned true.
inline bool SleepUnlessCancelled(absl::Duration d, absl::Duration step,
                                 const std::function<bool()>& cancelled) {
  absl::Time until = absl::Now() + d;
  while (absl::Now() < until) {
    if (cancelled()) return false;
    absl::SleepFor(std::min(step, until - absl::Now()));
  }
  return !cancelled();
}

}  // namespace mflsync::mediator

#endif  // MFLSYNC_MEDIATOR_CANCELLABLE_SLEEP_H_
