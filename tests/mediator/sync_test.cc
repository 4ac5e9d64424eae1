// An openHIM-triggered sync run end to end: POST /mflsync/sync through the
// openHIM stand-in reaches the mediator, which triggers the real scheduler
// (with the real fetcher, mapper and writer modules, the MFL and openIMIS
// stand-ins), answers Processing at once, and completes the openHIM
// transaction with the run's stages, counts and refused records.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <google/protobuf/util/time_util.h>

#include "absl/strings/str_cat.h"
#include "common/fhir.h"
#include "common/http_client.h"
#include "fetcher/fetcher_module.h"
#include "mapper/mapper_module.h"
#include "mediator/mediator_module.h"
#include "mediator/push_processor.h"
#include "mediator/sync_runner.h"
#include "mediator/transaction_completer.h"
#include "mflsync/v1/writer.grpc.pb.h"
#include "scheduler/scheduler_module.h"
#include "tests/fetcher/mfl_standin.h"
#include "tests/mediator/openhim_standin.h"
#include "tests/mediator/suite_fixture.h"
#include "tests/writer/standin_process.h"
#include "writer/writer_module.h"

namespace mflsync::mediator {
namespace {

using nlohmann::json;
using testing::OpenHimStandin;
using writer::testing::OpenImisStandin;
using writer::testing::SourceDir;

TEST(SyncRunnerTest, FinalOutcomeMapsRunStatesToOpenHimStatuses) {
  v1::Run run;
  run.set_run_id("run-000007");
  run.set_state(v1::RUN_STATE_SUCCEEDED);
  run.mutable_counts()->set_fetched(3);
  run.mutable_counts()->set_created(3);
  v1::StageTiming* fetch = run.add_stages();
  fetch->set_stage("fetch");
  fetch->set_millis(12);
  TransactionOutcome ok = SyncRunner::FinalOutcome("urn:x", run, {}, /*auto_retry=*/false);
  EXPECT_EQ(ok.status, kStatusSuccessful);
  ASSERT_EQ(ok.orchestrations.size(), 1u);
  EXPECT_EQ(ok.orchestrations[0]["name"], "mflsync fetch");
  EXPECT_NE(ok.orchestrations[0]["response"]["body"].get<std::string>().find("\"fetched\":3"),
            std::string::npos);
  run.mutable_counts()->set_rejected(1);
  v1::Failure f;
  f.set_location_id("fac-9");
  f.set_stage(v1::FAILURE_STAGE_MAP);
  f.set_reason("mapping.facility_type.unknown");
  TransactionOutcome partial = SyncRunner::FinalOutcome("urn:x", run, {f}, false);
  EXPECT_EQ(partial.status, kStatusCompletedWithErrors);
  EXPECT_EQ(partial.orchestrations.back()["name"], "mflsync refused records");
  run.set_state(v1::RUN_STATE_FAILED);
  run.set_error("fetcher unreachable");
  TransactionOutcome failed = SyncRunner::FinalOutcome("urn:x", run, {}, false);
  EXPECT_EQ(failed.status, kStatusFailed);
  EXPECT_EQ(failed.properties["error"], "fetcher unreachable");
  EXPECT_TRUE(failed.error.is_null()) << "an error queues the transaction for auto-retry";
  TransactionOutcome retried = SyncRunner::FinalOutcome("urn:x", run, {}, /*auto_retry=*/true);
  EXPECT_EQ(retried.error["message"], "fetcher unreachable");
}

TEST(SyncRunnerTest, EachStageOrchestrationCarriesItsOwnTimes) {
  v1::Run run;
  run.set_state(v1::RUN_STATE_SUCCEEDED);
  *run.mutable_started_at() = google::protobuf::util::TimeUtil::SecondsToTimestamp(1000);
  *run.mutable_finished_at() = google::protobuf::util::TimeUtil::SecondsToTimestamp(1100);
  v1::StageTiming* fetch = run.add_stages();
  fetch->set_stage("fetch");
  *fetch->mutable_first_started_at() = google::protobuf::util::TimeUtil::SecondsToTimestamp(1001);
  *fetch->mutable_last_finished_at() = google::protobuf::util::TimeUtil::SecondsToTimestamp(1040);
  v1::StageTiming* write = run.add_stages();
  write->set_stage("write");
  *write->mutable_first_started_at() = google::protobuf::util::TimeUtil::SecondsToTimestamp(1030);
  *write->mutable_last_finished_at() = google::protobuf::util::TimeUtil::SecondsToTimestamp(1099);
  v1::StageTiming* old = run.add_stages();  // a scheduler that reports no times
  old->set_stage("map");
  TransactionOutcome out = SyncRunner::FinalOutcome("urn:x", run, {}, false);
  ASSERT_EQ(out.orchestrations.size(), 3u);
  EXPECT_EQ(out.orchestrations[0]["request"]["timestamp"], "1970-01-01T00:16:41Z");
  EXPECT_EQ(out.orchestrations[0]["response"]["timestamp"], "1970-01-01T00:17:20Z");
  EXPECT_EQ(out.orchestrations[1]["request"]["timestamp"], "1970-01-01T00:17:10Z");
  EXPECT_EQ(out.orchestrations[1]["response"]["timestamp"], "1970-01-01T00:18:19Z");
  EXPECT_EQ(out.orchestrations[2]["request"]["timestamp"], "1970-01-01T00:16:40Z");
  EXPECT_EQ(out.orchestrations[2]["response"]["timestamp"], "1970-01-01T00:18:20Z");
}

TEST(TransactionCompleterTest, UpdateAddsOrchestrationsAndSetsPropertiesKeyByKey) {
  TransactionOutcome out;
  out.status = kStatusSuccessful;
  out.orchestrations = json::array({{{"name", "a"}}, {{"name", "b"}}});
  out.properties = {{"created", 3}, {"run_id", "run-1"}};
  json body = TransactionCompleter::UpdateBody(out);
  EXPECT_EQ(body["status"], kStatusSuccessful);
  EXPECT_EQ(body["$push"]["orchestrations"]["$each"].size(), 2u);
  EXPECT_EQ(body["properties.created"], 3);
  EXPECT_EQ(body["properties.run_id"], "run-1");
  EXPECT_FALSE(body.contains("orchestrations"));
  EXPECT_FALSE(body.contains("properties"));
  EXPECT_FALSE(body.contains("error"));
}

TEST(SyncTest, RunIsVisibleInTheOpenHimTransactionLog) {
  mflsync::testing::MflStandIn mfl;
  ASSERT_TRUE(mfl.Start({"--host", "127.0.0.1", "--base-path", "/fhir", "--synthetic", "25"}).ok());
  auto openimis = OpenImisStandin::Start(
      {"--areas", SourceDir() + "/mapper/mappings/synthetic-openimis-areas.json", "--fast"});
  ASSERT_TRUE(openimis.ok()) << openimis.status();
  auto ohim = OpenHimStandin::Start();
  ASSERT_TRUE(ohim.ok()) << ohim.status();
  const std::string mfl_base = absl::StrCat("http://127.0.0.1:", mfl.port(), "/fhir");

  // One facility the mapping cannot place: the run refuses it.
  json bad = {{"resourceType", "Location"},
              {"id", "fac-99901"},
              {"identifier",
               {{{"system", "https://kmhfl.health.go.ke/facility-code"}, {"value", "99901"}}}},
              {"status", "active"},
              {"name", "Orbital Station"},
              {"type",
               {{{"coding", {{{"system", "https://kmhfl.health.go.ke/facility-type"},
                              {"code", "Spaceport"}}}}}}},
              {"physicalType",
               {{"coding",
                 {{{"system", "http://terminology.hl7.org/CodeSystem/location-physical-type"},
                   {"code", "si"}}}}}}};
  {
    HttpClient http{HttpClientOptions{}};
    auto put = http.Send({.method = "PUT",
                          .url = mfl_base + "/Location/fac-99901",
                          .headers = {{"Content-Type", "application/fhir+json"}},
                          .body = bad.dump()});
    ASSERT_TRUE(put.ok()) << put.status();
    ASSERT_EQ(put->status / 100, 2) << put->body;
  }

  std::vector<std::unique_ptr<ServiceModule>> peers_modules;
  peers_modules.push_back(testing::CreateModule(fetcher::FetcherSpec(),
                                 {{"MFLSYNC_SOURCES__MFL__BASE_URL", mfl_base}}));
  peers_modules.push_back(testing::CreateModule(
      mapper::MapperSpec(),
      {{"MFLSYNC_MAPPING_FILE", SourceDir() + "/mapper/mappings/synthetic.json"}}));
  peers_modules.push_back(testing::CreateModule(writer::WriterSpec(),
                                 {{"MFLSYNC_OPENIMIS__BASE_URL", (*openimis)->api_root()},
                                  {"MFLSYNC_OPENIMIS__USERNAME", "Admin"},
                                  {"MFLSYNC_OPENIMIS__PASSWORD", "admin123"},
                           {"MFLSYNC_INDEX__PATH", ""}}));
  for (auto& m : peers_modules) ASSERT_NE(m, nullptr);
  auto peers = testing::InProcessServer::Start(std::move(peers_modules));
  ASSERT_TRUE(peers.ok()) << peers.status();
  const std::string dir = (*ohim)->dir();
  std::vector<std::unique_ptr<ServiceModule>> scheduler_modules;
  scheduler_modules.push_back(testing::CreateModule(scheduler::SchedulerSpec(),
                                     {{"MFLSYNC_STATE_DB", dir + "/scheduler.db"},
                                      {"MFLSYNC_FETCHER_ADDRESS", (*peers)->address()},
                                      {"MFLSYNC_MAPPER_ADDRESS", (*peers)->address()},
                                      {"MFLSYNC_WRITER_ADDRESS", (*peers)->address()},
                                      {"MFLSYNC_SOURCES__MFL__SCHEDULE", "off"}}));
  ASSERT_NE(scheduler_modules[0], nullptr);
  auto scheduler = testing::InProcessServer::Start(std::move(scheduler_modules));
  ASSERT_TRUE(scheduler.ok()) << scheduler.status();

  auto config = testing::LoadConfig(
      MediatorSpec(), {{"MFLSYNC_OPENHIM__API_URL", (*ohim)->api_url()},
                       {"MFLSYNC_OPENHIM__USERNAME", testing::kAdminUser},
                       {"MFLSYNC_OPENHIM__PASSWORD", testing::kAdminPassword},
                       {"MFLSYNC_HTTP_LISTEN", "127.0.0.1:0"},
                       {"MFLSYNC_HTTP__ALLOW_UNAUTHENTICATED", "true"},
                       {"MFLSYNC_SYNC__SOURCE", "mfl"},
                       {"MFLSYNC_SCHEDULER_ADDRESS", (*scheduler)->address()}});
  ASSERT_TRUE(config.ok()) << config.status();
  auto mediator = CreateMediatorModule(*config);
  ASSERT_TRUE(mediator.ok()) << mediator.status();
  ASSERT_TRUE((*mediator)->Start().ok());
  ASSERT_TRUE((*mediator)->WaitUntilRegistered(absl::Seconds(30)));
  auto client = (*ohim)->Api("POST", "/clients",
                             {{"clientID", "ops"}, {"name", "Operations"},
                              {"roles", {"mflsync-admin"}}, {"password", "ops-pass-123"}});
  ASSERT_TRUE(client.ok());
  ASSERT_EQ(client->status, 201);

  HttpClient http{HttpClientOptions{}};
  auto r = http.Send({.method = "POST",
                      .url = (*ohim)->router_url() + "/mflsync/sync",
                      .headers = {{"Authorization", BasicAuthHeader("ops", "ops-pass-123")}},
                      .body = ""});
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->status, 202) << r->body;
  absl::StatusOr<json> started = ParseJson(r->body);
  ASSERT_TRUE(started.ok());
  const std::string run_id = (*started)["run_id"];
  EXPECT_FALSE(run_id.empty());
  const std::string tx_id = r->Header("x-openhim-transactionid");
  ASSERT_FALSE(tx_id.empty());

  (*mediator)->WaitForSyncWatchers();
  json tx = (*ohim)->ApiJson("GET", "/transactions/" + tx_id);
  ASSERT_TRUE(tx.is_object());
  EXPECT_EQ(tx["status"], kStatusCompletedWithErrors) << tx.dump();
  EXPECT_EQ(tx["properties"]["run_id"], run_id);
  EXPECT_EQ(tx["properties"]["created"], 25) << tx.dump();
  EXPECT_EQ(tx["properties"]["rejected"], 1) << tx.dump();
  std::set<std::string> names;
  for (const json& o : tx["orchestrations"]) names.insert(o["name"]);
  EXPECT_TRUE(names.count("mflsync fetch")) << tx["orchestrations"].dump();
  EXPECT_TRUE(names.count("mflsync write")) << tx["orchestrations"].dump();
  EXPECT_TRUE(names.count("mflsync refused records")) << tx["orchestrations"].dump();
  // Added to what openHIM stored, not replacing it.
  EXPECT_TRUE(names.count("mflsync mediator sync")) << tx["orchestrations"].dump();
  EXPECT_EQ(tx["properties"]["source_id"], "mfl") << tx["properties"].dump();
  EXPECT_FALSE(tx.value("autoRetry", true));
  const std::string body = tx["response"]["body"];
  EXPECT_NE(body.find("fac-99901"), std::string::npos) << body;
  EXPECT_NE(body.find("Spaceport"), std::string::npos) << body;
  EXPECT_EQ((*openimis)->CountCode("99901"), 0);
  (*mediator)->Stop();
}

}  // namespace
}  // namespace mflsync::mediator
