// The failure queue: one entry per Location whose record was parked (could
// not be fetched, mapped or written), with the stored record for retries.
// Transient failures are retried automatically with exponential backoff up
// to a limit; a later version that reaches openIMIS resolves the entry; an
// administrator may retry or dismiss it.
#ifndef MFLSYNC_SCHEDULER_FAILURE_QUEUE_H_
#define MFLSYNC_SCHEDULER_FAILURE_QUEUE_H_

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/sqlite.h"
#include "mflsync/v1/records.pb.h"
#include "mflsync/v1/scheduler.pb.h"
#include "scheduler/journal.h"

namespace mflsync::scheduler {

// Automatic retries of transient failures.
struct RetryPolicy {
  absl::Duration initial_backoff = absl::Seconds(30);
  absl::Duration max_backoff = absl::Hours(1);
  int max_attempts = 10;
};

// The failure-queue entries a run created: how many, the first few.
struct NewFailures {
  int64_t count = 0;
  std::vector<v1::Failure> first;
};

// The failures table of a state database (state_db.h). Runs inside the
// caller's transaction; not thread-safe (StateStore serializes).
class FailureQueue {
 public:
  FailureQueue(SqliteDb& db, RetryPolicy retry) : db_(db), retry_(retry) {}

  // Applies a batch's outcomes: a parked record opens or updates the open
  // entry of its Location (or the entry it was retried from); a written,
  // unchanged or stale one resolves its Location's open entries up to its
  // version.
  absl::Status Record(const std::string& source_id, const std::string& run_id,
                      const std::vector<RecordOutcome>& outcomes, absl::Time now);

  // Entries of `source_id` (every source when empty) in `state` (OPEN when
  // unspecified), oldest first, without raw_json.
  absl::StatusOr<std::vector<v1::Failure>> List(const std::string& source_id,
                                                v1::FailureState state, int page_size,
                                                const std::string& page_token,
                                                std::string* next_page_token);
  // With raw_json.
  absl::StatusOr<v1::Failure> Get(int64_t failure_id);
  // Open entries among `ids` (all open entries of `source_id` when `ids` is
  // empty), each with its stored record. NOT_FOUND names an unknown id;
  // FAILED_PRECONDITION names an entry that is not open.
  absl::StatusOr<std::vector<std::pair<v1::Failure, v1::SourceRecord>>> ToRetry(
      const std::vector<int64_t>& ids, const std::string& source_id);
  // The open entry of each of `location_ids` that has one, by Location id.
  absl::StatusOr<std::map<std::string, int64_t>> OpenIds(
      const std::string& source_id, const std::vector<std::string>& location_ids);
  // Open transient entries whose next attempt is due, grouped by source.
  absl::StatusOr<std::map<std::string, std::vector<int64_t>>> DueRetries(absl::Time now);
  // Open entries per source (sources without one are absent).
  absl::StatusOr<std::map<std::string, int64_t>> CountOpen();
  // The entries run `run_id` created (not older ones it parked again: those
  // were created before `run_started`): how many, and the first `limit` by id.
  absl::StatusOr<NewFailures> CreatedBy(const std::string& run_id, absl::Time run_started,
                                        int limit);
  // Dismisses open entries; returns how many changed. An unknown id is
  // NOT_FOUND: roll the transaction back then.
  absl::StatusOr<int> Dismiss(const std::vector<int64_t>& ids, const std::string& reason,
                              absl::Time now);
  // Opens dismissed entries again (no automatic retry planned); returns how
  // many. An unknown id is NOT_FOUND; one not dismissed, or whose Location
  // has another open entry, FAILED_PRECONDITION: roll the transaction back
  // then.
  absl::StatusOr<int> Reopen(const std::vector<int64_t>& ids, absl::Time now);

 private:
  using FailureAndRecord = std::pair<v1::Failure, v1::SourceRecord>;
  absl::StatusOr<std::vector<FailureAndRecord>> AllOpen(const std::string& source_id);
  absl::StatusOr<std::vector<FailureAndRecord>> OpenByIds(const std::vector<int64_t>& ids);
  // OK when entry `id` is dismissed and its Location has no open entry.
  absl::Status CheckReopenable(int64_t id);

  SqliteDb& db_;
  RetryPolicy retry_;
};

}  // namespace mflsync::scheduler

#endif  // MFLSYNC_SCHEDULER_FAILURE_QUEUE_H_
