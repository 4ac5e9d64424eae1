// The record journal: where each fetched record version is in the pipeline
// (for exactly-once resumption after a crash), and the newest version of
// each Location that reached openIMIS (newest version wins).
#ifndef MFLSYNC_SCHEDULER_JOURNAL_H_
#define MFLSYNC_SCHEDULER_JOURNAL_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/sqlite.h"
#include "mflsync/v1/records.pb.h"
#include "mflsync/v1/scheduler.pb.h"

namespace mflsync::scheduler {

// Where one record version is in the pipeline. Everything but kInFlight is
// terminal: the watermark may move past it.
enum class JournalState {
  kInFlight = 0,
  kWritten = 1,
  kUnchanged = 2,
  kParked = 3,
  // Older than (or the same as) the newest version already in openIMIS: not
  // written (newest version wins).
  kStale = 4,
};

// What happened to one record in a batch.
struct RecordOutcome {
  v1::SourceRecord record;
  JournalState state = JournalState::kInFlight;
  // For kParked: where and why, and whether it may heal by itself.
  v1::FailureStage stage = v1::FAILURE_STAGE_UNSPECIFIED;
  std::string reason;
  bool transient = false;
  // Set when the record came from this failure entry (a retry run).
  int64_t failure_id = 0;
  // For a kUnchanged record that is not synced at all (not a facility):
  // why; kept in the run's skipped list (ListSkipped).
  std::string skip_reason;
  // For a kWritten record: the write (kept in the change history).
  std::optional<v1::FacilityChange> change;
};

// Whether `state` says the version reached openIMIS (written, or found
// there already).
bool ReachedOpenImis(JournalState state);

// The journal and versions tables of a state database (state_db.h). Runs
// inside the caller's transaction; not thread-safe (StateStore serializes).
class Journal {
 public:
  explicit Journal(SqliteDb& db) : db_(db) {}

  // Marks `records` in flight for `run_id`.
  absl::Status MarkInFlight(const std::string& source_id, const std::string& run_id,
                            const std::vector<v1::SourceRecord>& records, absl::Time now);
  // Records the state of each of `outcomes` for `run_id`.
  absl::Status Record(const std::string& source_id, const std::string& run_id,
                      const std::vector<RecordOutcome>& outcomes, absl::Time now);
  // Terminal versions with lastUpdated >= `from` (at most `limit`), newest
  // first.
  absl::StatusOr<std::vector<v1::RecordKey>> AlreadySeen(const std::string& source_id,
                                                         absl::Time from, int limit);
  // Deletes terminal rows older than `before`.
  absl::Status Prune(const std::string& source_id, absl::Time before);
  // The state of one version; nullopt when the journal has no row for it.
  absl::StatusOr<std::optional<JournalState>> StateOf(const std::string& source_id,
                                                       const v1::RecordKey& key);

  // Raises the newest versions to those of the `outcomes` that reached
  // openIMIS (never lowers one).
  absl::Status RaiseNewestVersions(const std::string& source_id,
                                   const std::vector<RecordOutcome>& outcomes);
  // The newest version of each of `location_ids` that reached openIMIS, by
  // Location id; Locations without one are absent. Never pruned.
  absl::StatusOr<std::map<std::string, v1::RecordKey>> NewestVersions(
      const std::string& source_id, const std::vector<std::string>& location_ids);

 private:
  SqliteDb& db_;
};

}  // namespace mflsync::scheduler

#endif  // MFLSYNC_SCHEDULER_JOURNAL_H_
