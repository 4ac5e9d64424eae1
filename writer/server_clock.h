// openIMIS's clock as the writer can know it: each write's stored
// validityFrom (openIMIS's naive server time) read back at a local time
// bounds openIMIS's clock from below. The index refresh uses the bound to
// read again only what could still have been in flight at the previous
// refresh (WriterCore::Since). Thread-safe.
#ifndef MFLSYNC_WRITER_SERVER_CLOCK_H_
#define MFLSYNC_WRITER_SERVER_CLOCK_H_

#include <optional>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace mflsync::writer {

class ServerClock {
 public:
  // openIMIS stamped `server_time` no later than `local_now` (local clock).
  void Observe(absl::Time server_time, absl::Time local_now = absl::Now());
  // openIMIS's time at `local_now` is at least this; nullopt before any
  // observation.
  std::optional<absl::Time> AtLeast(absl::Time local_now = absl::Now()) const;

 private:
  mutable absl::Mutex mu_;
  // The largest server − local difference seen.
  std::optional<absl::Duration> offset_ ABSL_GUARDED_BY(mu_);
};

}  // namespace mflsync::writer

#endif  // MFLSYNC_WRITER_SERVER_CLOCK_H_
