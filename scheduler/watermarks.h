// Per-source watermarks: the lastUpdated up to which a source's records are
// all terminal, so the next incremental run fetches from there. Runs only
// move a watermark forward; an operator may set it anywhere or clear it, and
// each such change is kept with its reason.
#ifndef MFLSYNC_SCHEDULER_WATERMARKS_H_
#define MFLSYNC_SCHEDULER_WATERMARKS_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/sqlite.h"
#include "mflsync/v1/scheduler.pb.h"

namespace mflsync::scheduler {

// The watermarks and watermark_changes tables of a state database
// (state_db.h). Runs inside the caller's transaction; not thread-safe
// (StateStore serializes).
class Watermarks {
 public:
  explicit Watermarks(SqliteDb& db) : db_(db) {}

  // nullopt when the source has none.
  absl::StatusOr<std::optional<absl::Time>> Get(const std::string& source_id);
  // A run's rule: moves the watermark forward to `watermark`, never back.
  absl::Status MoveForward(const std::string& source_id, absl::Time watermark,
                           absl::Time now);
  // An operator's change: sets the watermark (back or forward) or clears it
  // (nullopt), and records the change with `reason`. Call it in one
  // transaction, so the recorded previous value is the one replaced.
  absl::StatusOr<v1::WatermarkChange> Set(const std::string& source_id,
                                          std::optional<absl::Time> watermark,
                                          const std::string& reason, absl::Time now);
  // The operator changes of a source's watermark, newest first.
  absl::StatusOr<std::vector<v1::WatermarkChange>> Changes(const std::string& source_id,
                                                           int limit);

 private:
  absl::Status Write(const std::string& source_id, std::optional<absl::Time> watermark,
                     absl::Time now);
  absl::Status RecordChange(const std::string& source_id, std::optional<absl::Time> previous,
                            std::optional<absl::Time> watermark, const std::string& reason,
                            absl::Time now);

  SqliteDb& db_;
};

}  // namespace mflsync::scheduler

#endif  // MFLSYNC_SCHEDULER_WATERMARKS_H_
