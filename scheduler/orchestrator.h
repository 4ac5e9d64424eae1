// Runs one sync, retry or push run: (fetch →) map → index lookup →
// reconcile → write, pipelined with a bounded number of batches in flight,
// recording every outcome and moving the watermark only past records that
// are written, unchanged or parked in the failure queue. The one record flow
// of the suite: every mode goes through Orchestrator::Pipeline; a dry run
// stops at the writer's plan and keeps it instead of writing.
#ifndef MFLSYNC_SCHEDULER_ORCHESTRATOR_H_
#define MFLSYNC_SCHEDULER_ORCHESTRATOR_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "mflsync/v1/scheduler.pb.h"
#include "scheduler/location_claims.h"
#include "scheduler/peers.h"
#include "scheduler/state_store.h"

namespace mflsync::scheduler {

struct OrchestratorOptions {
  int batch_size = 100;            // records per map/write batch
  int max_batches_in_flight = 4;   // backpressure bound
  int fetch_page_size = 0;         // 0: the fetcher's configuration
  // Terminal versions with lastUpdated >= watermark - window are sent to the
  // fetcher as already_seen; must cover the fetcher's overlap window.
  absl::Duration already_seen_window = absl::Minutes(10);
  int already_seen_limit = 200000;
  // Peer calls that fail with UNAVAILABLE (or DEADLINE_EXCEEDED for calls
  // without side effects) are tried at least this many times, and again
  // while the failures have lasted less than peer_outage; the wait starts at
  // peer_backoff and doubles up to kMaxPeerBackoff. A fetch that breaks
  // resumes from the last committed point within the same budget.
  int peer_attempts = 3;
  absl::Duration peer_backoff = absl::Seconds(1);
  absl::Duration peer_outage = absl::Minutes(2);
  static constexpr absl::Duration kMaxPeerBackoff = absl::Seconds(10);
  // The watermark stays this far behind the MFL's own time for the fetch
  // (FetchChangesResponse.server_time) and the scheduler's clock.
  absl::Duration clock_skew = absl::Seconds(60);
};

// Tracks the safe watermark of one run: the highest lastUpdated L such that
// every record fetched so far with lastUpdated <= L is terminal.
class WatermarkTracker {
 public:
  explicit WatermarkTracker(std::optional<int64_t> previous_us) : previous_(previous_us) {}
  void Fetched(int64_t last_updated_us);
  void Terminal(int64_t last_updated_us);
  // Safe watermark now (never below the previous one); nullopt when there
  // is none yet. `frontier_us` caps it: the highest lastUpdated of the
  // newest page (a sorted fetch brings nothing older later; records sharing
  // that value are fetched again because the fetch asks for ge since).
  std::optional<int64_t> Safe(std::optional<int64_t> frontier_us) const;
  // After the fetch ended cleanly and nothing is pending: the highest value
  // fetched or reported by the fetcher.
  std::optional<int64_t> Final(std::optional<int64_t> high_watermark_us) const;
  bool HasPending() const { return !pending_.empty(); }
  // Terminal values remembered: the one Safe answers and those above the
  // oldest pending value.
  size_t terminal_kept() const { return terminal_.size(); }
  // Neither Safe nor Final passes `ceiling_us` (the MFL's time for the fetch
  // less the clock skew; the lowest one set counts), though neither goes
  // below the previous watermark either.
  void SetCeiling(int64_t ceiling_us);

 private:
  // The lower of `candidate` and the ceiling.
  int64_t Capped(int64_t candidate) const;
  // Drops the terminal values below the one Safe would answer now: only it
  // and those above the oldest pending value can ever be answered (a run
  // of N records keeps a few values, not N).
  void ForgetBelowSafe();

  std::optional<int64_t> ceiling_;
  std::optional<int64_t> previous_;
  std::map<int64_t, int> pending_;  // lastUpdated → records not terminal
  std::set<int64_t> terminal_;
  std::optional<int64_t> max_fetched_;
};

class Orchestrator {
 public:
  using ProgressFn = std::function<void(const v1::Run&)>;

  Orchestrator(Peers& peers, StateStore& store, OrchestratorOptions options)
      : peers_(peers), store_(store), options_(options) {}

  // Runs a sync for `run` (created RUNNING by the store) to its end and
  // returns it as persisted: SUCCEEDED, FAILED (with `error`) or CANCELLED.
  // A dry run (Run.dry_run) fetches, maps and plans the same way but
  // journals, writes, parks and moves nothing: each record's planned outcome
  // goes to the plan (StateStore::RecordPlan) and the counts are the plan's.
  v1::Run RunSync(v1::Run run, CancelToken& cancel, const ProgressFn& progress);

  // Runs the stored records of failure-queue entries through map → write
  // again; the watermark does not change.
  v1::Run RunRetry(v1::Run run,
                   std::vector<std::pair<v1::Failure, v1::SourceRecord>> entries,
                   CancelToken& cancel, const ProgressFn& progress);

  // Retries failure-queue entries from the MFL: reads each entry's Location
  // as the MFL serves it now (FetcherService.FetchChanges by id) and runs it
  // through the same record flow; the watermark does not change. An entry
  // whose Location the MFL no longer serves stays open: the run's warnings
  // and the entry's actions say so.
  v1::Run RunRetryFromMfl(v1::Run run,
                          std::vector<std::pair<v1::Failure, v1::SourceRecord>> entries,
                          CancelToken& cancel, const ProgressFn& progress);

  // Runs pushed records through map → write now (no fetch; the watermark
  // does not change), beside any other run of the source: Locations are
  // claimed across runs (LocationClaims), so the newest version wins. Fills
  // `results` with one result per record, in `records`' order. A record the
  // run could not finish (a peer down past the outage budget) is parked as a
  // transient failure, retried by itself; only when even that cannot be
  // saved does its result stay RECORD_STATUS_UNSPECIFIED, with the reason.
  v1::Run RunPush(v1::Run run, std::vector<v1::SourceRecord> records, CancelToken& cancel,
                  const ProgressFn& progress, std::vector<v1::RecordResult>* results);

 private:
  class Pipeline;
  // The sync's first fetch: from the watermark with the versions already
  // seen in the overlap window, or everything (a full run, no watermark).
  absl::StatusOr<v1::FetchChangesRequest> FirstFetchRequest(const v1::Run& run,
                                                            std::optional<int64_t> previous);
  // Streams the fetch into `p`; a broken stream resumes from the last
  // committed point while the outage budget lasts. The fetch's end.
  absl::Status FetchWithResume(Pipeline& p, const v1::Run& run, v1::FetchChangesRequest& req,
                               CancelToken& cancel);
  static void LogRunEnd(const v1::Run& done);
  static void LogRetryEnd(const v1::Run& done, size_t entries);
  // Locations asked of the fetcher per FetchChanges by id.
  static constexpr size_t kRefetchChunk = 100;
  // Reads the entries' Locations from the MFL into `p`, each with its
  // entry's id; notes the entries whose Location the MFL no longer serves.
  absl::Status Refetch(Pipeline& p, const v1::Run& run,
                       const std::vector<std::pair<v1::Failure, v1::SourceRecord>>& entries,
                       CancelToken& cancel);
  // Every record of one fetch (`request` by id), or its error.
  absl::StatusOr<std::vector<v1::SourceRecord>> FetchAll(const v1::FetchChangesRequest& request,
                                                         CancelToken& cancel);
  // Records on each entry of `gone` (by Location id) that the MFL no longer
  // serves its Location, and warns in the run.
  void NoteGone(Pipeline& p, const v1::Run& run, const std::map<std::string, int64_t>& gone);
  // After a broken fetch: commits what is in flight, then points `req` at
  // the last committed point (since, already_seen) for the next attempt.
  absl::Status ResumeFrom(Pipeline& p, const v1::Run& run, v1::FetchChangesRequest& req);

  // Sets the failure-queue id of each parked record's result.
  void AttachFailureIds(const v1::Run& run, std::vector<v1::RecordResult>& results);
  // Parks the records of a push that the run did not finish; their results.
  // Counts them in `run` (which the caller saves).
  void ParkUnfinished(v1::Run& run, const std::vector<v1::SourceRecord>& records,
                      std::vector<v1::RecordResult>& results);

  Peers& peers_;
  StateStore& store_;
  OrchestratorOptions options_;
  LocationClaims claims_;  // shared by every run of this orchestrator
};

}  // namespace mflsync::scheduler

#endif  // MFLSYNC_SCHEDULER_ORCHESTRATOR_H_
