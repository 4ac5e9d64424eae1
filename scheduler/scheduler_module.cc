#include "scheduler/scheduler_module.h"

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/grpc_auth.h"
#include "common/log.h"
#include "common/status_util.h"
#include "mflsync/v1/scheduler.grpc.pb.h"
#include "scheduler/dependency_probes.h"
#include "scheduler/notifier.h"
#include "scheduler/operator_actions.h"
#include "scheduler/peers.h"
#include "scheduler/run_manager.h"
#include "scheduler/schedule.h"
#include "scheduler/scheduler_metrics.h"
#include "scheduler/source_schedules.h"
#include "scheduler/state_db.h"
#include "scheduler/state_store.h"
#include "scheduler/webhook_config.h"

namespace mflsync::scheduler {
namespace {

// A list RPC's page size: `requested`, or `default_size` for 0; 0..1000.
grpc::Status PageSize(int requested, int default_size, int* size) {
  if (requested < 0 || requested > 1000) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        absl::StrCat("page_size ", requested, " is out of range 0..1000"));
  }
  *size = requested == 0 ? default_size : requested;
  return grpc::Status::OK;
}

// The gRPC edge: validates requests, calls RunManager/StateStore, maps
// absl::Status to grpc::Status.
class SchedulerGrpc final : public v1::SchedulerService::Service {
 public:
  explicit SchedulerGrpc(RunManager& runs) : runs_(runs) {}

  grpc::Status TriggerSync(grpc::ServerContext*, const v1::TriggerSyncRequest* req,
                           v1::TriggerSyncResponse* resp) override {
    absl::StatusOr<RunManager::Triggered> t = runs_.TriggerSync(
        req->source_id(), req->full(), v1::RUN_TRIGGER_MANUAL, req->dry_run());
    if (!t.ok()) return ToGrpcStatus(t.status());
    *resp->mutable_run() = t->run;
    resp->set_already_running(t->already_running);
    return grpc::Status::OK;
  }

  grpc::Status PushRecords(grpc::ServerContext*, const v1::PushRecordsRequest* req,
                           v1::PushRecordsResponse* resp) override {
    std::vector<v1::SourceRecord> records(req->records().begin(), req->records().end());
    absl::StatusOr<RunManager::Pushed> pushed = runs_.Push(req->source_id(), std::move(records));
    if (!pushed.ok()) return ToGrpcStatus(pushed.status());
    if (!req->push_id().empty())
      LogInfo("push answered", {{"push", req->push_id()}, {"run", pushed->run.run_id()}});
    *resp->mutable_run() = std::move(pushed->run);
    for (v1::RecordResult& r : pushed->results) *resp->add_results() = std::move(r);
    return grpc::Status::OK;
  }

  grpc::Status GetRun(grpc::ServerContext*, const v1::GetRunRequest* req,
                      v1::GetRunResponse* resp) override {
    if (req->run_id().empty()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "run_id is required");
    }
    absl::StatusOr<v1::Run> run = runs_.GetRun(req->run_id());
    if (!run.ok()) return ToGrpcStatus(run.status());
    *resp->mutable_run() = *run;
    return grpc::Status::OK;
  }

  grpc::Status ListRuns(grpc::ServerContext*, const v1::ListRunsRequest* req,
                        v1::ListRunsResponse* resp) override {
    int size = 0;
    if (grpc::Status s = PageSize(req->page_size(), 20, &size); !s.ok()) return s;
    std::string next;
    absl::StatusOr<std::vector<v1::Run>> runs =
        runs_.store().ListRuns(req->source_id(), size, req->page_token(), &next);
    if (!runs.ok()) return ToGrpcStatus(runs.status());
    for (v1::Run& r : *runs) {
      absl::StatusOr<v1::Run> live = runs_.GetRun(r.run_id());  // fresher while running
      *resp->add_runs() = live.ok() ? *live : r;
    }
    resp->set_next_page_token(next);
    return grpc::Status::OK;
  }

  grpc::Status WatchRun(grpc::ServerContext* ctx, const v1::WatchRunRequest* req,
                        grpc::ServerWriter<v1::WatchRunResponse>* writer) override {
    absl::Status s = runs_.WatchRun(
        req->run_id(),
        [&](const v1::Run& run) {
          v1::WatchRunResponse update;
          *update.mutable_run() = run;
          return writer->Write(update);
        },
        [&] { return ctx->IsCancelled(); });
    return ToGrpcStatus(s);
  }

  grpc::Status CancelRun(grpc::ServerContext*, const v1::CancelRunRequest* req,
                         v1::CancelRunResponse* resp) override {
    if (req->run_id().empty()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "run_id is required");
    }
    absl::StatusOr<v1::Run> run = runs_.CancelRun(req->run_id());
    if (!run.ok()) return ToGrpcStatus(run.status());
    *resp->mutable_run() = *run;
    return grpc::Status::OK;
  }

  grpc::Status ListFailures(grpc::ServerContext*, const v1::ListFailuresRequest* req,
                            v1::ListFailuresResponse* resp) override {
    int size = 0;
    if (grpc::Status s = PageSize(req->page_size(), 50, &size); !s.ok()) return s;
    std::string next;
    absl::StatusOr<std::vector<v1::Failure>> failures = runs_.store().ListFailures(
        req->source_id(), req->state(), size, req->page_token(), &next);
    if (!failures.ok()) return ToGrpcStatus(failures.status());
    for (v1::Failure& f : *failures) *resp->add_failures() = std::move(f);
    resp->set_next_page_token(next);
    return grpc::Status::OK;
  }

  grpc::Status ListSkipped(grpc::ServerContext*, const v1::ListSkippedRequest* req,
                           v1::ListSkippedResponse* resp) override {
    if (req->run_id().empty())
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "run_id is required");
    int size = 0;
    if (grpc::Status s = PageSize(req->page_size(), 100, &size); !s.ok()) return s;
    std::string next;
    absl::StatusOr<std::vector<v1::SkippedRecord>> skipped =
        runs_.store().ListSkipped(req->run_id(), size, req->page_token(), &next);
    if (!skipped.ok()) return ToGrpcStatus(skipped.status());
    for (v1::SkippedRecord& r : *skipped) *resp->add_records() = std::move(r);
    resp->set_next_page_token(next);
    return grpc::Status::OK;
  }

  grpc::Status GetPlan(grpc::ServerContext*, const v1::GetPlanRequest* req,
                       v1::GetPlanResponse* resp) override {
    if (req->run_id().empty())
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "run_id is required");
    int size = 0;
    if (grpc::Status s = PageSize(req->page_size(), 100, &size); !s.ok()) return s;
    absl::StatusOr<v1::Run> run = runs_.GetRun(req->run_id());
    if (!run.ok()) return ToGrpcStatus(run.status());
    if (!run->dry_run()) {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                          absl::StrCat("run ", req->run_id(), " is not a dry run: it has no plan "
                                       "(start one with `mflsync sync --dry-run`)"));
    }
    std::string next;
    absl::StatusOr<std::vector<v1::PlanEntry>> entries =
        runs_.store().ListPlan(req->run_id(), req->all(), size, req->page_token(), &next);
    if (!entries.ok()) return ToGrpcStatus(entries.status());
    absl::StatusOr<v1::PlanCounts> counts = runs_.store().PlanCounts(req->run_id());
    if (!counts.ok()) return ToGrpcStatus(counts.status());
    absl::StatusOr<std::optional<v1::PlanApproval>> approval =
        runs_.PlanApprovalOf(req->run_id());
    if (!approval.ok()) return ToGrpcStatus(approval.status());
    *resp->mutable_run() = *std::move(run);
    *resp->mutable_counts() = *std::move(counts);
    for (v1::PlanEntry& e : *entries) *resp->add_entries() = std::move(e);
    resp->set_next_page_token(next);
    if (approval->has_value()) *resp->mutable_approval() = **approval;
    return grpc::Status::OK;
  }

  grpc::Status ApprovePlan(grpc::ServerContext* ctx, const v1::ApprovePlanRequest* req,
                           v1::ApprovePlanResponse* resp) override {
    if (req->run_id().empty())
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "run_id is required");
    const Operator by = By(*ctx, req->reason());
    absl::StatusOr<v1::PlanApproval> approval =
        runs_.ApprovePlan(req->run_id(), by.actor, by.reason);
    if (!approval.ok()) return ToGrpcStatus(approval.status());
    *resp->mutable_approval() = *std::move(approval);
    return grpc::Status::OK;
  }

  grpc::Status GetFailure(grpc::ServerContext*, const v1::GetFailureRequest* req,
                          v1::GetFailureResponse* resp) override {
    if (req->failure_id() <= 0) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "failure_id must be a positive entry id");
    }
    absl::StatusOr<v1::Failure> f = runs_.store().GetFailure(req->failure_id());
    if (!f.ok()) return ToGrpcStatus(f.status());
    *resp->mutable_failure() = *f;
    return grpc::Status::OK;
  }

  grpc::Status RetryFailures(grpc::ServerContext* ctx, const v1::RetryFailuresRequest* req,
                             v1::RetryFailuresResponse* resp) override {
    std::vector<int64_t> ids(req->failure_ids().begin(), req->failure_ids().end());
    absl::StatusOr<v1::Run> run = actions_.Retry(ids, req->all(), req->source_id(), req->stored(),
                                                 By(*ctx, req->reason()));
    if (!run.ok()) return ToGrpcStatus(run.status());
    *resp->mutable_run() = *run;
    return grpc::Status::OK;
  }

  grpc::Status DismissFailures(grpc::ServerContext* ctx, const v1::DismissFailuresRequest* req,
                               v1::DismissFailuresResponse* resp) override {
    std::vector<int64_t> ids(req->failure_ids().begin(), req->failure_ids().end());
    absl::StatusOr<int> n = actions_.Dismiss(ids, By(*ctx, req->reason()));
    if (!n.ok()) return ToGrpcStatus(n.status());
    resp->set_dismissed(*n);
    return grpc::Status::OK;
  }

  grpc::Status ReopenFailures(grpc::ServerContext* ctx, const v1::ReopenFailuresRequest* req,
                              v1::ReopenFailuresResponse* resp) override {
    std::vector<int64_t> ids(req->failure_ids().begin(), req->failure_ids().end());
    absl::StatusOr<int> n = actions_.Reopen(ids, By(*ctx, req->reason()));
    if (!n.ok()) return ToGrpcStatus(n.status());
    resp->set_reopened(*n);
    return grpc::Status::OK;
  }

  grpc::Status LinkFailure(grpc::ServerContext* ctx, const v1::LinkFailureRequest* req,
                           v1::LinkFailureResponse* resp) override {
    return Answer(actions_.Link(req->failure_id(), req->hf_code(), By(*ctx, req->reason())),
                  resp);
  }

  grpc::Status AcceptFailure(grpc::ServerContext* ctx, const v1::AcceptFailureRequest* req,
                             v1::AcceptFailureResponse* resp) override {
    return Answer(actions_.Accept(req->failure_id(), By(*ctx, req->reason())), resp);
  }

  grpc::Status ListChanges(grpc::ServerContext*, const v1::ListChangesRequest* req,
                           v1::ListChangesResponse* resp) override {
    int size = 0;
    if (grpc::Status s = PageSize(req->page_size(), 100, &size); !s.ok()) return s;
    ChangeFilter filter{req->run_id(), req->facility(), std::nullopt};
    if (req->has_since()) filter.since = FromTimestamp(req->since());
    std::string next;
    absl::StatusOr<std::vector<v1::FacilityChange>> changes =
        runs_.store().ListChanges(filter, size, req->page_token(), &next);
    if (!changes.ok()) return ToGrpcStatus(changes.status());
    for (v1::FacilityChange& c : *changes) *resp->add_changes() = std::move(c);
    resp->set_next_page_token(next);
    return grpc::Status::OK;
  }

  grpc::Status GetWatermark(grpc::ServerContext*, const v1::GetWatermarkRequest* req,
                            v1::GetWatermarkResponse* resp) override {
    absl::StatusOr<std::string> source = runs_.ResolveSource(req->source_id());
    if (!source.ok()) return ToGrpcStatus(source.status());
    absl::StatusOr<std::optional<absl::Time>> wm = runs_.store().GetWatermark(*source);
    if (!wm.ok()) return ToGrpcStatus(wm.status());
    absl::StatusOr<std::vector<v1::WatermarkChange>> changes =
        runs_.store().WatermarkChanges(*source, 20);
    if (!changes.ok()) return ToGrpcStatus(changes.status());
    resp->set_source_id(*source);
    if (wm->has_value()) *resp->mutable_watermark() = ToTimestamp(**wm);
    for (v1::WatermarkChange& c : *changes) *resp->add_changes() = std::move(c);
    return grpc::Status::OK;
  }

  grpc::Status SetWatermark(grpc::ServerContext*, const v1::SetWatermarkRequest* req,
                            v1::SetWatermarkResponse* resp) override {
    std::optional<absl::Time> watermark;
    if (req->has_watermark()) watermark = FromTimestamp(req->watermark());
    absl::StatusOr<v1::WatermarkChange> change =
        runs_.SetWatermark(req->source_id(), watermark, req->reason());
    if (!change.ok()) return ToGrpcStatus(change.status());
    *resp->mutable_change() = *std::move(change);
    return grpc::Status::OK;
  }

  grpc::Status ListSourceSchedules(grpc::ServerContext*, const v1::ListSourceSchedulesRequest*,
                                   v1::ListSourceSchedulesResponse* resp) override {
    absl::StatusOr<v1::ListSourceSchedulesResponse> schedules =
        scheduler::ListSourceSchedules(runs_, absl::Now());
    if (!schedules.ok()) return ToGrpcStatus(schedules.status());
    *resp = *std::move(schedules);
    return grpc::Status::OK;
  }

 private:
  // A link's or acceptance's answer (LinkFailureResponse, AcceptFailureResponse).
  template <typename Response>
  static grpc::Status Answer(const absl::StatusOr<OperatorActions::Decided>& d,
                             Response* resp) {
    if (!d.ok()) return ToGrpcStatus(d.status());
    *resp->mutable_link() = d->link;
    if (d->run.has_value()) *resp->mutable_run() = *d->run;
    resp->set_retry_error(d->retry_error);
    return grpc::Status::OK;
  }

  // The caller (its principal) and the reason it gave.
  static Operator By(const grpc::ServerContext& ctx, const std::string& reason) {
    std::string who = CallerPrincipal(ctx);
    return {who.empty() ? "unauthenticated caller" : std::move(who), reason};
  }

  RunManager& runs_;
  OperatorActions actions_{runs_};
};

class SchedulerModule final : public ServiceModule {
 public:
  SchedulerModule(std::unique_ptr<StateStore> store, std::unique_ptr<Peers> peers,
                  OrchestratorOptions orchestrator, RunManagerOptions options,
                  std::vector<DependencyProbe> probes,
                  std::vector<std::shared_ptr<prometheus::Collectable>> metrics)
      : probes_(std::move(probes)),
        metrics_(std::move(metrics)),
        store_(std::move(store)),
        peers_(std::move(peers)),
        runs_(std::make_unique<RunManager>(*store_, *peers_, orchestrator, std::move(options))),
        grpc_(*runs_) {}

  std::vector<grpc::Service*> GrpcServices() override { return {&grpc_}; }
  std::vector<DependencyProbe> DependencyProbes() override { return probes_; }
  std::vector<std::shared_ptr<prometheus::Collectable>> MetricsCollectables() override {
    return metrics_;
  }
  absl::Status Start() override { return runs_->Start(); }
  void Stop() override { runs_->Stop(); }

 private:
  std::vector<DependencyProbe> probes_;
  std::vector<std::shared_ptr<prometheus::Collectable>> metrics_;
  std::unique_ptr<StateStore> store_;
  std::unique_ptr<Peers> peers_;
  std::unique_ptr<RunManager> runs_;
  SchedulerGrpc grpc_;
};

std::vector<ConfigField> Schema() {
  std::vector<ConfigField> fields = {
      {.key = "state_db", .type = ConfigType::kString,
       .default_value = "./data/scheduler.db",
       .help = "SQLite file holding runs, watermarks, the record journal and the "
               "failure queue (WAL mode, checkpointed every 10,000 pages: beside it a "
               "`-wal` file of up to about 40 MB; its folder is created when missing).",
       .required = true},
      {.key = "fetcher_address", .type = ConfigType::kAddress,
       .default_value = "127.0.0.1:50051", .help = "The fetcher service (host:port)."},
      {.key = "mapper_address", .type = ConfigType::kAddress,
       .default_value = "127.0.0.1:50052", .help = "The mapper service (host:port)."},
      {.key = "writer_address", .type = ConfigType::kAddress,
       .default_value = "127.0.0.1:50053", .help = "The writer service (host:port)."},
      {.key = "rpc_timeout", .type = ConfigType::kDuration, .default_value = "120s",
       .help = "Deadline of one map, lookup, reconcile or write call to a peer."},
      {.key = "index_timeout", .type = ConfigType::kDuration, .default_value = "10m",
       .help = "Deadline of the writer's RefreshIndex at the start of each run."},
      {.key = "sources.*.schedule", .type = ConfigType::kString, .default_value = "",
       .help = "When the source syncs by itself: empty or \"off\" (manual only), an "
               "interval (\"6h\", \"30m\"), a 5-field cron expression (\"0 2 * * *\") or a "
               "shorthand (@yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly), "
               "cron times in sources.<name>.time_zone. The name must match a fetcher source. "
               "A scheduler started on a new, empty state database waits one interval before "
               "the first run."},
      {.key = "sources.*.time_zone", .type = ConfigType::kString, .default_value = "UTC",
       .help = "IANA time zone (\"Africa/Nairobi\") the source's cron schedule is read in "
               "(tzdata). Daylight saving: a time the clock skips runs once, as far after the "
               "change as it was into the gap (02:30 → 03:30); a time that happens twice runs "
               "once, at the first. An unknown name stops the service."},
      {.key = "sources.*.enabled", .type = ConfigType::kBool, .default_value = "true",
       .help = "false stops scheduled runs and automatic retries of the source "
               "(manual triggers still work)."},
      {.key = "sources.*.require_plan_approval", .type = ConfigType::kBool,
       .default_value = "false",
       .help = "true refuses every real run of the source (scheduled, manual, pushed) until "
               "a real sync of it has succeeded or an operator approved a dry run's plan: "
               "`mflsync sync --dry-run SOURCE`, `mflsync plan RUN`, then `mflsync plan "
               "approve RUN`."},
      {.key = "sources.*.plan_approval_ttl", .type = ConfigType::kDuration,
       .default_value = "168h",
       .help = "How long an approved plan lets a source with require_plan_approval run (until "
               "a real sync of it has succeeded); 168h is 7 days, 0s: it never expires. A dry "
               "run older than this cannot be approved."},
      {.key = "batch_size", .type = ConfigType::kInt, .default_value = "100",
       .help = "Records per map/lookup/reconcile/write batch.", .min = 1, .max = 1000},
      {.key = "max_batches_in_flight", .type = ConfigType::kInt, .default_value = "4",
       .help = "Batches processed at once; the fetch waits (backpressure) beyond it.",
       .min = 1, .max = 64},
      {.key = "fetch_page_size", .type = ConfigType::kInt, .default_value = "0",
       .help = "Page size asked of the fetcher; 0 uses the fetcher's setting.",
       .min = 0, .max = 10000},
      {.key = "already_seen_window", .type = ConfigType::kDuration,
       .default_value = "15m",
       .help = "Versions processed with lastUpdated >= watermark minus this are sent to "
               "the fetcher as already seen; must be at least the fetcher's overlap."},
      {.key = "clock_skew", .type = ConfigType::kDuration, .default_value = "60s",
       .help = "The watermark stays this far behind the MFL's own time for the fetch (its "
               "HTTP Date) and the scheduler's clock: a record dated later (a wrong clock, "
               "hostile data) is written, counted as future, and fetched again until that "
               "time has passed, instead of moving the watermark past changes not yet made."},
      {.key = "peer_retry.attempts", .type = ConfigType::kInt, .default_value = "3",
       .help = "Attempts of a peer call that fails with UNAVAILABLE, at least, before the "
               "run fails (more while peer_retry.outage lasts).",
       .min = 1, .max = 20},
      {.key = "peer_retry.backoff", .type = ConfigType::kDuration, .default_value = "1s",
       .help = "Wait before the second attempt of a peer call (doubles each time, up to "
               "10s)."},
      {.key = "peer_retry.outage", .type = ConfigType::kDuration, .default_value = "2m",
       .help = "How long a peer service (fetcher, mapper, writer) may be down or restarting "
               "without failing the run: its calls are retried with backoff for this long, "
               "and a fetch that broke resumes from the last committed point."},
      {.key = "rerun.max_attempts", .type = ConfigType::kInt, .default_value = "5",
       .help = "A sync that fails (not one cancelled) runs again by itself up to this many "
               "times in a row, with backoff (rerun.initial_backoff doubling up to "
               "rerun.max_backoff); the failed run shows when (rerun_at). 0 turns it off.",
       .min = 0, .max = 100},
      {.key = "rerun.initial_backoff", .type = ConfigType::kDuration, .default_value = "1m",
       .help = "Wait before the first rerun of a failed sync."},
      {.key = "rerun.max_backoff", .type = ConfigType::kDuration, .default_value = "30m",
       .help = "Longest wait between reruns of a failed sync."},
      {.key = "retry.initial_backoff", .type = ConfigType::kDuration,
       .default_value = "30s",
       .help = "Wait before the first automatic retry of a transient failure."},
      {.key = "retry.max_backoff", .type = ConfigType::kDuration, .default_value = "1h",
       .help = "Longest wait between automatic retries (the wait doubles each attempt)."},
      {.key = "retry.max_attempts", .type = ConfigType::kInt, .default_value = "10",
       .help = "Attempts after which a transient failure waits for an administrator.",
       .min = 1, .max = 1000},
      {.key = "retry.check_interval", .type = ConfigType::kDuration,
       .default_value = "5s", .help = "How often due automatic retries are looked for."},
      {.key = "run_history_limit", .type = ConfigType::kInt, .default_value = "1000",
       .help = "Finished runs kept in the history.", .min = 1, .max = 1000000},
      {.key = "change_history.retention", .type = ConfigType::kDuration,
       .default_value = "8760h",
       .help = "How long the change history keeps each write to openIMIS (`mflsync history`, "
               "`mflsync run ID --changes`); the scheduler deletes older ones hourly. 8760h "
               "is one year."},
      {.key = "resume_interrupted", .type = ConfigType::kBool, .default_value = "true",
       .help = "On start, resume sources whose run a stopped or killed scheduler left "
               "unfinished."},
  };
  std::vector<ConfigField> webhook = WebhookSchema();
  fields.insert(fields.end(), webhook.begin(), webhook.end());
  return fields;
}

// Automatic retries of transient failures (retry.*).
absl::StatusOr<RetryPolicy> RetryPolicyFromConfig(const Config& config) {
  RetryPolicy retry;
  retry.initial_backoff = config.GetDuration("retry.initial_backoff");
  retry.max_backoff = config.GetDuration("retry.max_backoff");
  retry.max_attempts = static_cast<int>(config.GetInt("retry.max_attempts"));
  if (retry.initial_backoff <= absl::ZeroDuration() || retry.max_backoff < retry.initial_backoff) {
    return absl::InvalidArgumentError(
        "retry.initial_backoff must be positive and at most retry.max_backoff");
  }
  return retry;
}

// Source `name`'s schedule (in its time zone) and switches; the error names
// the key.
absl::StatusOr<SourceConfig> SourceFromConfig(const Config& config, const std::string& name) {
  const std::string prefix = absl::StrCat("sources.", name, ".");
  const std::string zone_key = absl::StrCat(prefix, "time_zone");
  absl::StatusOr<absl::TimeZone> zone = LoadScheduleTimeZone(config.GetString(zone_key));
  if (!zone.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(zone_key, ": ", zone.status().message()));
  }
  const std::string key = absl::StrCat(prefix, "schedule");
  absl::StatusOr<Schedule> schedule = Schedule::Parse(config.GetString(key), *zone);
  if (!schedule.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(key, ": ", schedule.status().message()));
  }
  return SourceConfig{*schedule, config.GetBool(absl::StrCat(prefix, "enabled")),
                      config.GetBool(absl::StrCat(prefix, "require_plan_approval")),
                      config.GetDuration(absl::StrCat(prefix, "plan_approval_ttl"))};
}

// Run history, retries, reruns and each source's schedule.
absl::StatusOr<RunManagerOptions> RunManagerOptionsFromConfig(const Config& config,
                                                              const RetryPolicy& retry) {
  RunManagerOptions options;
  options.run_history_limit = static_cast<int>(config.GetInt("run_history_limit"));
  options.retry_check_interval = config.GetDuration("retry.check_interval");
  options.resume_interrupted = config.GetBool("resume_interrupted");
  options.failed_retry_backoff = retry.initial_backoff;
  options.failed_retry_max_backoff = retry.max_backoff;
  options.rerun_max_attempts = static_cast<int>(config.GetInt("rerun.max_attempts"));
  options.rerun_backoff = config.GetDuration("rerun.initial_backoff");
  options.rerun_max_backoff = config.GetDuration("rerun.max_backoff");
  if (options.rerun_backoff <= absl::ZeroDuration() ||
      options.rerun_max_backoff < options.rerun_backoff) {
    return absl::InvalidArgumentError(
        "rerun.initial_backoff must be positive and at most rerun.max_backoff");
  }
  if (options.retry_check_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("retry.check_interval must be positive");
  }
  options.change_retention = config.GetDuration("change_history.retention");
  if (options.change_retention <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("change_history.retention must be positive");
  }
  for (const std::string& name : config.Names("sources")) {
    absl::StatusOr<SourceConfig> source = SourceFromConfig(config, name);
    if (!source.ok()) return source.status();
    options.sources[name] = *std::move(source);
  }
  return options;
}

// The start-up checks of Create that write no file and call no peer
// (retries, reruns, retention, each source's schedule and time zone, its
// webhook and the webhook's TLS files, a state database this version can
// open and write); --check-config runs them too (ServiceSpec::validate).
absl::Status ValidateSchedulerConfig(const Config& config) {
  absl::StatusOr<RetryPolicy> retry = RetryPolicyFromConfig(config);
  if (!retry.ok()) return retry.status();
  if (absl::Status run = RunManagerOptionsFromConfig(config, *retry).status(); !run.ok())
    return run;
  if (absl::Status hooks = WebhooksFromConfig(config).status(); !hooks.ok()) return hooks;
  return SqliteDb::CheckUsable(config.GetString("state_db"), StateMigrations());
}

OrchestratorOptions OrchestratorOptionsFromConfig(const Config& config) {
  OrchestratorOptions orchestrator;
  orchestrator.batch_size = static_cast<int>(config.GetInt("batch_size"));
  orchestrator.max_batches_in_flight = static_cast<int>(config.GetInt("max_batches_in_flight"));
  orchestrator.fetch_page_size = static_cast<int>(config.GetInt("fetch_page_size"));
  orchestrator.already_seen_window = config.GetDuration("already_seen_window");
  orchestrator.clock_skew = config.GetDuration("clock_skew");
  orchestrator.peer_attempts = static_cast<int>(config.GetInt("peer_retry.attempts"));
  orchestrator.peer_backoff = config.GetDuration("peer_retry.backoff");
  orchestrator.peer_outage = config.GetDuration("peer_retry.outage");
  return orchestrator;
}

GrpcPeersOptions GrpcPeersOptionsFromConfig(const Config& config) {
  GrpcPeersOptions peers;
  peers.fetcher_address = config.GetString("fetcher_address");
  peers.mapper_address = config.GetString("mapper_address");
  peers.writer_address = config.GetString("writer_address");
  peers.security = ClientSecurity::FromConfig(config);
  peers.rpc_timeout = config.GetDuration("rpc_timeout");
  peers.index_timeout = config.GetDuration("index_timeout");
  return peers;
}

absl::StatusOr<std::unique_ptr<ServiceModule>> Create(const Config& config) {
  absl::StatusOr<RetryPolicy> retry = RetryPolicyFromConfig(config);
  if (!retry.ok()) return retry.status();
  absl::StatusOr<RunManagerOptions> options = RunManagerOptionsFromConfig(config, *retry);
  if (!options.ok()) return options.status();
  const OrchestratorOptions orchestrator = OrchestratorOptionsFromConfig(config);
  const GrpcPeersOptions peers = GrpcPeersOptionsFromConfig(config);
  absl::StatusOr<std::unique_ptr<StateStore>> store =
      StateStore::Open(config.GetString("state_db"), *retry);
  if (!store.ok()) return store.status();
  std::map<std::string, Schedule> schedules;
  std::vector<std::string> sources;
  for (const auto& [name, source] : options->sources) {
    schedules.emplace(name, source.schedule);
    sources.push_back(name);
  }
  absl::StatusOr<std::map<std::string, WebhookConfig>> hooks = WebhooksFromConfig(config);
  if (!hooks.ok()) return hooks.status();
  auto metrics = std::make_shared<SchedulerMetrics>(schedules);
  auto notifier = std::make_shared<Notifier>(**store, *std::move(hooks));
  options->on_run_end = [metrics, notifier](const v1::Run& run) {
    metrics->RunEnded(run);
    notifier->RunEnded(run);
  };
  std::vector<std::shared_ptr<prometheus::Collectable>> collectables = {
      metrics->registry(), std::make_shared<StateMetrics>(store->get(), sources)};
  return std::make_unique<SchedulerModule>(
      *std::move(store),
      std::make_unique<MeteredPeers>(std::make_unique<GrpcPeers>(peers), metrics), orchestrator,
      *std::move(options),
      SchedulerProbes(peers.fetcher_address, peers.mapper_address, peers.writer_address,
                      peers.security, config.GetString("state_db")),
      std::move(collectables));
}

}  // namespace

ServiceSpec SchedulerSpec() {
  ServiceSpec spec;
  spec.name = "scheduler";
  spec.summary = "runs the sync: schedules, run history, failure queue";
  spec.default_listen = "127.0.0.1:50050";
  spec.schema = Schema();
  spec.grpc_service_names = {v1::SchedulerService::service_full_name()};
  spec.validate = ValidateSchedulerConfig;
  spec.create = Create;
  return spec;
}

}  // namespace mflsync::scheduler
