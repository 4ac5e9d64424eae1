// The scheduler's Prometheus metrics, defined in one place
// (docs/operations.md lists them): runs by source and state, the records of
// real runs by outcome, the time of each source's last successful sync and
// its schedule period, peer-call errors by peer and code (MeteredPeers), and,
// read from the state database at each scrape (StateMetrics), the
// failure-queue size and each watermark's age.
#ifndef MFLSYNC_SCHEDULER_SCHEDULER_METRICS_H_
#define MFLSYNC_SCHEDULER_SCHEDULER_METRICS_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/registry.h>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "mflsync/v1/scheduler.pb.h"
#include "scheduler/peers.h"
#include "scheduler/schedule.h"
#include "scheduler/state_store.h"

namespace mflsync::scheduler {

class SchedulerMetrics {
 public:
  // `schedules`: each configured source's schedule (its period is exported).
  explicit SchedulerMetrics(const std::map<std::string, Schedule>& schedules);
  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

  // At a run's end: mflsync_runs_total{source, state}; for a real (not dry)
  // run, mflsync_run_records_total{source, outcome} by its counts; for a
  // successful sync (not a retry or push run),
  // mflsync_last_success_timestamp_seconds{source}.
  void RunEnded(const v1::Run& run);
  // mflsync_peer_call_errors_total{peer, code}.
  void PeerCallFailed(absl::string_view peer, absl::StatusCode code);

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& runs_;
  prometheus::Family<prometheus::Counter>& run_records_;
  prometheus::Family<prometheus::Gauge>& last_success_;
  prometheus::Family<prometheus::Counter>& peer_errors_;
};

// The time between two runs of `schedule` (an interval, or two consecutive
// cron matches); nullopt for manual only.
std::optional<absl::Duration> SchedulePeriod(const Schedule& schedule);

// mflsync_failure_queue_size{source} and mflsync_watermark_age_seconds
// {source}, read from the state database when Prometheus scrapes.
class StateMetrics final : public prometheus::Collectable {
 public:
  StateMetrics(StateStore* store, std::vector<std::string> sources)
      : store_(store), sources_(std::move(sources)) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  StateStore* store_;
  const std::vector<std::string> sources_;
};

// Peers that count each failed call (CANCELLED aside: a cancelled run is not
// a peer's fault) in SchedulerMetrics, then pass it on unchanged.
class MeteredPeers final : public Peers {
 public:
  MeteredPeers(std::unique_ptr<Peers> peers, std::shared_ptr<SchedulerMetrics> metrics)
      : peers_(std::move(peers)), metrics_(std::move(metrics)) {}

  absl::StatusOr<v1::ListSourcesResponse> ListSources() override;
  absl::Status FetchChanges(const v1::FetchChangesRequest& request,
                            const std::function<bool(v1::FetchChangesResponse&)>& on_page,
                            CancelToken& cancel) override;
  absl::StatusOr<v1::MapFacilitiesResponse> MapFacilities(const v1::MapFacilitiesRequest& request,
                                                          CancelToken& cancel) override;
  absl::StatusOr<v1::PlanWritesResponse> PlanWrites(const v1::PlanWritesRequest& request,
                                                     CancelToken& cancel) override;
  absl::StatusOr<v1::RefreshIndexResponse> RefreshIndex(v1::RefreshMode mode,
                                                        CancelToken& cancel) override;
  absl::StatusOr<v1::WriteFacilitiesResponse> WriteFacilities(
      const v1::WriteFacilitiesRequest& request, CancelToken& cancel) override;

 private:
  absl::Status Count(absl::string_view peer, absl::Status status);
  template <typename T>
  absl::StatusOr<T> Count(absl::string_view peer, absl::StatusOr<T> result) {
    (void)Count(peer, result.status());
    return result;
  }

  std::unique_ptr<Peers> peers_;
  std::shared_ptr<SchedulerMetrics> metrics_;
};

}  // namespace mflsync::scheduler

#endif  // MFLSYNC_SCHEDULER_SCHEDULER_METRICS_H_
