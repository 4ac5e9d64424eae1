// What operators see (issue 15): each service's gRPC health follows its
// dependencies (the writer's openIMIS, the fetcher's MFL and the mediator's
// openHIM going down and coming back, seen by grpc.health.v1 and by
// `mflsync health`), and each service's /metrics,
// parsed by prometheus_client's own text parser, matches the runs' counts
// as GetRun reports them.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "cli/cli.h"
#include "common/grpc_channel.h"
#include "common/health_probe.h"
#include "common/http_client.h"
#include "mflsync/v1/status.grpc.pb.h"
#include "tests/e2e/e2e_fixture.h"

namespace mflsync::e2e {
namespace {

using json = nlohmann::json;

constexpr const char* kServices[] = {"fetcher", "mapper", "writer", "scheduler"};

// The python3 of the pinned prometheus_client venv (scripts/install-deps.sh).
std::string MetricsPython() {
  return absl::StrCat(MFLSYNC_SOURCE_DIR, "/.deps/prometheus-client/bin/python3");
}

class OperationsTest : public E2eFixture {
 protected:
  ClientSecurity Security() const { return ClientSecurity{.token = stack_->token()}; }

  std::string Health(const std::string& service) {
    absl::StatusOr<std::string> state =
        CheckHealth(MakeChannel(stack_->address(service), Security()), "", absl::Seconds(2));
    return state.ok() ? *state : std::string(state.status().message());
  }

  // Polls the service's health until it is `want` or `within` passes.
  bool HealthBecomes(const std::string& service, const std::string& want,
                     absl::Duration within) {
    const absl::Time deadline = absl::Now() + within;
    while (absl::Now() < deadline) {
      if (Health(service) == want) return true;
      absl::SleepFor(absl::Milliseconds(200));
    }
    return Health(service) == want;
  }

  // `mflsync health writer=ADDR` with a viewer's token: exit code, output.
  int CliHealth(const std::string& service, std::string* output) {
    const std::string token_file = stack_->dir() + "/viewer.token";
    std::ofstream(token_file) << stack_->token() << "\n";
    std::ostringstream out, err;
    int code = cli::RunCli({"--token-file", token_file, "health",
                            absl::StrCat(service, "=", stack_->address(service))},
                           out, err, false);
    *output = out.str() + err.str();
    return code;
  }

  // `service` follows the stand-in `stand_in` it depends on: SERVING; the
  // stand-in stopped, NOT_SERVING within 10 s, with `mflsync health` exiting
  // 1 and printing `cause` and the stand-in's address, and the service's log
  // saying so; the stand-in back, SERVING again and `mflsync health` 0.
  void ExpectHealthFollows(const std::string& service, const std::string& stand_in,
                           const std::string& cause) {
    ASSERT_TRUE(HealthBecomes(service, "SERVING", absl::Seconds(10))) << Health(service);
    std::string output;
    EXPECT_EQ(CliHealth(service, &output), 0) << output;

    ASSERT_TRUE(stack_->StopStandIn(stand_in).ok());
    ASSERT_TRUE(HealthBecomes(service, "NOT_SERVING", absl::Seconds(10)))
        << Health(service) << "\n" << stack_->LogTail(service);
    EXPECT_EQ(CliHealth(service, &output), 1) << output;
    EXPECT_NE(output.find("NOT_SERVING"), std::string::npos) << output;
    EXPECT_NE(output.find(cause), std::string::npos) << output;
    EXPECT_NE(output.find(stack_->address(stand_in)), std::string::npos) << output;
    EXPECT_NE(stack_->LogTail(service, 200).find("dependency unreachable"), std::string::npos);

    ASSERT_TRUE(stack_->StartStandIn(stand_in).ok());
    ASSERT_TRUE(HealthBecomes(service, "SERVING", absl::Seconds(10))) << Health(service);
    EXPECT_EQ(CliHealth(service, &output), 0) << output;
  }

  // Fetches each service's /metrics (at the address GetStatus reports) and
  // parses it with prometheus_client's parser: the samples by service.
  void ScrapeAll(std::map<std::string, nlohmann::json>* samples) {
    std::string paths;
    std::map<std::string, std::string> path_of;
    for (const char* service : kServices) {
      const std::string address = Status(service).metrics_address();
      ASSERT_FALSE(address.empty()) << service << " reports no metrics address";
      HttpClient http({});
      absl::StatusOr<HttpResponse> text =
          http.Send({.url = absl::StrCat("http://", address, "/metrics")});
      ASSERT_TRUE(text.ok()) << text.status();
      ASSERT_EQ(text->status, 200) << service;
      EXPECT_EQ(text->body.find("admin123"), std::string::npos) << "a secret in /metrics";
      path_of[service] = absl::StrCat(stack_->dir(), "/", service, ".metrics");
      std::ofstream(path_of[service]) << text->body;
      absl::StrAppend(&paths, " ", path_of[service]);
    }
    const std::string command = absl::StrCat(MetricsPython(), " ", MFLSYNC_SOURCE_DIR,
                                             "/tests/e2e/parse_metrics.py", paths);
    FILE* pipe = popen(command.c_str(), "r");
    ASSERT_NE(pipe, nullptr);
    std::string parsed;
    char buffer[65536];
    while (size_t n = fread(buffer, 1, sizeof(buffer), pipe)) parsed.append(buffer, n);
    ASSERT_EQ(pclose(pipe), 0) << "the prometheus_client parser failed: " << parsed;
    const nlohmann::json all = nlohmann::json::parse(parsed);
    for (const auto& [service, path] : path_of) (*samples)[service] = all[path];
  }

  v1::GetStatusResponse Status(const std::string& service) {
    v1::GetStatusResponse status;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    grpc::Status rpc = v1::StatusService::NewStub(MakeChannel(stack_->address(service), Security()))
                           ->GetStatus(&ctx, v1::GetStatusRequest(), &status);
    EXPECT_TRUE(rpc.ok()) << service << ": " << rpc.error_message();
    return status;
  }
};

TEST_F(OperationsTest, WriterHealthFollowsOpenImisDownAndBack) {
  ASSERT_NO_FATAL_FAILURE(StartStack());
  for (const char* service : kServices) EXPECT_EQ(Health(service), "SERVING") << service;
  std::string output;
  EXPECT_EQ(CliHealth("writer", &output), 0) << output;

  ASSERT_TRUE(stack_->StopStandIn("openimis").ok());
  // The stated bound: within 10 s of openIMIS going down (default check
  // interval 5 s, time-out 2 s).
  ASSERT_TRUE(HealthBecomes("writer", "NOT_SERVING", absl::Seconds(10)))
      << Health("writer") << "\n" << stack_->LogTail("writer");
  EXPECT_EQ(CliHealth("writer", &output), 1) << output;
  EXPECT_NE(output.find("NOT_SERVING"), std::string::npos) << output;
  EXPECT_NE(output.find("openimis: openIMIS at http://" + stack_->address("openimis")),
            std::string::npos)
      << output;
  EXPECT_NE(output.find("no answer"), std::string::npos) << output;
  // The writer's log names the cause too.
  EXPECT_NE(stack_->LogTail("writer", 200).find("dependency unreachable"), std::string::npos);
  // The scheduler cannot sync either, and says which peer is at fault.
  ASSERT_TRUE(HealthBecomes("scheduler", "NOT_SERVING", absl::Seconds(10)));
  v1::GetStatusResponse scheduler = Status("scheduler");
  EXPECT_FALSE(scheduler.serving());
  bool writer_named = false;
  for (const v1::DependencyStatus& d : scheduler.dependencies()) {
    if (d.name() == "peer:writer") writer_named = !d.ok() && !d.cause().empty();
  }
  EXPECT_TRUE(writer_named) << scheduler.DebugString();

  ASSERT_TRUE(stack_->StartStandIn("openimis").ok());
  ASSERT_TRUE(HealthBecomes("writer", "SERVING", absl::Seconds(10))) << Health("writer");
  ASSERT_TRUE(HealthBecomes("scheduler", "SERVING", absl::Seconds(10))) << Health("scheduler");
  EXPECT_EQ(CliHealth("writer", &output), 0) << output;
}

// `mflsync sync` shows the records done out of the MFL's total (the fetcher
// asks for Bundle.total, which the stand-in gives as HAPI FHIR does), and
// the run keeps that total; its stage times are labelled as sums.
TEST_F(OperationsTest, SyncShowsProgressAgainstTheMflTotal) {
  ASSERT_NO_FATAL_FAILURE(StartStack());
  const std::string token_file = stack_->dir() + "/operator.token";
  std::ofstream(token_file) << stack_->token() << "\n";
  std::ostringstream out, err;
  const int code = cli::RunCli({"--token-file", token_file, "--scheduler",
                                stack_->scheduler_address(), "sync", "--full"},
                               out, err, false);
  ASSERT_EQ(code, 0) << out.str() << err.str();
  v1::ListRunsRequest req;
  v1::ListRunsResponse runs;
  grpc::ClientContext ctx;
  ASSERT_TRUE(stack_->Scheduler()->ListRuns(&ctx, req, &runs).ok());
  ASSERT_EQ(runs.runs_size(), 1);
  const v1::Run& run = runs.runs(0);
  ASSERT_TRUE(run.has_mfl_total()) << run.DebugString();
  // A full sync of a quiet MFL: each Location it counted, fetched once.
  EXPECT_EQ(run.mfl_total(), run.counts().fetched()) << run.DebugString();
  EXPECT_GT(run.mfl_total(), DefaultFacilities() - 1);
  EXPECT_NE(out.str().find(absl::StrCat(run.run_id(), " succeeded ", run.mfl_total(), " of ",
                                        run.mfl_total(), " records (100%)")),
            std::string::npos)
      << out.str();
  EXPECT_NE(out.str().find("stage times, each summed over the batches that ran in parallel"),
            std::string::npos)
      << out.str();
}

// The fetcher's health follows its MFL: the MFL stand-in stopped, the
// fetcher is NOT_SERVING within 10 s with the cause (the source's MFL, and
// where) in its status, its log and `mflsync health`; back, SERVING again.
TEST_F(OperationsTest, FetcherHealthFollowsTheMflDownAndBack) {
  ASSERT_NO_FATAL_FAILURE(StartStack());
  ExpectHealthFollows("fetcher", "mfl", "mfl:mfl: ");
}

// The mediator's health follows openHIM: the openHIM stand-in stopped, the
// mediator is NOT_SERVING within 10 s, naming openHIM's API; back, SERVING.
TEST_F(OperationsTest, MediatorHealthFollowsOpenHimDownAndBack) {
  StackOptions options;
  options.with_mediator = true;
  ASSERT_NO_FATAL_FAILURE(StartStack(options));
  ExpectHealthFollows("mediator", "openhim", "openhim: openHIM's API");
}

// One Prometheus sample: its value, -1 when absent, -2 when not finite.
double Sample(const json& samples, const std::string& name,
              const std::map<std::string, std::string>& labels) {
  for (const json& s : samples) {
    if (s["name"] != name) continue;
    bool match = true;
    for (const auto& [k, v] : labels) match = match && s["labels"].value(k, "") == v;
    if (match) return s["value"].is_number() ? s["value"].get<double>() : -2;
  }
  return -1;
}

TEST_F(OperationsTest, MetricsOfEachServiceMatchTheRuns) {
  if (!std::filesystem::exists(MetricsPython())) {
    GTEST_SKIP() << "prometheus_client is not installed (" << MetricsPython()
                 << "): run scripts/install-deps.sh";
  }
  StackOptions options;
  for (const char* service : kServices) {
    options.extra_config[service] = {{"metrics_listen", "127.0.0.1:0"}};
  }
  ASSERT_NO_FATAL_FAILURE(StartStack(options));
  absl::StatusOr<v1::Run> full = stack_->SyncAndWait(/*full=*/true);
  ASSERT_TRUE(full.ok()) << full.status();
  std::vector<std::string> ids = SyncedIds(3);
  ASSERT_EQ(ids.size(), 3u);
  ASSERT_TRUE(stack_->Http("mfl", "POST", "/$testbed/touch",
                           json{{"ids", ids}, {"name_suffix", " (renamed)"}})
                  .ok());
  absl::StatusOr<v1::Run> incremental = stack_->SyncAndWait(/*full=*/false);
  ASSERT_TRUE(incremental.ok()) << incremental.status();
  absl::StatusOr<v1::Run> again = stack_->SyncAndWait(/*full=*/true);
  ASSERT_TRUE(again.ok()) << again.status();
  std::vector<v1::Run> runs = {*full, *incremental, *again};

  // The scheduler counts a run before WatchRun (SyncAndWait) or GetRun can
  // show it ended: one scrape at once, with no wait, finds all three.
  std::map<std::string, json> all;
  ASSERT_NO_FATAL_FAILURE(ScrapeAll(&all));
  const json& scheduler = all["scheduler"];
  const json& writer = all["writer"];
  const json& fetcher = all["fetcher"];
  const json& mapper = all["mapper"];

  auto total = [&runs](auto field) {
    double sum = 0;
    for (const v1::Run& r : runs) sum += static_cast<double>((r.counts().*field)());
    return sum;
  };
  const double created = total(&v1::RunCounts::created);
  const double updated = total(&v1::RunCounts::updated);
  const double unchanged = total(&v1::RunCounts::unchanged);
  const double rejected = total(&v1::RunCounts::rejected);
  const double fetched = total(&v1::RunCounts::fetched);
  EXPECT_GT(created, 0);
  EXPECT_GT(updated, 0);
  EXPECT_GT(unchanged, 0);
  EXPECT_GT(rejected, 0);
  const std::string run_records = "mflsync_run_records_total";
  EXPECT_EQ(Sample(scheduler, run_records, {{"source", "mfl"}, {"outcome", "created"}}), created);
  EXPECT_EQ(Sample(scheduler, run_records, {{"source", "mfl"}, {"outcome", "updated"}}), updated);
  EXPECT_EQ(Sample(scheduler, run_records, {{"source", "mfl"}, {"outcome", "unchanged"}}),
            unchanged);
  EXPECT_EQ(Sample(scheduler, run_records, {{"source", "mfl"}, {"outcome", "rejected"}}),
            rejected);
  EXPECT_EQ(Sample(scheduler, "mflsync_runs_total", {{"source", "mfl"}, {"state", "succeeded"}}),
            3);
  EXPECT_GT(Sample(scheduler, "mflsync_last_success_timestamp_seconds", {{"source", "mfl"}}),
            0);
  absl::StatusOr<std::vector<v1::Failure>> open = stack_->Failures();
  ASSERT_TRUE(open.ok());
  EXPECT_EQ(Sample(scheduler, "mflsync_failure_queue_size", {{"source", "mfl"}}),
            static_cast<double>(open->size()));
  EXPECT_GE(Sample(scheduler, "mflsync_watermark_age_seconds", {{"source", "mfl"}}), 0);

  // The writer wrote exactly what the runs counted as created and updated.
  const std::string records = "mflsync_records_total";
  EXPECT_EQ(Sample(writer, records, {{"stage", "write"}, {"outcome", "created"}}), created);
  EXPECT_EQ(Sample(writer, records, {{"stage", "write"}, {"outcome", "updated"}}), updated);
  EXPECT_GT(Sample(writer, "mflsync_openimis_request_duration_seconds_count",
                   {{"status_class", "2xx"}}),
            0);
  // Every write's mutation went in a shared request (created + updated of
  // them at least; a refused or retried one adds to it).
  EXPECT_GE(Sample(writer, "mflsync_openimis_shared_request_writes_sum", {{"kind", "mutations"}}),
            created + updated);
  EXPECT_GT(Sample(writer, "mflsync_openimis_shared_request_writes_count",
                   {{"kind", "outcome_polls"}}),
            0);
  EXPECT_EQ(Sample(writer, "mflsync_dependency_up", {{"dependency", "openimis"}}), 1);
  // The fetcher streamed what the runs fetched, over requests to the MFL.
  EXPECT_EQ(Sample(fetcher, records, {{"stage", "fetch"}, {"outcome", "fetched"}}), fetched);
  EXPECT_GT(Sample(fetcher, "mflsync_mfl_request_duration_seconds_count",
                   {{"source", "mfl"}, {"status_class", "2xx"}}),
            0);
  // The mapper's rejections are among the runs' rejections.
  const double map_rejected = Sample(mapper, records, {{"stage", "map"}, {"outcome", "rejected"}});
  EXPECT_GT(map_rejected, 0);
  EXPECT_LE(map_rejected, rejected);
}

}  // namespace
}  // namespace mflsync::e2e
