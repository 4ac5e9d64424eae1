#include "scheduler/scheduler_metrics.h"

#include <utility>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/metric_family.h>

#include "absl/strings/ascii.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/proto_time.h"

namespace mflsync::scheduler {
namespace {

std::string StateLabel(v1::RunState state) {
  return absl::AsciiStrToLower(absl::StripPrefix(v1::RunState_Name(state), "RUN_STATE_"));
}

std::string CodeLabel(absl::StatusCode code) {
  return absl::AsciiStrToUpper(absl::StatusCodeToString(code));
}

bool IsSync(const v1::Run& run) {
  return !run.dry_run() && run.trigger() != v1::RUN_TRIGGER_RETRY &&
         run.trigger() != v1::RUN_TRIGGER_PUSH;
}

prometheus::MetricFamily GaugeFamily(std::string name, std::string help) {
  prometheus::MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = prometheus::MetricType::Gauge;
  return family;
}

void AddGauge(prometheus::MetricFamily& family, const std::string& source, double value) {
  prometheus::ClientMetric metric;
  metric.label.push_back({"source", source});
  metric.gauge.value = value;
  family.metric.push_back(std::move(metric));
}

}  // namespace

std::optional<absl::Duration> SchedulePeriod(const Schedule& schedule) {
  const absl::Time now = absl::Now();
  std::optional<absl::Time> first = schedule.NextRun(now, now);
  if (!first.has_value()) return std::nullopt;
  std::optional<absl::Time> second = schedule.NextRun(*first, *first);
  if (!second.has_value() || *second <= *first) return std::nullopt;
  return *second - *first;
}

SchedulerMetrics::SchedulerMetrics(const std::map<std::string, Schedule>& schedules)
    : registry_(std::make_shared<prometheus::Registry>()),
      runs_(prometheus::BuildCounter()
                .Name("mflsync_runs_total")
                .Help("Runs that ended, by source and final state.")
                .Register(*registry_)),
      run_records_(prometheus::BuildCounter()
                       .Name("mflsync_run_records_total")
                       .Help("Records of real (not dry) runs, by source and outcome, as the "
                             "runs' counts report them (GetRun).")
                       .Register(*registry_)),
      last_success_(prometheus::BuildGauge()
                        .Name("mflsync_last_success_timestamp_seconds")
                        .Help("Unix time at which the source's last successful sync ended.")
                        .Register(*registry_)),
      peer_errors_(prometheus::BuildCounter()
                       .Name("mflsync_peer_call_errors_total")
                       .Help("Failed calls to the fetcher, mapper and writer, by peer and "
                             "gRPC code (each attempt of a retried call counts).")
                       .Register(*registry_)) {
  auto& period = prometheus::BuildGauge()
                     .Name("mflsync_schedule_period_seconds")
                     .Help("Time between two scheduled runs of the source.")
                     .Register(*registry_);
  for (const auto& [source, schedule] : schedules) {
    if (std::optional<absl::Duration> p = SchedulePeriod(schedule)) {
      period.Add({{"source", source}}).Set(absl::ToDoubleSeconds(*p));
    }
  }
}

void SchedulerMetrics::RunEnded(const v1::Run& run) {
  const std::string& source = run.source_id();
  runs_.Add({{"source", source}, {"state", StateLabel(run.state())}}).Increment();
  if (run.dry_run()) return;
  const v1::RunCounts& c = run.counts();
  for (const auto& [outcome, n] :
       std::vector<std::pair<std::string, int64_t>>{{"fetched", c.fetched()},
                                                    {"created", c.created()},
                                                    {"updated", c.updated()},
                                                    {"unchanged", c.unchanged()},
                                                    {"rejected", c.rejected()},
                                                    {"failed", c.failed()},
                                                    {"skipped", c.skipped()},
                                                    {"stale", c.stale()}}) {
    run_records_.Add({{"source", source}, {"outcome", outcome}}).Increment(n);
  }
  if (IsSync(run) && run.state() == v1::RUN_STATE_SUCCEEDED) {
    const absl::Time end = run.has_finished_at() ? FromTimestamp(run.finished_at()) : absl::Now();
    last_success_.Add({{"source", source}}).Set(absl::ToDoubleSeconds(end - absl::UnixEpoch()));
  }
}

void SchedulerMetrics::PeerCallFailed(absl::string_view peer, absl::StatusCode code) {
  peer_errors_.Add({{"peer", std::string(peer)}, {"code", CodeLabel(code)}}).Increment();
}

std::vector<prometheus::MetricFamily> StateMetrics::Collect() const {
  prometheus::MetricFamily queue = GaugeFamily(
      "mflsync_failure_queue_size", "Open entries in the failure queue, by source.");
  prometheus::MetricFamily age = GaugeFamily(
      "mflsync_watermark_age_seconds",
      "Seconds since the time of the source's watermark (absent before the first one).");
  absl::StatusOr<std::map<std::string, int64_t>> open = store_->CountOpenFailures();
  if (!open.ok()) LogWarning("metrics: failure queue unreadable", {{"error", open.status().ToString()}});
  const absl::Time now = absl::Now();
  for (const std::string& source : sources_) {
    if (open.ok()) AddGauge(queue, source, open->count(source) ? open->at(source) : 0);
    absl::StatusOr<std::optional<absl::Time>> watermark = store_->GetWatermark(source);
    if (watermark.ok() && watermark->has_value()) {
      AddGauge(age, source, absl::ToDoubleSeconds(now - **watermark));
    }
  }
  return {queue, age};
}

absl::Status MeteredPeers::Count(absl::string_view peer, absl::Status status) {
  if (!status.ok() && status.code() != absl::StatusCode::kCancelled) {
    metrics_->PeerCallFailed(peer, status.code());
  }
  return status;
}

absl::StatusOr<v1::ListSourcesResponse> MeteredPeers::ListSources() {
  return Count("fetcher", peers_->ListSources());
}

absl::Status MeteredPeers::FetchChanges(
    const v1::FetchChangesRequest& request,
    const std::function<bool(v1::FetchChangesResponse&)>& on_page, CancelToken& cancel) {
  return Count("fetcher", peers_->FetchChanges(request, on_page, cancel));
}

absl::StatusOr<v1::MapFacilitiesResponse> MeteredPeers::MapFacilities(
    const v1::MapFacilitiesRequest& request, CancelToken& cancel) {
  return Count("mapper", peers_->MapFacilities(request, cancel));
}

absl::StatusOr<v1::PlanWritesResponse> MeteredPeers::PlanWrites(
    const v1::PlanWritesRequest& request, CancelToken& cancel) {
  return Count("writer", peers_->PlanWrites(request, cancel));
}

absl::StatusOr<v1::RefreshIndexResponse> MeteredPeers::RefreshIndex(v1::RefreshMode mode,
                                                                    CancelToken& cancel) {
  return Count("writer", peers_->RefreshIndex(mode, cancel));
}

absl::StatusOr<v1::WriteFacilitiesResponse> MeteredPeers::WriteFacilities(
    const v1::WriteFacilitiesRequest& request, CancelToken& cancel) {
  return Count("writer", peers_->WriteFacilities(request, cancel));
}

}  // namespace mflsync::scheduler
