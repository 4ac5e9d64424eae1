// Push mode end to end: an MFL pushes a FHIR Bundle through an openHIM
// channel (the stand-in) to the mediator, which hands it to the real
// scheduler's record flow (with the real mapper and writer modules, into the
// openIMIS stand-in), and answers in the openHIM mediator format.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "common/fhir.h"
#include "common/http_client.h"
#include "mapper/mapper_module.h"
#include "mediator/mediator_module.h"
#include "mediator/push_processor.h"
#include "mediator/registration.h"
#include "mflsync/v1/mediator.grpc.pb.h"
#include "mflsync/v1/scheduler.grpc.pb.h"
#include "mflsync/v1/writer.grpc.pb.h"
#include "scheduler/scheduler_module.h"
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

constexpr char kUrn[] = "urn:mediator:mflsync";

// A facility Location in the shape of testbed/data_tools/synthetic_mfl.py
// output (district Shikerama, SY1807, in mapper/mappings/synthetic.json).
json Facility(const std::string& code, const std::string& name, const std::string& type,
              const std::string& owner_ref) {
  return {
      {"resourceType", "Location"},
      {"id", "fac-" + code},
      {"meta", {{"versionId", "1"}, {"lastUpdated", "2024-03-08T00:54:17.552Z"}}},
      {"extension",
       {{{"url", "https://mflsync.example/fhir/StructureDefinition/facility-services"},
         {"valueCode", "OPD"}}}},
      {"identifier", {{{"system", "https://kmhfl.health.go.ke/facility-code"}, {"value", code}}}},
      {"status", "active"},
      {"name", name},
      {"mode", "instance"},
      {"type",
       {{{"coding",
          {{{"system", "https://kmhfl.health.go.ke/facility-type"}, {"code", type},
            {"display", type}}}},
         {"text", type}}}},
      {"address",
       {{"city", "Niga"}, {"district", "Shikerama"}, {"state", "Loroka"}, {"country", "KE"}}},
      {"physicalType",
       {{"coding",
         {{{"system", "http://terminology.hl7.org/CodeSystem/location-physical-type"},
           {"code", "si"}, {"display", "Site"}}}}}},
      {"managingOrganization", {{"reference", owner_ref}}},
      {"partOf", {{"reference", "Location/ward-loroka-shikerama-niga"}, {"display", "Niga"}}}};
}

json Owner(const std::string& id, const std::string& name) {
  return {{"resourceType", "Organization"},
          {"id", id},
          {"active", true},
          {"type",
           {{{"coding", {{{"system", "https://kmhfl.health.go.ke/owner-type"}, {"code", name},
                          {"display", name}}}},
             {"text", name}}}},
          {"name", name}};
}

class PushTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto openimis = OpenImisStandin::Start(
        {"--areas", SourceDir() + "/mapper/mappings/synthetic-openimis-areas.json"});
    ASSERT_TRUE(openimis.ok()) << openimis.status();
    openimis_ = openimis->release();
    auto ohim = OpenHimStandin::Start();
    ASSERT_TRUE(ohim.ok()) << ohim.status();
    ohim_ = ohim->release();

    auto mapper_config = testing::LoadConfig(
        mapper::MapperSpec(),
        {{"MFLSYNC_MAPPING_FILE", SourceDir() + "/mapper/mappings/synthetic.json"}});
    ASSERT_TRUE(mapper_config.ok()) << mapper_config.status();
    auto mapper_module = mapper::MapperSpec().create(*mapper_config);
    ASSERT_TRUE(mapper_module.ok()) << mapper_module.status();
    auto writer_config = testing::LoadConfig(
        writer::WriterSpec(), {{"MFLSYNC_OPENIMIS__BASE_URL", openimis_->api_root()},
                               {"MFLSYNC_OPENIMIS__USERNAME", "Admin"},
                               {"MFLSYNC_OPENIMIS__PASSWORD", "admin123"},
                           {"MFLSYNC_INDEX__PATH", ""}});
    ASSERT_TRUE(writer_config.ok()) << writer_config.status();
    auto writer_module = writer::WriterSpec().create(*writer_config);
    ASSERT_TRUE(writer_module.ok()) << writer_module.status();
    std::vector<std::unique_ptr<ServiceModule>> modules;
    modules.push_back(std::move(*mapper_module));
    modules.push_back(std::move(*writer_module));
    auto peers = testing::InProcessServer::Start(std::move(modules));
    ASSERT_TRUE(peers.ok()) << peers.status();
    peers_ = peers->release();
    // The writer answers only once its index is loaded.
    auto stub = v1::WriterService::NewStub(
        grpc::CreateChannel(peers_->address(), grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    v1::RefreshIndexRequest refresh;
    v1::RefreshIndexResponse refreshed;
    grpc::Status st = stub->RefreshIndex(&context, refresh, &refreshed);
    ASSERT_TRUE(st.ok()) << st.error_message();
    std::vector<std::unique_ptr<ServiceModule>> scheduler_modules;
    scheduler_modules.push_back(testing::CreateModule(
        scheduler::SchedulerSpec(), {{"MFLSYNC_STATE_DB", ohim_->dir() + "/scheduler.db"},
                                     {"MFLSYNC_FETCHER_ADDRESS", "127.0.0.1:1"},
                                     {"MFLSYNC_MAPPER_ADDRESS", peers_->address()},
                                     {"MFLSYNC_WRITER_ADDRESS", peers_->address()},
                                     {"MFLSYNC_SOURCES__MFL__SCHEDULE", "off"}}));
    ASSERT_NE(scheduler_modules[0], nullptr);
    auto scheduler = testing::InProcessServer::Start(std::move(scheduler_modules));
    ASSERT_TRUE(scheduler.ok()) << scheduler.status();
    scheduler_ = scheduler->release();

    auto config = testing::LoadConfig(
        MediatorSpec(), {{"MFLSYNC_OPENHIM__API_URL", ohim_->api_url()},
                         {"MFLSYNC_OPENHIM__USERNAME", testing::kAdminUser},
                         {"MFLSYNC_OPENHIM__PASSWORD", testing::kAdminPassword},
                         {"MFLSYNC_HTTP_LISTEN", "127.0.0.1:0"},
                         {"MFLSYNC_HTTP__ALLOW_UNAUTHENTICATED", "true"},
                         {"MFLSYNC_OPENHIM__HEARTBEAT_INTERVAL", "100ms"},
                         {"MFLSYNC_SYNC__SOURCE", "mfl"},
                         {"MFLSYNC_SCHEDULER_ADDRESS", scheduler_->address()}});
    ASSERT_TRUE(config.ok()) << config.status();
    auto module = CreateMediatorModule(*config);
    ASSERT_TRUE(module.ok()) << module.status();
    mediator_ = module->release();
    ASSERT_TRUE(mediator_->Start().ok());
    ASSERT_TRUE(mediator_->WaitUntilRegistered(absl::Seconds(30)));
    // The MFL's openHIM client, allowed on the push channel (role "mfl").
    auto client = ohim_->Api("POST", "/clients",
                             {{"clientID", "mfl-kenya"}, {"name", "Kenya MFL"},
                              {"roles", {"mfl"}}, {"password", "mfl-pass-123"}});
    ASSERT_TRUE(client.ok());
    ASSERT_EQ(client->status, 201) << client->body;
  }

  static void TearDownTestSuite() {
    if (mediator_) mediator_->Stop();
    delete mediator_;
    delete scheduler_;
    delete peers_;
    delete ohim_;
    delete openimis_;
  }

  // POSTs `body` to the push channel through the openHIM router.
  static HttpResponse Push(const std::string& body,
                           const std::string& password = "mfl-pass-123") {
    HttpClient http{HttpClientOptions{}};
    HttpRequest request;
    request.method = "POST";
    request.url = ohim_->router_url() + "/mflsync/push";
    request.headers = {{"Authorization", BasicAuthHeader("mfl-kenya", password)},
                       {"Content-Type", "application/fhir+json"}};
    request.body = body;
    absl::StatusOr<HttpResponse> r = http.Send(request);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : HttpResponse{};
  }

  // The answer's body as JSON (a gtest failure when it is not).
  static json Body(const HttpResponse& r) {
    absl::StatusOr<json> body = ParseJson(r.body);
    EXPECT_TRUE(body.ok()) << r.body;
    return body.ok() ? *body : json::object();
  }

  // The name openIMIS holds for an HF code ("" when it holds none).
  static std::string NameOf(const std::string& code) {
    auto r = openimis_->Testbed("GET", "facilities?code=" + code);
    if (!r.ok() || (*r)["facilities"].empty()) return "";
    return (*r)["facilities"][0].value("name", "");
  }

  static std::unique_ptr<v1::SchedulerService::Stub> Scheduler() {
    return v1::SchedulerService::NewStub(
        grpc::CreateChannel(scheduler_->address(), grpc::InsecureChannelCredentials()));
  }

  static json Transaction(const HttpResponse& r) {
    std::string id = r.Header("x-openhim-transactionid");
    EXPECT_FALSE(id.empty());
    return ohim_->StoredTransaction(id);
  }

  static OpenImisStandin* openimis_;
  static OpenHimStandin* ohim_;
  static testing::InProcessServer* peers_;
  static testing::InProcessServer* scheduler_;
  static MediatorModule* mediator_;
};

OpenImisStandin* PushTest::openimis_ = nullptr;
OpenHimStandin* PushTest::ohim_ = nullptr;
testing::InProcessServer* PushTest::peers_ = nullptr;
testing::InProcessServer* PushTest::scheduler_ = nullptr;
MediatorModule* PushTest::mediator_ = nullptr;

TEST_F(PushTest, MixedBundleIsWrittenAndRefusalsAreListed) {
  json good1 = Facility("71001", "Mediator Test Dispensary", "Dispensary",
                        "Organization/owner-ministry-of-health");
  json good2 = Facility("71002", "Mediator Test Clinic", "Medical Clinic", "urn:uuid:6f2c1b8e-8d0a-4c1e-9d55-0b4c1e2a7a11");
  json invalid = Facility("71003", "Mediator Test Spaceport", "Spaceport",
                          "Organization/owner-ministry-of-health");
  json bundle = {
      {"resourceType", "Bundle"},
      {"type", "batch"},
      {"entry",
       {{{"fullUrl", "Organization/owner-ministry-of-health"},
         {"resource", Owner("owner-ministry-of-health", "Ministry of Health")}},
        {{"fullUrl", "urn:uuid:6f2c1b8e-8d0a-4c1e-9d55-0b4c1e2a7a11"},
         {"resource", Owner("owner-private-practice", "Private Practice")}},
        {{"resource", good1}},
        {{"resource", good2}},
        {{"resource", invalid}},
        {{"resource", good1}},
        {{"resource", {{"resourceType", "Patient"}, {"id", "p-1"}}}}}}};
  HttpResponse r = Push(bundle.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  absl::StatusOr<json> body = ParseJson(r.body);
  ASSERT_TRUE(body.ok()) << r.body;
  EXPECT_EQ((*body)["counts"]["created"], 2) << r.body;
  EXPECT_EQ((*body)["counts"]["rejected"], 3) << r.body;
  std::map<int, std::string> refused;
  for (const json& e : (*body)["rejected"]) refused[e["entry"]] = e["reasons"][0]["rule"];
  ASSERT_EQ(refused.size(), 3u) << r.body;
  EXPECT_EQ(refused[5], "push.entry.duplicate");
  EXPECT_EQ(refused[6], "push.entry.resource_type");
  EXPECT_TRUE(refused.count(4)) << r.body;  // the unknown facility type
  EXPECT_NE(r.body.find("Spaceport"), std::string::npos);
  // The record flow parked the refused facility, like a sync would.
  const json& spaceport = (*body)["rejected"][2];
  ASSERT_EQ(spaceport["entry"], 4) << r.body;
  EXPECT_EQ(spaceport["stage"], "map");
  ASSERT_TRUE(spaceport.contains("failure_id")) << r.body;
  {
    auto stub = Scheduler();
    grpc::ClientContext c;
    v1::GetFailureRequest req;
    req.set_failure_id(spaceport["failure_id"].get<int64_t>());
    v1::GetFailureResponse got;
    ASSERT_TRUE(stub->GetFailure(&c, req, &got).ok());
    EXPECT_EQ(got.failure().location_id(), "fac-71003");
    EXPECT_EQ(got.failure().stage(), v1::FAILURE_STAGE_MAP);
    EXPECT_NE(got.failure().raw_json().find("Spaceport"), std::string::npos);
  }
  // The push is a run in the history.
  {
    auto stub = Scheduler();
    grpc::ClientContext c;
    v1::GetRunRequest req;
    req.set_run_id((*body)["run"].get<std::string>());
    v1::GetRunResponse got;
    ASSERT_TRUE(stub->GetRun(&c, req, &got).ok()) << r.body;
    EXPECT_EQ(got.run().trigger(), v1::RUN_TRIGGER_PUSH);
    EXPECT_EQ(got.run().state(), v1::RUN_STATE_SUCCEEDED);
    EXPECT_EQ(got.run().counts().created(), 2);
    EXPECT_EQ(got.run().counts().rejected(), 1);
  }
  EXPECT_EQ(openimis_->CountCode("71001"), 1);
  EXPECT_EQ(openimis_->CountCode("71002"), 1);
  EXPECT_EQ(openimis_->CountCode("71003"), 0);

  json tx = Transaction(r);
  ASSERT_TRUE(tx.is_object());
  EXPECT_EQ(tx["status"], kStatusCompletedWithErrors);
  // One per openIMIS write, then openHIM's own for the route to the mediator.
  ASSERT_EQ(tx["orchestrations"].size(), 3u) << tx["orchestrations"].dump().substr(0, 2000);
  EXPECT_EQ(tx["orchestrations"][2]["name"], "mflsync mediator push");
  tx["orchestrations"].erase(2);
  for (const json& o : tx["orchestrations"]) {
    EXPECT_EQ(o["request"]["method"], "POST");
    EXPECT_NE(o["request"]["body"].get<std::string>().find("WRITE_ACTION_CREATE"),
              std::string::npos);
    EXPECT_EQ(o["response"]["status"].get<int>() / 100, 2) << o.dump();
    EXPECT_NE(o["response"]["body"].get<std::string>().find("WRITE_OUTCOME_CREATED"),
              std::string::npos);
  }
  EXPECT_EQ(tx["properties"]["created"], 2);

  // The same version pushed again on its own: openIMIS holds it already.
  json single = good1;
  single["contained"] = {Owner("own", "Ministry of Health")};
  single["managingOrganization"] = {{"reference", "#own"}};
  HttpResponse again = Push(single.dump());
  ASSERT_EQ(again.status, 200) << again.body;
  json tx2 = Transaction(again);
  EXPECT_EQ(tx2["status"], kStatusSuccessful) << again.body;
  ASSERT_EQ(tx2["orchestrations"].size(), 1u);  // no write: only openHIM's route call
  EXPECT_EQ(tx2["orchestrations"][0]["name"], "mflsync mediator push");
  EXPECT_EQ(Body(again)["counts"]["stale"], 1) << again.body;
  EXPECT_EQ(openimis_->CountCode("71001"), 1);
}

// Newest version wins across separate pushes: an older version pushed after
// a newer one is stale and never written, so openIMIS never goes back.
TEST_F(PushTest, AnOlderVersionPushedAfterANewerOneNeverRevertsOpenImis) {
  json v1 = Facility("71201", "Order Test Dispensary", "Dispensary", "#own");
  v1["contained"] = {Owner("own", "Ministry of Health")};
  json v2 = v1;
  v2["name"] = "Order Test Dispensary (renamed)";
  v2["meta"] = {{"versionId", "2"}, {"lastUpdated", "2024-03-09T08:00:00Z"}};
  HttpResponse newer = Push(v2.dump());
  ASSERT_EQ(newer.status, 200) << newer.body;
  EXPECT_EQ(Body(newer)["counts"]["created"], 1) << newer.body;

  HttpResponse older = Push(v1.dump());
  ASSERT_EQ(older.status, 200) << older.body;
  json answer = Body(older);
  EXPECT_EQ(answer["counts"]["stale"], 1) << older.body;
  EXPECT_EQ(answer["counts"]["updated"], 0) << older.body;
  EXPECT_EQ(Transaction(older)["status"], kStatusSuccessful);
  ASSERT_EQ(answer["results"].size(), 1u);
  EXPECT_EQ(answer["results"][0]["outcome"], "stale");
  EXPECT_NE(answer["results"][0]["message"].get<std::string>().find("superseded"),
            std::string::npos);
  EXPECT_EQ(openimis_->CountCode("71201"), 1);
  EXPECT_EQ(NameOf("71201"), "Order Test Dispensary (renamed)");

  // A yet newer version goes through.
  json v3 = v2;
  v3["name"] = "Order Test Dispensary (v3)";
  v3["meta"] = {{"versionId", "3"}, {"lastUpdated", "2024-03-10T08:00:00Z"}};
  HttpResponse newest = Push(v3.dump());
  EXPECT_EQ(Body(newest)["counts"]["updated"], 1) << newest.body;
  EXPECT_EQ(NameOf("71201"), "Order Test Dispensary (v3)");
}

// A write openIMIS fails (5xx) is parked as a transient failure with its id
// in the answer, and a retry of that entry writes it.
TEST_F(PushTest, AFailedWriteIsParkedAndItsRetryWritesIt) {
  openimis_->AddFaults({{"kind", "status"}, {"status", 503}, {"method", "POST"},
                        {"path", "/api/graphql"}, {"times", -1}});
  json l = Facility("71301", "Outage Dispensary", "Dispensary", "#own");
  l["contained"] = {Owner("own", "Ministry of Health")};
  HttpResponse r = Push(l.dump());
  ASSERT_TRUE(openimis_->Testbed("DELETE", "faults").ok());
  EXPECT_EQ(r.status, 503) << r.body;
  json answer = Body(r);
  EXPECT_EQ(answer["counts"]["failed"], 1) << r.body;
  EXPECT_EQ(Transaction(r)["status"], kStatusFailed);
  ASSERT_EQ(answer["results"].size(), 1u) << r.body;
  ASSERT_TRUE(answer["results"][0].contains("failure_id")) << r.body;
  const int64_t failure_id = answer["results"][0]["failure_id"];
  EXPECT_EQ(openimis_->CountCode("71301"), 0);

  auto stub = Scheduler();
  grpc::ClientContext c;
  v1::RetryFailuresRequest req;
  req.add_failure_ids(failure_id);
  req.set_stored(true);  // the pushed copy: this suite runs no fetcher to re-read the MFL
  v1::RetryFailuresResponse resp;
  ASSERT_TRUE(stub->RetryFailures(&c, req, &resp).ok());
  absl::Time deadline = absl::Now() + absl::Seconds(60);
  v1::Run run = resp.run();
  while (run.state() == v1::RUN_STATE_RUNNING && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(100));
    grpc::ClientContext gc;
    v1::GetRunRequest gr;
    gr.set_run_id(run.run_id());
    v1::GetRunResponse got;
    ASSERT_TRUE(stub->GetRun(&gc, gr, &got).ok());
    run = got.run();
  }
  EXPECT_EQ(run.state(), v1::RUN_STATE_SUCCEEDED) << run.error();
  EXPECT_EQ(run.counts().created(), 1);
  EXPECT_EQ(openimis_->CountCode("71301"), 1);
}

TEST_F(PushTest, NothingUsableIsFailed) {
  json bundle = {{"resourceType", "Bundle"},
                 {"type", "collection"},
                 {"entry", {{{"resource", {{"resourceType", "Patient"}, {"id", "p"}}}}}}};
  HttpResponse r = Push(bundle.dump());
  EXPECT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(Transaction(r)["status"], kStatusFailed);

  HttpResponse bad = Push("{\"resourceType\": \"Bundle\", ");
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("not JSON"), std::string::npos) << bad.body;
  json tx = Transaction(bad);
  EXPECT_EQ(tx["status"], kStatusFailed);
  EXPECT_NE(tx["error"]["message"].get<std::string>().find("not JSON"), std::string::npos);
}

TEST_F(PushTest, WrongClientCredentialsNeverReachTheMediator) {
  HttpResponse r = Push("{}", "not-the-password");
  EXPECT_EQ(r.status, 401);
  EXPECT_NE(r.Header("www-authenticate").find("Basic"), std::string::npos);
}

TEST_F(PushTest, ApiDownAtStartPushStillWorksAndRegistersWhenItReturns) {
  auto down = OpenHimStandin::Start();
  ASSERT_TRUE(down.ok()) << down.status();
  auto fault = (*down)->Api("POST", "/$testbed/faults",
                            {{"kind", "api_down"}, {"requests", 1000000}});
  ASSERT_TRUE(fault.ok());
  ASSERT_EQ(fault->status / 100, 2);
  auto config = testing::LoadConfig(
      MediatorSpec(), {{"MFLSYNC_OPENHIM__API_URL", (*down)->api_url()},
                       {"MFLSYNC_OPENHIM__USERNAME", testing::kAdminUser},
                       {"MFLSYNC_OPENHIM__PASSWORD", testing::kAdminPassword},
                       {"MFLSYNC_OPENHIM__MAX_BACKOFF", "1s"},
                       {"MFLSYNC_HTTP__MAX_BODY_BYTES", "4096"},
                       {"MFLSYNC_HTTP_LISTEN", "127.0.0.1:0"},
                       {"MFLSYNC_HTTP__ALLOW_UNAUTHENTICATED", "true"},
                       {"MFLSYNC_SYNC__SOURCE", "mfl"},
                       {"MFLSYNC_SCHEDULER_ADDRESS", scheduler_->address()}});
  ASSERT_TRUE(config.ok()) << config.status();
  auto module = CreateMediatorModule(*config);
  ASSERT_TRUE(module.ok()) << module.status();
  ASSERT_TRUE((*module)->Start().ok());
  // Push straight to the mediator's listener while openHIM's API is down.
  HttpClient http{HttpClientOptions{}};
  HttpRequest request;
  request.method = "POST";
  request.url = absl::StrCat("http://127.0.0.1:", (*module)->http_port(), "/push");
  request.headers = {{"Content-Type", "application/fhir+json"}};
  json facility = Facility("71101", "Mediator Outage Dispensary", "Dispensary", "#own");
  facility["contained"] = {Owner("own", "Ministry of Health")};
  request.body = facility.dump();
  auto r = http.Send(request);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->Header("content-type"), "application/json+openhim");
  absl::StatusOr<json> answer = ParseJson(r->body);
  ASSERT_TRUE(answer.ok());
  EXPECT_EQ((*answer)["status"], kStatusSuccessful) << r->body;
  EXPECT_EQ(openimis_->CountCode("71101"), 1);
  // The body size limit answers in the mediator format too.
  request.body = std::string(5000, ' ');
  auto big = http.Send(request);
  ASSERT_TRUE(big.ok()) << big.status();
  EXPECT_EQ(big->status, 413);
  EXPECT_EQ(big->Header("content-type"), "application/json+openhim");
  EXPECT_NE(big->body.find("http.max_body_bytes"), std::string::npos) << big->body;
  // Unknown paths are a clear 404.
  request.url = absl::StrCat("http://127.0.0.1:", (*module)->http_port(), "/nothing");
  request.body = "{}";
  auto missing = http.Send(request);
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->status, 404);
  EXPECT_NE(missing->body.find("POST /push"), std::string::npos);
  auto m = (*down)->Api("GET", absl::StrCat("/mediators/", kUrn));
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->status, 503);  // still down: nothing registered yet
  // openHIM comes back: the mediator registers by itself.
  ASSERT_EQ((*down)->Api("DELETE", "/$testbed/faults")->status / 100, 2);
  EXPECT_TRUE((*module)->WaitUntilRegistered(absl::Seconds(30)));
  EXPECT_EQ((*down)->ApiJson("GET", absl::StrCat("/mediators/", kUrn))["urn"], kUrn);
  (*module)->Stop();
}

TEST_F(PushTest, ConsoleSettingTakesEffectWithoutRestart) {
  json config = SettingsToConfig(Settings{});
  config["push_max_entries"] = 1;
  auto put = ohim_->Api("PUT", absl::StrCat("/mediators/", kUrn, "/config"), config);
  ASSERT_TRUE(put.ok());
  ASSERT_EQ(put->status, 200) << put->body;
  ASSERT_TRUE(mediator_->WaitForSettings(
      [](const Settings& s) { return s.push_max_entries == 1; }, absl::Seconds(30)));
  json bundle = {{"resourceType", "Bundle"},
                 {"type", "collection"},
                 {"entry", {{{"resource", Owner("o1", "Ministry of Health")}},
                            {{"resource", Owner("o2", "Private Practice")}}}}};
  HttpResponse r = Push(bundle.dump());
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("push accepts at most 1"), std::string::npos) << r.body;
  EXPECT_EQ(Transaction(r)["status"], kStatusFailed);
  config["push_max_entries"] = 1000;
  ASSERT_EQ(ohim_->Api("PUT", absl::StrCat("/mediators/", kUrn, "/config"), config)->status,
            200);
  ASSERT_TRUE(mediator_->WaitForSettings(
      [](const Settings& s) { return s.push_max_entries == 1000; }, absl::Seconds(30)));
  EXPECT_EQ(Push(bundle.dump()).status, 200);
}

TEST_F(PushTest, StatusRpcReportsTheRegistrationAndSettings) {
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  for (grpc::Service* service : mediator_->GrpcServices()) builder.RegisterService(service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  auto stub = v1::MediatorService::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  v1::GetMediatorStatusResponse status;
  grpc::Status st = stub->GetMediatorStatus(&context, {}, &status);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(status.urn(), kUrn);
  EXPECT_EQ(status.version(), MediatorVersion());
  EXPECT_TRUE(status.registered());
  EXPECT_EQ(status.api_url(), ohim_->api_url());
  absl::StatusOr<json> settings = ParseJson(status.settings_json());
  ASSERT_TRUE(settings.ok());
  EXPECT_EQ((*settings)["push_max_entries"], 1000);
  server->Shutdown();
}

TEST(PushPeersDownTest, SchedulerDownIsFailedWithTheCause) {
  GrpcPeersOptions options;
  options.scheduler_address = "127.0.0.1:1";
  options.rpc_timeout = absl::Seconds(5);
  std::unique_ptr<SuitePeers> peers = MakeGrpcPeers(options);
  PushProcessor push(kUrn, peers.get());
  json l = Facility("71009", "Down Dispensary", "Dispensary", "");
  json answer = push.Process(l.dump(), Settings{}, "tx-1");
  EXPECT_EQ(answer["status"], kStatusFailed);
  EXPECT_EQ(answer["response"]["status"], 503);
  const std::string message = answer["error"]["message"];
  EXPECT_NE(message.find("scheduler at 127.0.0.1:1: PushRecords"), std::string::npos) << message;
  EXPECT_NE(message.find("pushing the same payload again is safe"), std::string::npos)
      << message;
  Settings off;
  off.push_enabled = false;
  json disabled = push.Process(l.dump(), off, "tx-2");
  EXPECT_EQ(disabled["status"], kStatusFailed);
  EXPECT_NE(disabled["error"]["message"].get<std::string>().find("push_enabled"),
            std::string::npos);
}

}  // namespace
}  // namespace mflsync::mediator
