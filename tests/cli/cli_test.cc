#include "cli/cli.h"

#include <cstdlib>
#include <sstream>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/config.h"
#include "common/dependency_health.h"
#include "common/service_main.h"
#include "common/status_service.h"
#include "scheduler/scheduler_module.h"
#include "scheduler/state_store.h"

namespace mflsync::cli {
namespace {

struct Result {
  int code;
  std::string out;
  std::string err;
};

Result RunCmd(std::vector<std::string> args) {
  std::ostringstream out, err;
  int code = RunCli(args, out, err, /*interactive=*/false);
  return {code, out.str(), err.str()};
}

std::string TempDb() {
  std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) /
                              absl::StrCat("cli_", getpid(), "_",
                                           ::testing::UnitTest::GetInstance()
                                               ->current_test_info()->name());
  std::filesystem::remove_all(dir);
  return (dir / "scheduler.db").string();
}

// The real scheduler module served in-process on a loopback port, with its
// state in a temporary SQLite file and its peers on a port nothing listens
// on (so runs that need them fail, clearly).
class SchedulerServer {
 public:
  explicit SchedulerServer(const std::string& db,
                           std::map<std::string, std::string> extra_env = {})
      : db_(db) {
    ServiceSpec spec = scheduler::SchedulerSpec();
    std::vector<ConfigField> schema = CommonSchema(spec.default_listen);
    schema.insert(schema.end(), spec.schema.begin(), spec.schema.end());
    std::map<std::string, std::string> env = {{"MFLSYNC_STATE_DB", db},
                                              {"MFLSYNC_FETCHER_ADDRESS", "127.0.0.1:1"},
                                              {"MFLSYNC_MAPPER_ADDRESS", "127.0.0.1:1"},
                                              {"MFLSYNC_WRITER_ADDRESS", "127.0.0.1:1"},
                                              {"MFLSYNC_PEER_RETRY__ATTEMPTS", "1"},
                                              {"MFLSYNC_PEER_RETRY__OUTAGE", "0s"},
                                              {"MFLSYNC_RPC_TIMEOUT", "5s"}};
    env.insert(extra_env.begin(), extra_env.end());
    absl::StatusOr<Config> config = Config::Load(schema, "", env);
    EXPECT_TRUE(config.ok()) << config.status();
    auto module = spec.create(*config);
    EXPECT_TRUE(module.ok()) << module.status();
    module_ = std::move(*module);
    grpc::EnableDefaultHealthCheckService(true);
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    for (grpc::Service* s : module_->GrpcServices()) builder.RegisterService(s);
    server_ = builder.BuildAndStart();
    EXPECT_TRUE(module_->Start().ok());
  }
  SchedulerServer() : SchedulerServer(TempDb()) {}
  ~SchedulerServer() {
    module_->Stop();
    server_->Shutdown();
    module_.reset();
    std::error_code ec;
    std::filesystem::remove_all(std::filesystem::path(db_).parent_path(), ec);
  }
  std::string Address() const { return absl::StrCat("127.0.0.1:", port_); }

 private:
  std::string db_;
  std::unique_ptr<ServiceModule> module_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

// Seeds a state database with one finished run and one open failure.
void Seed(const std::string& db) {
  auto store = scheduler::StateStore::Open(db, {});
  ASSERT_TRUE(store.ok()) << store.status();
  auto run = (*store)->CreateRun("kenya", mflsync::v1::RUN_TRIGGER_MANUAL, true, std::nullopt,
                                 absl::Now());
  ASSERT_TRUE(run.ok());
  run->set_state(mflsync::v1::RUN_STATE_SUCCEEDED);
  auto* c = run->mutable_counts();
  c->set_fetched(11);
  c->set_created(5);
  c->set_updated(2);
  c->set_unchanged(3);
  c->set_rejected(1);
  run->set_duration_millis(65500);
  ASSERT_TRUE((*store)->UpdateRun(*run).ok());
  scheduler::RecordOutcome o;
  o.record.set_source_id("kenya");
  o.record.set_location_id("fac-10001");
  o.record.set_version_id("3");
  o.record.set_location_json(R"({"resourceType":"Location","id":"fac-10001"})");
  o.state = scheduler::JournalState::kParked;
  o.stage = mflsync::v1::FAILURE_STAGE_MAP;
  o.reason = "mapping.facility_type.unknown at Location.type[0]: not in the table";
  scheduler::RecordOutcome county;
  county.record.set_source_id("kenya");
  county.record.set_location_id("county-47");
  county.record.set_version_id("1");
  county.state = scheduler::JournalState::kUnchanged;
  county.skip_reason = "physicalType jdn: not a site (si)";
  ASSERT_TRUE((*store)->CommitBatch("kenya", run->run_id(), {o, county}, std::nullopt,
                                    absl::Now()).ok());
}

mflsync::v1::PlanEntry MakeEntry(const std::string& id, mflsync::v1::PlanAction action) {
  mflsync::v1::PlanEntry e;
  e.set_location_id(id);
  e.set_version_id("2");
  *e.mutable_last_updated() = FromMicros(int64_t{1714557600} * 1000000);
  e.set_action(action);
  e.set_code(id.substr(4));
  return e;
}

// Seeds a push (run-000001, no real sync) and a dry run of "kenya"
// (run-000002) with its plan: a create, an update, a rejection, a no-op.
void SeedPlan(const std::string& db) {
  auto store = scheduler::StateStore::Open(db, {});
  ASSERT_TRUE(store.ok()) << store.status();
  for (bool dry : {false, true}) {
    auto run = (*store)->CreateRun(
        "kenya", dry ? mflsync::v1::RUN_TRIGGER_MANUAL : mflsync::v1::RUN_TRIGGER_PUSH, false,
        std::nullopt, absl::Now(), dry);
    ASSERT_TRUE(run.ok());
    run->set_state(mflsync::v1::RUN_STATE_SUCCEEDED);
    *run->mutable_finished_at() = ToTimestamp(absl::Now());
    run->mutable_counts()->set_created(1);
    ASSERT_TRUE((*store)->UpdateRun(*run).ok());
  }
  mflsync::v1::PlanEntry create = MakeEntry("fac-10001", mflsync::v1::PLAN_ACTION_CREATE);
  create.set_name("Nanyuki Dispensary");
  mflsync::v1::PlanEntry update = MakeEntry("fac-10002", mflsync::v1::PLAN_ACTION_UPDATE);
  update.set_uuid("hf-uuid-2");
  auto* change = update.add_changes();
  change->set_field("name");
  change->set_old_value("Alpha");
  change->set_new_value("Alpha, \"the\" first");
  mflsync::v1::PlanEntry reject = MakeEntry("fac-10003", mflsync::v1::PLAN_ACTION_REJECT);
  reject.set_stage(mflsync::v1::FAILURE_STAGE_RECONCILE);
  reject.set_reason("Likely duplicate: the same name in district KE0101");
  ASSERT_TRUE((*store)->RecordPlan("kenya", "run-000002", {},
                                   {create, update, reject,
                                    MakeEntry("fac-10004", mflsync::v1::PLAN_ACTION_NOOP)})
                  .ok());
}

TEST(CliTest, PlanShowsExportsAndApprovesADryRun) {
  std::string db = TempDb();
  SeedPlan(db);
  SchedulerServer server(db, {{"MFLSYNC_SOURCES__KENYA__SCHEDULE", "off"},
                              {"MFLSYNC_SOURCES__KENYA__REQUIRE_PLAN_APPROVAL", "true"}});
  std::string at = server.Address();
  Result runs = RunCmd({"--scheduler", at, "runs"});
  EXPECT_NE(runs.out.find("dry-run"), std::string::npos) << runs.out;
  Result run = RunCmd({"--scheduler", at, "run", "run-000002"});
  EXPECT_NE(run.out.find("(manual, dry run)"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("mflsync plan run-000002"), std::string::npos) << run.out;
  Result text = RunCmd({"--scheduler", at, "plan", "run-000002"});
  EXPECT_EQ(text.code, 0) << text.err;
  EXPECT_NE(text.out.find("creates 1, updates 1, deactivations 0, no-ops 1, rejected 1"),
            std::string::npos) << text.out;
  EXPECT_NE(text.out.find("not approved (mflsync plan approve run-000002)"), std::string::npos);
  EXPECT_NE(text.out.find("name 'Alpha' -> 'Alpha, \"the\" first'"), std::string::npos)
      << text.out;
  EXPECT_NE(text.out.find("reconcile: Likely duplicate"), std::string::npos) << text.out;
  EXPECT_EQ(text.out.find("fac-10004"), std::string::npos) << "a no-op listed: " << text.out;
  EXPECT_NE(RunCmd({"--scheduler", at, "plan", "run-000002", "--all"}).out.find("fac-10004"),
            std::string::npos);
  Result csv = RunCmd({"--scheduler", at, "plan", "run-000002", "--format", "csv"});
  EXPECT_EQ(csv.code, 0) << csv.err;
  EXPECT_EQ(csv.out.rfind("location_id,version_id,last_updated,action,code,uuid,name,field,"
                          "old_value,new_value,stage,reason\r\n", 0), 0u) << csv.out;
  EXPECT_NE(csv.out.find("fac-10002,2,2024-05-01T10:00:00Z,update,10002,hf-uuid-2,,name,Alpha,"
                         "\"Alpha, \"\"the\"\" first\",,\r\n"),
            std::string::npos) << csv.out;
  Result json = RunCmd({"--scheduler", at, "plan", "run-000002", "--format", "json"});
  EXPECT_EQ(json.code, 0) << json.err;
  nlohmann::json j = nlohmann::json::parse(json.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << json.out;
  EXPECT_EQ(j["counts"]["creates"], 1);
  ASSERT_EQ(j["entries"].size(), 3u);
  EXPECT_EQ(j["entries"][1]["changes"][0]["new"], "Alpha, \"the\" first");
  EXPECT_TRUE(j["approved_at"].is_null());
  EXPECT_EQ(RunCmd({"--scheduler", at, "plan", "run-000002", "--format", "xml"}).code, 2);
  EXPECT_EQ(RunCmd({"--scheduler", at, "plan"}).code, 2);
  Result not_dry = RunCmd({"--scheduler", at, "plan", "run-000001"});
  EXPECT_EQ(not_dry.code, 1);
  EXPECT_NE(not_dry.err.find("not a dry run"), std::string::npos) << not_dry.err;
  // The first real run waits for an approved plan.
  Result refused = RunCmd({"--scheduler", at, "sync", "kenya", "--no-watch"});
  EXPECT_EQ(refused.code, 1);
  EXPECT_NE(refused.err.find("FAILED_PRECONDITION"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("mflsync sync --dry-run kenya"), std::string::npos) << refused.err;
  Result approve = RunCmd({"--scheduler", at, "plan", "approve", "run-000002", "--reason",
                           "matches the district list"});
  EXPECT_EQ(approve.code, 0) << approve.err;
  EXPECT_NE(approve.out.find("approved the plan of dry run run-000002 (source kenya)"),
            std::string::npos) << approve.out;
  EXPECT_NE(approve.out.find("; expires "), std::string::npos) << approve.out;
  Result approved = RunCmd({"--scheduler", at, "plan", "run-000002"});
  EXPECT_NE(approved.out.find("approved at "), std::string::npos) << approved.out;
  EXPECT_NE(approved.out.find(" by "), std::string::npos) << approved.out;
  EXPECT_NE(approved.out.find("expires "), std::string::npos) << approved.out;
  EXPECT_NE(approved.out.find("reason: matches the district list"), std::string::npos)
      << approved.out;
  nlohmann::json approved_json = nlohmann::json::parse(
      RunCmd({"--scheduler", at, "plan", "run-000002", "--format", "json"}).out, nullptr, false);
  ASSERT_TRUE(approved_json.is_object());
  EXPECT_EQ(approved_json["approval"]["reason"], "matches the district list");
  EXPECT_TRUE(approved_json["approval"]["expires_at"].is_string());
  EXPECT_EQ(RunCmd({"--scheduler", at, "plan", "approve", "run-000001"}).code, 1);
  Result dry = RunCmd({"--scheduler", at, "sync", "--dry-run", "kenya", "--no-watch"});
  EXPECT_EQ(dry.code, 0) << dry.err;
  EXPECT_NE(dry.out.find("started dry run run-000003"), std::string::npos) << dry.out;
}

TEST(CliTest, HelpAndUsageErrors) {
  Result help = RunCmd({"--help"});
  EXPECT_EQ(help.code, 0);
  EXPECT_NE(help.out.find("Usage: mflsync"), std::string::npos);
  EXPECT_EQ(RunCmd({}).code, 2);
  Result unknown = RunCmd({"frobnicate"});
  EXPECT_EQ(unknown.code, 2);
  EXPECT_NE(unknown.err.find("not expected: frobnicate"), std::string::npos) << unknown.err;
  EXPECT_EQ(RunCmd({"runs", "--limit", "0"}).code, 2);
  EXPECT_EQ(RunCmd({"runs", "--limit"}).code, 2);
  EXPECT_EQ(RunCmd({"failure"}).code, 2);
  EXPECT_EQ(RunCmd({"failure", "abc"}).code, 2);
  EXPECT_EQ(RunCmd({"retry"}).code, 2);
  EXPECT_EQ(RunCmd({"retry", "1", "--all"}).code, 2);
  EXPECT_EQ(RunCmd({"dismiss"}).code, 2);
  EXPECT_EQ(RunCmd({"failures", "--state", "closed"}).code, 2);
  EXPECT_EQ(RunCmd({"health", "nonsense"}).code, 2);
  EXPECT_EQ(RunCmd({"cancel"}).code, 2);
  EXPECT_EQ(RunCmd({"watch", "a", "b"}).code, 2);
  EXPECT_EQ(RunCmd({"sync", "a", "b"}).code, 2);
  EXPECT_EQ(RunCmd({"sync", "a", "--source", "b"}).code, 2);
  EXPECT_EQ(RunCmd({"plan", "approve"}).code, 2);
  EXPECT_NE(RunCmd({"plan", "--help"}).out.find("approve"), std::string::npos);
  // -h, and --help after a command, print the usage and succeed.
  Result short_help = RunCmd({"-h"});
  EXPECT_EQ(short_help.code, 0);
  EXPECT_NE(short_help.out.find("Usage: mflsync"), std::string::npos);
  EXPECT_EQ(RunCmd({"sync", "--help"}).code, 0);
  EXPECT_EQ(RunCmd({"-x"}).code, 2);
  // Words a command does not take are refused, not ignored.
  Result extra = RunCmd({"runs", "extra"});
  EXPECT_EQ(extra.code, 2);
  EXPECT_NE(extra.err.find("mflsync runs: The following argument was not expected: extra"),
            std::string::npos)
      << extra.err;
  EXPECT_EQ(RunCmd({"failures", "open"}).code, 2);
  // --option=value is the same as --option value.
  EXPECT_EQ(RunCmd({"runs", "--limit=0"}).code, 2);
  Result eq = RunCmd({"--scheduler=127.0.0.1:1", "runs", "--limit=5"});
  EXPECT_EQ(eq.code, 1);  // parsed: the call goes to 127.0.0.1:1 and fails there
  EXPECT_NE(eq.err.find("scheduler at 127.0.0.1:1"), std::string::npos) << eq.err;
}

// Every level answers -h/--help with its own generated text; --version.
TEST(CliTest, VersionAndHelpAtEveryLevel) {
  Result version = RunCmd({"--version"});
  EXPECT_EQ(version.code, 0);
  EXPECT_EQ(version.out, absl::StrCat("mflsync ", kMflsyncVersion, "\n"));
  Result top = RunCmd({"-h"});
  EXPECT_EQ(top.code, 0);
  for (const char* word : {"Usage: mflsync", "--scheduler", "--token-file", "MFLSYNC_CA_FILE",
                           "--local", "watermark", "history", "health"})
    EXPECT_NE(top.out.find(word), std::string::npos) << word << ": " << top.out;
  Result runs = RunCmd({"runs", "-h"});
  EXPECT_EQ(runs.code, 0);
  EXPECT_NE(runs.out.find("Usage: mflsync runs"), std::string::npos) << runs.out;
  EXPECT_NE(runs.out.find("--limit"), std::string::npos) << runs.out;
  EXPECT_EQ(runs.out.find("--reason"), std::string::npos) << "another command's: " << runs.out;
  Result set = RunCmd({"watermark", "set", "--help"});
  EXPECT_EQ(set.code, 0);
  for (const char* word : {"Usage: mflsync watermark set", "SOURCE", "TIME", "--reason"})
    EXPECT_NE(set.out.find(word), std::string::npos) << word << ": " << set.out;
  Result approve = RunCmd({"plan", "approve", "-h"});
  EXPECT_EQ(approve.code, 0);
  EXPECT_NE(approve.out.find("Usage: mflsync plan approve"), std::string::npos) << approve.out;
  // Help needs no scheduler, and wins over a missing argument.
  EXPECT_EQ(RunCmd({"--scheduler", "127.0.0.1:1", "cancel", "--help"}).code, 0);
}

// Extra words, unknown options and missing arguments: CLI11's message,
// named after the command, and exit code 2.
TEST(CliTest, UsageErrorsNameWhatIsWrong) {
  Result extra = RunCmd({"cancel", "run-000001", "run-000002"});
  EXPECT_EQ(extra.code, 2);
  EXPECT_NE(extra.err.find("not expected: run-000002"), std::string::npos) << extra.err;
  Result unknown = RunCmd({"runs", "--frobnicate"});
  EXPECT_EQ(unknown.code, 2);
  EXPECT_NE(unknown.err.find("--frobnicate"), std::string::npos) << unknown.err;
  EXPECT_NE(unknown.err.find("Run 'mflsync runs --help'"), std::string::npos) << unknown.err;
  Result missing = RunCmd({"cancel"});
  EXPECT_EQ(missing.code, 2);
  EXPECT_NE(missing.err.find("mflsync cancel: RUN_ID is required"), std::string::npos)
      << missing.err;
  Result no_code = RunCmd({"link", "2", "--reason", "x"});
  EXPECT_EQ(no_code.code, 2);
  EXPECT_NE(no_code.err.find("HF_CODE is required"), std::string::npos) << no_code.err;
  Result no_command = RunCmd({"--scheduler", "127.0.0.1:1"});
  EXPECT_EQ(no_command.code, 2);
  EXPECT_NE(no_command.err.find("subcommand is required"), std::string::npos) << no_command.err;
  Result range = RunCmd({"runs", "--limit=1001"});
  EXPECT_EQ(range.code, 2);
  EXPECT_NE(range.err.find("--limit"), std::string::npos) << range.err;
  Result format = RunCmd({"history", "fac-1", "--format", "xml"});
  EXPECT_EQ(format.code, 2);
  EXPECT_NE(format.err.find("xml"), std::string::npos) << format.err;
  EXPECT_EQ(RunCmd({"dismiss", "1", "--reason="}).code, 2);
  Result empty_reason = RunCmd({"dismiss", "1", "--reason", ""});
  EXPECT_EQ(empty_reason.code, 2);
  EXPECT_NE(empty_reason.err.find("must not be empty"), std::string::npos) << empty_reason.err;
  Result both = RunCmd({"sync", "kenya", "--source", "kenya"});
  EXPECT_EQ(both.code, 2);
  EXPECT_NE(both.err.find("excludes"), std::string::npos) << both.err;
}

// Seeds `n` finished runs of "kenya" (run-000001 oldest).
void SeedRuns(const std::string& db, int n) {
  auto store = scheduler::StateStore::Open(db, {});
  ASSERT_TRUE(store.ok()) << store.status();
  for (int i = 0; i < n; ++i) {
    auto run = (*store)->CreateRun("kenya", mflsync::v1::RUN_TRIGGER_MANUAL, false,
                                   std::nullopt, absl::Now());
    ASSERT_TRUE(run.ok());
    run->set_state(mflsync::v1::RUN_STATE_SUCCEEDED);
    ASSERT_TRUE((*store)->UpdateRun(*run).ok());
  }
}

TEST(CliTest, OptionsTakeTheirValueAfterEqualsOrAsTheNextWord) {
  std::string db = TempDb();
  SeedRuns(db, 7);
  SchedulerServer server(db);
  for (const std::vector<std::string>& limit :
       {std::vector<std::string>{"--limit=5"}, std::vector<std::string>{"--limit", "5"}}) {
    std::vector<std::string> args = {"--scheduler", server.Address(), "runs"};
    args.insert(args.end(), limit.begin(), limit.end());
    Result r = RunCmd(args);
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("run-000007"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("run-000003"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("run-000002"), std::string::npos) << "more than 5: " << r.out;
  }
  // The default (20) shows all seven; a global option after the command works too.
  Result all = RunCmd({"runs", "--scheduler=" + server.Address()});
  EXPECT_EQ(all.code, 0) << all.err;
  EXPECT_NE(all.out.find("run-000001"), std::string::npos) << all.out;
}

// Times in UTC with the zone shown, or under --local in TZ's zone with its
// offset.
TEST(CliTest, TimesShowTheirZone) {
  std::string db = TempDb();
  Seed(db);
  SchedulerServer server(db, {{"MFLSYNC_SOURCES__KENYA__SCHEDULE", "off"}});
  const std::string at = server.Address();
  Result utc = RunCmd({"--scheduler", at, "watermark", "set", "kenya", "2024-05-01T10:00:00Z",
                       "--reason", "census"});
  EXPECT_EQ(utc.code, 0) << utc.err;
  EXPECT_NE(utc.out.find("- -> 2024-05-01 10:00:00Z"), std::string::npos) << utc.out;
  const char* tz = std::getenv("TZ");
  const std::string saved = tz != nullptr ? tz : "";
  ::setenv("TZ", "Africa/Nairobi", 1);
  Result local = RunCmd({"--scheduler", at, "--local", "watermark", "show", "kenya"});
  Result still_utc = RunCmd({"--scheduler", at, "watermark", "show", "kenya"});
  if (tz != nullptr) ::setenv("TZ", saved.c_str(), 1);
  else ::unsetenv("TZ");
  EXPECT_EQ(local.code, 0) << local.err;
  EXPECT_NE(local.out.find("watermark 2024-05-01 13:00:00+03:00"), std::string::npos)
      << local.out;
  EXPECT_NE(still_utc.out.find("watermark 2024-05-01 10:00:00Z"), std::string::npos)
      << still_utc.out;
  Result run = RunCmd({"--scheduler", at, "run", "run-000001"});
  EXPECT_NE(run.out.find("Z  finished"), std::string::npos) << run.out;
}

// A run's stage times are labelled as sums over parallel batches, beside
// its wall time; its progress is shown against the MFL's total when there
// was one, as a count otherwise.
TEST(CliTest, StageTimesAndProgressAreLabelled) {
  std::string db = TempDb();
  Seed(db);
  {
    auto store = scheduler::StateStore::Open(db, {});
    ASSERT_TRUE(store.ok()) << store.status();
    auto run = (*store)->CreateRun("kenya", mflsync::v1::RUN_TRIGGER_MANUAL, false,
                                   std::nullopt, absl::Now());
    ASSERT_TRUE(run.ok());
    run->set_state(mflsync::v1::RUN_STATE_SUCCEEDED);
    run->mutable_counts()->set_created(15);
    run->set_mfl_total(20);
    run->set_duration_millis(65500);
    mflsync::v1::StageTiming* map = run->add_stages();
    map->set_stage("map");
    map->set_millis(90000);  // four batches in parallel: more than the wall time
    ASSERT_TRUE((*store)->UpdateRun(*run).ok());
  }
  SchedulerServer server(db);
  const std::string at = server.Address();
  Result shown = RunCmd({"--scheduler", at, "run", "run-000002"});
  EXPECT_EQ(shown.code, 0) << shown.err;
  EXPECT_NE(shown.out.find("stage times, each summed over the batches that ran in parallel "
                           "(together they can exceed the run's wall time, 1m05s)"),
            std::string::npos)
      << shown.out;
  EXPECT_NE(shown.out.find("map           1m30s summed"), std::string::npos) << shown.out;
  Result with_total = RunCmd({"--scheduler", at, "watch", "run-000002"});
  EXPECT_NE(with_total.out.find("run-000002 succeeded 15 of 20 records (75%), about 21.8s left"),
            std::string::npos)
      << with_total.out;
  Result without = RunCmd({"--scheduler", at, "watch", "run-000001"});
  EXPECT_NE(without.out.find("11 records (the MFL gave no total)"), std::string::npos)
      << without.out;
}

TEST(CliTest, HealthReportsServingAndDown) {
  SchedulerServer server;
  Result r = RunCmd({"health", absl::StrCat("scheduler=", server.Address()),
                  "nothing=127.0.0.1:1"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("scheduler"), std::string::npos);
  EXPECT_NE(r.out.find("SERVING"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("nothing"), std::string::npos);
  EXPECT_NE(r.out.find("DOWN"), std::string::npos) << r.out;
  Result ok = RunCmd({"health", absl::StrCat("scheduler=", server.Address())});
  EXPECT_EQ(ok.code, 0) << ok.out;
}

TEST(CliTest, VersionAndHealthDefaultsHonourTheSchedulerAddress) {
  Result v = RunCmd({"--version"});
  EXPECT_EQ(v.code, 0);
  EXPECT_EQ(v.out, absl::StrCat("mflsync ", kMflsyncVersion, "\n"));
  SchedulerServer server;
  // Without arguments: the five services, the scheduler at --scheduler (the
  // others are not running here, so the command fails, naming them).
  ::setenv("MFLSYNC_FETCHER_ADDRESS", "127.0.0.1:1", 1);
  ::setenv("MFLSYNC_MAPPER_ADDRESS", "127.0.0.1:1", 1);
  ::setenv("MFLSYNC_WRITER_ADDRESS", "127.0.0.1:1", 1);
  ::setenv("MFLSYNC_MEDIATOR_ADDRESS", "127.0.0.1:1", 1);
  Result r = RunCmd({"--scheduler", server.Address(), "health"});
  for (const char* name : {"MFLSYNC_FETCHER_ADDRESS", "MFLSYNC_MAPPER_ADDRESS",
                           "MFLSYNC_WRITER_ADDRESS", "MFLSYNC_MEDIATOR_ADDRESS"})
    ::unsetenv(name);
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find(absl::StrCat("scheduler  ", server.Address())), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("SERVING"), std::string::npos) << r.out;
  for (const char* name : {"fetcher", "mapper", "writer", "mediator"})
    EXPECT_NE(r.out.find(name), std::string::npos) << name << ": " << r.out;
}

// A service whose dependency check failed: health NOT_SERVING, and its
// StatusService names the cause.
class NotServingService {
 public:
  NotServingService()
      : deps_({{"openimis",
                [](absl::Duration) {
                  return absl::UnavailableError("openIMIS at http://oi/api/graphql: no answer");
                }}},
              {}, nullptr),
        status_("writer", &deps_, "") {
    deps_.CheckNow();
    grpc::EnableDefaultHealthCheckService(true);
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&status_);
    server_ = builder.BuildAndStart();
    server_->GetHealthCheckService()->SetServingStatus(false);
  }
  ~NotServingService() { server_->Shutdown(); }
  std::string Address() const { return absl::StrCat("127.0.0.1:", port_); }

 private:
  DependencyHealth deps_;
  StatusServiceImpl status_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

TEST(CliTest, HealthNamesTheCauseAndTakesEachServiceAddressAsAFlag) {
  SchedulerServer scheduler;
  NotServingService writer;
  ::setenv("MFLSYNC_WRITER_ADDRESS", "127.0.0.1:1", 1);  // the flag wins
  Result r = RunCmd({"--scheduler", scheduler.Address(), "--fetcher", "127.0.0.1:1",
                     "--mapper=127.0.0.1:1", "--writer", writer.Address(), "--mediator",
                     "127.0.0.1:1", "health"});
  ::unsetenv("MFLSYNC_WRITER_ADDRESS");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find(absl::StrCat("writer     ", writer.Address())), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("NOT_SERVING"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("openimis: openIMIS at http://oi/api/graphql: no answer"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("mapper     127.0.0.1:1"), std::string::npos) << r.out;
  EXPECT_EQ(RunCmd({"health", "=127.0.0.1:1"}).code, 2);
}

TEST(CliTest, SchedulerUnreachableIsAClearError) {
  Result r = RunCmd({"--scheduler", "127.0.0.1:1", "runs"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("scheduler at 127.0.0.1:1"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("UNAVAILABLE"), std::string::npos) << r.err;
}

TEST(CliTest, RunsRunAndWatchShowTheHistory) {
  std::string db = TempDb();
  Seed(db);
  SchedulerServer server(db);
  std::string at = server.Address();
  Result runs = RunCmd({"--scheduler", at, "runs"});
  EXPECT_EQ(runs.code, 0) << runs.err;
  EXPECT_NE(runs.out.find("CREATED"), std::string::npos) << runs.out;
  EXPECT_NE(runs.out.find("run-000001"), std::string::npos) << runs.out;
  EXPECT_NE(runs.out.find("1m05s"), std::string::npos) << runs.out;
  Result run = RunCmd({"--scheduler", at, "run", "run-000001"});
  EXPECT_EQ(run.code, 0) << run.err;
  EXPECT_NE(run.out.find("succeeded  (manual, full)"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("summary: created 5, updated 2, unchanged 3, rejected 1, failed 0, "
                         "duration 1m05s"),
            std::string::npos)
      << run.out;
  Result skipped = RunCmd({"--scheduler", at, "skipped", "run-000001"});
  EXPECT_EQ(skipped.code, 0) << skipped.err;
  EXPECT_NE(skipped.out.find("county-47"), std::string::npos) << skipped.out;
  EXPECT_NE(skipped.out.find("physicalType jdn: not a site (si)"), std::string::npos)
      << skipped.out;
  EXPECT_EQ(RunCmd({"--scheduler", at, "skipped"}).code, 2);
  Result watch = RunCmd({"--scheduler", at, "watch", "run-000001"});
  EXPECT_EQ(watch.code, 0) << watch.err;
  EXPECT_NE(watch.out.find("summary: created 5"), std::string::npos) << watch.out;
  Result missing = RunCmd({"--scheduler", at, "run", "run-424242"});
  EXPECT_EQ(missing.code, 1);
  EXPECT_NE(missing.err.find("NOT_FOUND"), std::string::npos) << missing.err;
  Result cancel = RunCmd({"--scheduler", at, "cancel", "run-000001"});
  EXPECT_EQ(cancel.code, 1);
  EXPECT_NE(cancel.err.find("already ended"), std::string::npos) << cancel.err;
}

TEST(CliTest, FailureQueueListShowDismiss) {
  std::string db = TempDb();
  Seed(db);
  SchedulerServer server(db);
  std::string at = server.Address();
  Result list = RunCmd({"--scheduler", at, "failures"});
  EXPECT_EQ(list.code, 0) << list.err;
  EXPECT_NE(list.out.find("fac-10001"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("map"), std::string::npos) << list.out;
  Result show = RunCmd({"--scheduler", at, "failure", "1"});
  EXPECT_EQ(show.code, 0) << show.err;
  EXPECT_NE(show.out.find("mapping.facility_type.unknown"), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("\"resourceType\": \"Location\""), std::string::npos) << show.out;
  EXPECT_EQ(RunCmd({"--scheduler", at, "failure", "99"}).code, 1);
  Result dismiss = RunCmd({"--scheduler", at, "dismiss", "1", "--reason", "closed in 2019"});
  EXPECT_EQ(dismiss.code, 0) << dismiss.err;
  EXPECT_NE(dismiss.out.find("dismissed 1 entries"), std::string::npos);
  Result open = RunCmd({"--scheduler", at, "failures"});
  EXPECT_EQ(open.out.find("fac-10001"), std::string::npos) << open.out;
  Result dismissed = RunCmd({"--scheduler", at, "failures", "--state", "dismissed"});
  EXPECT_NE(dismissed.out.find("fac-10001"), std::string::npos) << dismissed.out;
  Result again = RunCmd({"--scheduler", at, "failure", "1"});
  EXPECT_NE(again.out.find("resolution: dismissed by an administrator: closed in 2019"),
            std::string::npos)
      << again.out;
  Result retry = RunCmd({"--scheduler", at, "retry", "1"});
  EXPECT_EQ(retry.code, 1);
  EXPECT_NE(retry.err.find("only open entries can be retried"), std::string::npos) << retry.err;
}

TEST(CliTest, WatermarkShowSetResetWithReasons) {
  std::string db = TempDb();
  Seed(db);
  SchedulerServer server(db, {{"MFLSYNC_SOURCES__KENYA__SCHEDULE", "off"}});
  std::string at = server.Address();
  Result none = RunCmd({"--scheduler", at, "watermark", "show", "kenya"});
  EXPECT_EQ(none.code, 0) << none.err;
  EXPECT_NE(none.out.find("none (the next run fetches everything)"), std::string::npos)
      << none.out;
  Result set = RunCmd({"--scheduler", at, "watermark", "set", "kenya", "2024-05-01T10:00:00Z",
                       "--reason", "start after the 2024 census import"});
  EXPECT_EQ(set.code, 0) << set.err;
  EXPECT_NE(set.out.find("- -> 2024-05-01 10:00:00Z"), std::string::npos) << set.out;
  Result future = RunCmd({"--scheduler", at, "watermark", "set", "kenya",
                          "2999-01-01T00:00:00Z", "--reason", "typo"});
  EXPECT_EQ(future.code, 1);
  EXPECT_NE(future.err.find("later than now"), std::string::npos) << future.err;
  Result no_reason = RunCmd({"--scheduler", at, "watermark", "reset", "kenya"});
  EXPECT_EQ(no_reason.code, 2);
  EXPECT_NE(no_reason.err.find("--reason is required"), std::string::npos) << no_reason.err;
  Result bad_time = RunCmd({"--scheduler", at, "watermark", "set", "kenya", "yesterday",
                            "--reason", "x"});
  EXPECT_EQ(bad_time.code, 2);
  EXPECT_NE(bad_time.err.find("is not a FHIR instant"), std::string::npos) << bad_time.err;
  Result reset = RunCmd({"--scheduler", at, "watermark", "reset", "kenya", "--reason",
                         "full reload after the registry fix"});
  EXPECT_EQ(reset.code, 0) << reset.err;
  Result shown = RunCmd({"--scheduler", at, "watermark", "show", "kenya"});
  EXPECT_EQ(shown.code, 0) << shown.err;
  size_t newest = shown.out.find("full reload after the registry fix");
  size_t oldest = shown.out.find("start after the 2024 census import");
  ASSERT_NE(newest, std::string::npos) << shown.out;
  ASSERT_NE(oldest, std::string::npos) << shown.out;
  EXPECT_LT(newest, oldest) << "newest first: " << shown.out;
  Result unknown = RunCmd({"--scheduler", at, "watermark", "show", "nowhere"});
  EXPECT_EQ(unknown.code, 1) << unknown.out;
}

TEST(CliTest, RetryWithWriterDownEndsFailedAndSaysWhy) {
  std::string db = TempDb();
  Seed(db);
  SchedulerServer server(db);
  Result retry = RunCmd({"--scheduler", server.Address(), "retry", "1"});
  EXPECT_EQ(retry.code, 1);
  EXPECT_NE(retry.out.find("retry run run-000002 started"), std::string::npos) << retry.out;
  EXPECT_NE(retry.out.find("failed"), std::string::npos) << retry.out;
  EXPECT_NE(retry.out.find("writer RefreshIndex at 127.0.0.1:1"), std::string::npos) << retry.out;
  // The entry stays open for the next attempt.
  Result list = RunCmd({"--scheduler", server.Address(), "failures"});
  EXPECT_NE(list.out.find("fac-10001"), std::string::npos) << list.out;
  // --stored replays the copy kept with the entry; each retry is recorded.
  Result stored = RunCmd({"--scheduler", server.Address(), "retry", "1", "--stored", "--reason",
                          "after the outage"});
  EXPECT_NE(stored.out.find("retry run run-000003 started"), std::string::npos) << stored.out;
  Result shown = RunCmd({"--scheduler", server.Address(), "failure", "1"});
  EXPECT_NE(shown.out.find("retry by unauthenticated caller (retry run run-000002, from the "
                           "MFL)"),
            std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find("retry by unauthenticated caller: after the outage (retry run "
                           "run-000003, of the stored copy)"),
            std::string::npos) << shown.out;
}

TEST(CliTest, SyncWithFetcherDownIsAClearError) {
  SchedulerServer server;
  Result sync = RunCmd({"--scheduler", server.Address(), "sync"});
  EXPECT_EQ(sync.code, 1);
  EXPECT_NE(sync.err.find("fetcher ListSources at 127.0.0.1:1"), std::string::npos) << sync.err;
  Result runs = RunCmd({"--scheduler", server.Address(), "runs"});
  EXPECT_EQ(runs.code, 0);
  EXPECT_EQ(runs.out.find("run-0"), std::string::npos) << runs.out;
}

// A written outcome of run `run_id` with its change-history entry.
scheduler::RecordOutcome WrittenChange(const std::string& id, const std::string& version,
                                       const std::string& run_id, const std::string& code,
                                       mflsync::v1::PlanAction action,
                                       const std::string& old_name,
                                       const std::string& new_name) {
  scheduler::RecordOutcome o;
  o.record.set_source_id("kenya");
  o.record.set_location_id(id);
  o.record.set_version_id(version);
  o.state = scheduler::JournalState::kWritten;
  mflsync::v1::FacilityChange& c = o.change.emplace();
  c.set_run_id(run_id);
  c.set_source_id("kenya");
  c.set_trigger(mflsync::v1::RUN_TRIGGER_SCHEDULE);
  mflsync::v1::PlanEntry& e = *c.mutable_entry();
  e.set_location_id(id);
  e.set_version_id(version);
  e.set_action(action);
  e.set_code(code);
  e.set_uuid("uuid-" + code);
  e.set_name(new_name);
  mflsync::v1::FieldChange* f = e.add_changes();
  f->set_field("name");
  f->set_old_value(old_name);
  f->set_new_value(new_name);
  return o;
}

// Two runs: run-000001 creates fac-1 (10001) and fac-2; run-000002 renames
// fac-1, with a comma and quotes in the new name.
void SeedChanges(const std::string& db) {
  auto store = scheduler::StateStore::Open(db, {});
  ASSERT_TRUE(store.ok()) << store.status();
  const absl::Time t0 = absl::FromUnixSeconds(1714557600);  // 2024-05-01T10:00:00Z
  ASSERT_TRUE((*store)->CommitBatch(
                  "kenya", "run-000001",
                  {WrittenChange("fac-1", "1", "run-000001", "10001",
                                 mflsync::v1::PLAN_ACTION_CREATE, "", "Alpha"),
                   WrittenChange("fac-2", "1", "run-000001", "10002",
                                 mflsync::v1::PLAN_ACTION_CREATE, "", "Beta")},
                  std::nullopt, t0)
                  .ok());
  ASSERT_TRUE((*store)->CommitBatch(
                  "kenya", "run-000002",
                  {WrittenChange("fac-1", "2", "run-000002", "10001",
                                 mflsync::v1::PLAN_ACTION_UPDATE, "Alpha",
                                 "Alpha, \"the\" first")},
                  std::nullopt, t0 + absl::Hours(1))
                  .ok());
}

TEST(CliTest, RunChangesAndHistoryShowAndExportWhatWasWritten) {
  std::string db = TempDb();
  SeedChanges(db);
  // Written in 2024: kept for a century here (by default a year).
  SchedulerServer server(db, {{"MFLSYNC_CHANGE_HISTORY__RETENTION", "876000h"}});
  std::string at = server.Address();
  Result run = RunCmd({"--scheduler", at, "run", "run-000002", "--changes"});
  EXPECT_EQ(run.code, 0) << run.err;
  EXPECT_NE(run.out.find("changes written by run run-000002"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("2024-05-01 11:00:00Z  run-000002 (schedule)  UPDATE"),
            std::string::npos) << run.out;
  EXPECT_NE(run.out.find("name 'Alpha' -> 'Alpha, \"the\" first'"), std::string::npos)
      << run.out;
  EXPECT_EQ(run.out.find("fac-2"), std::string::npos) << "another run's change: " << run.out;
  Result none = RunCmd({"--scheduler", at, "run", "run-000009", "--changes"});
  EXPECT_EQ(none.code, 0) << none.err;
  EXPECT_NE(none.out.find("(none)"), std::string::npos) << none.out;
  // What happened to fac-1, by Location id or HF code: newest first.
  for (const char* key : {"fac-1", "10001"}) {
    Result history = RunCmd({"--scheduler", at, "history", key});
    EXPECT_EQ(history.code, 0) << history.err;
    const size_t update = history.out.find("UPDATE");
    const size_t create = history.out.find("CREATE");
    ASSERT_NE(update, std::string::npos) << history.out;
    ASSERT_NE(create, std::string::npos) << history.out;
    EXPECT_LT(update, create) << "newest first: " << history.out;
    EXPECT_EQ(history.out.find("fac-2"), std::string::npos) << history.out;
  }
  Result since = RunCmd({"--scheduler", at, "history", "fac-1", "--since",
                         "2024-05-01T10:30:00Z"});
  EXPECT_EQ(since.out.find("CREATE"), std::string::npos) << since.out;
  EXPECT_NE(since.out.find("UPDATE"), std::string::npos) << since.out;
  Result limited = RunCmd({"--scheduler", at, "history", "fac-1", "--limit", "1"});
  EXPECT_EQ(limited.out.find("CREATE"), std::string::npos) << limited.out;
  Result csv = RunCmd({"--scheduler", at, "history", "fac-1", "--format", "csv"});
  EXPECT_EQ(csv.code, 0) << csv.err;
  EXPECT_EQ(csv.out.rfind("change_id,recorded_at,run_id,source_id,trigger,location_id,"
                          "version_id,last_updated,action,code,uuid,name,field,old_value,"
                          "new_value,stage,reason\r\n", 0),
            0u) << csv.out;
  EXPECT_NE(csv.out.find("3,2024-05-01T11:00:00Z,run-000002,kenya,schedule,fac-1,2,,update,"
                         "10001,uuid-10001,\"Alpha, \"\"the\"\" first\",name,Alpha,"
                         "\"Alpha, \"\"the\"\" first\",,\r\n"),
            std::string::npos) << csv.out;
  Result json = RunCmd({"--scheduler", at, "run", "run-000001", "--changes", "--format", "json"});
  EXPECT_EQ(json.code, 0) << json.err;
  nlohmann::json j = nlohmann::json::parse(json.out, nullptr, false);
  ASSERT_TRUE(j.is_array()) << json.out;
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0]["location_id"], "fac-2");
  EXPECT_EQ(j[0]["action"], "create");
  EXPECT_EQ(j[0]["run_id"], "run-000001");
  EXPECT_EQ(j[1]["changes"][0]["new"], "Alpha");
  // Usage errors.
  EXPECT_EQ(RunCmd({"--scheduler", at, "history"}).code, 2);
  EXPECT_EQ(RunCmd({"--scheduler", at, "history", "fac-1", "--since", "yesterday"}).code, 2);
  EXPECT_EQ(RunCmd({"--scheduler", at, "history", "fac-1", "--format", "xml"}).code, 2);
  EXPECT_EQ(RunCmd({"--scheduler", at, "run", "run-000001", "--format", "csv"}).code, 2);
}

TEST(CliTest, FailureActionsNeedAReasonAndAreShownWithWhoAndWhy) {
  std::string db = TempDb();
  Seed(db);
  {
    auto store = scheduler::StateStore::Open(db, {});
    ASSERT_TRUE(store.ok()) << store.status();
    scheduler::RecordOutcome duplicate;
    duplicate.record.set_source_id("kenya");
    duplicate.record.set_location_id("fac-10002");
    duplicate.record.set_version_id("1");
    duplicate.state = scheduler::JournalState::kParked;
    duplicate.stage = mflsync::v1::FAILURE_STAGE_RECONCILE;
    duplicate.reason = "reconcile.duplicate.name_in_district at Location.name: Likely duplicate";
    ASSERT_TRUE((*store)->CommitBatch("kenya", "run-000001", {duplicate}, std::nullopt,
                                      absl::Now()).ok());
  }
  SchedulerServer server(db);
  std::string at = server.Address();
  Result no_reason = RunCmd({"--scheduler", at, "dismiss", "1"});
  EXPECT_EQ(no_reason.code, 2);
  EXPECT_NE(no_reason.err.find("mflsync dismiss: --reason is required"), std::string::npos)
      << no_reason.err;
  EXPECT_EQ(RunCmd({"--scheduler", at, "dismiss", "1", "--reason", "closed in 2019"}).code, 0);
  Result reopen = RunCmd({"--scheduler", at, "reopen", "1", "--reason", "it reopened"});
  EXPECT_EQ(reopen.code, 0) << reopen.err;
  EXPECT_NE(reopen.out.find("reopened 1 entries"), std::string::npos) << reopen.out;
  Result again = RunCmd({"--scheduler", at, "reopen", "1"});
  EXPECT_EQ(again.code, 1);
  EXPECT_NE(again.err.find("only dismissed entries can be reopened"), std::string::npos)
      << again.err;
  // A link is for a likely duplicate (stage reconcile) only.
  Result not_duplicate = RunCmd({"--scheduler", at, "link", "1", "10009", "--reason", "x"});
  EXPECT_EQ(not_duplicate.code, 1);
  EXPECT_NE(not_duplicate.err.find("FAILED_PRECONDITION"), std::string::npos)
      << not_duplicate.err;
  EXPECT_EQ(RunCmd({"--scheduler", at, "link", "2", "10009"}).code, 2);  // no reason
  EXPECT_EQ(RunCmd({"--scheduler", at, "link", "2", "--reason", "x"}).code, 2);  // no code
  EXPECT_EQ(RunCmd({"--scheduler", at, "accept", "2"}).code, 2);
  Result link = RunCmd({"--scheduler", at, "link", "2", "10009", "--reason",
                        "the MFL lists it twice", "--no-watch"});
  EXPECT_EQ(link.code, 0) << link.err;
  EXPECT_NE(link.out.find("Location fac-10002 is linked to openIMIS HF code 10009"),
            std::string::npos) << link.out;
  EXPECT_NE(link.out.find("retry run run-000002 started"), std::string::npos) << link.out;
  Result shown = RunCmd({"--scheduler", at, "failure", "1"});
  EXPECT_EQ(shown.code, 0) << shown.err;
  const size_t dismissed = shown.out.find("dismiss by unauthenticated caller: closed in 2019");
  const size_t reopened = shown.out.find("reopen by unauthenticated caller: it reopened");
  ASSERT_NE(dismissed, std::string::npos) << shown.out;
  ASSERT_NE(reopened, std::string::npos) << shown.out;
  EXPECT_LT(dismissed, reopened) << shown.out;
  Result linked = RunCmd({"--scheduler", at, "failure", "2"});
  EXPECT_NE(linked.out.find("is linked to openIMIS HF code 10009 (by unauthenticated caller"),
            std::string::npos) << linked.out;
  EXPECT_NE(linked.out.find("link by unauthenticated caller: the MFL lists it twice "
                            "(written to openIMIS HF code 10009)"),
            std::string::npos) << linked.out;
  EXPECT_NE(linked.out.find("retry by unauthenticated caller: after the link (retry run "
                            "run-000002, from the MFL)"),
            std::string::npos) << linked.out;
}

// `mflsync sources`: the schedule in its zone, the next run in UTC (midnight
// in Nairobi is 21:00 UTC), the watermark and the last run.
TEST(CliTest, SourcesShowScheduleZoneNextRunAndLastRun) {
  std::string db = TempDb();
  Seed(db);
  SchedulerServer server(db, {{"MFLSYNC_SOURCES__KENYA__SCHEDULE", "@daily"},
                              {"MFLSYNC_SOURCES__KENYA__TIME_ZONE", "Africa/Nairobi"}});
  Result sources = RunCmd({"--scheduler", server.Address(), "sources"});
  EXPECT_EQ(sources.code, 0) << sources.err;
  EXPECT_NE(sources.out.find("kenya\n  schedule   @daily (Africa/Nairobi)\n  next run   "),
            std::string::npos)
      << sources.out;
  EXPECT_NE(sources.out.find(" 21:00:00Z\n  watermark  "), std::string::npos) << sources.out;
  EXPECT_NE(sources.out.find("  last run   run-000001 manual succeeded, started "),
            std::string::npos)
      << sources.out;
  Result extra = RunCmd({"--scheduler", server.Address(), "sources", "kenya"});
  EXPECT_EQ(extra.code, 2);
  EXPECT_NE(extra.err.find("mflsync sources: The following argument was not expected: kenya"),
            std::string::npos)
      << extra.err;
}

}  // namespace
}  // namespace mflsync::cli
