// The mediator against the real openHIM core v8.5.0 (testbed/openhim-real,
// started by a ctest fixture; skipped with the fixture's reason when
// ../shared/peers is absent).
//
// RealOpenHimRegistration: registration (first, upgraded, lower version
// ignored), default channels installed once, a console change applied live
// at the next heartbeat, a forgotten mediator registering again without
// losing the console's edits, a secret never emptied by openHIM.
//
// RealOpenHimFlow: the suite's traffic through real channels: a sync run
// triggered through openHIM fetches the MFL through the MFL channel and
// writes to openIMIS (stand-in) through the openIMIS channel, every call in
// openHIM's transaction log; push through the push channel; a refused run
// start is not queued for auto-retry; 100 runs under concurrent triggers,
// none left Processing.
#include <atomic>
#include <chrono>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/fhir.h"
#include "common/http_client.h"
#include "common/read_file.h"
#include "common/url.h"
#include "fetcher/fetcher_module.h"
#include "mapper/mapper_module.h"
#include "mediator/live_settings.h"
#include "mediator/mediator_module.h"
#include "mediator/push_processor.h"
#include "mediator/registrar.h"
#include "mediator/registration.h"
#include "mediator/trusted_ca.h"
#include "mflsync/v1/writer.grpc.pb.h"
#include "scheduler/scheduler_module.h"
#include "tests/fetcher/mfl_standin.h"
#include "tests/mediator/real_openhim.h"
#include "tests/mediator/suite_fixture.h"
#include "tests/writer/standin_process.h"
#include "writer/writer_module.h"

namespace mflsync::mediator {
namespace {

using nlohmann::json;
using testing::RealOpenHim;

constexpr char kEnv[] = "MFLSYNC_OPENHIM_REAL_ENV";

RegistrarOptions Fast() {
  RegistrarOptions o;
  o.heartbeat_interval = absl::Milliseconds(500);
  o.initial_backoff = absl::Milliseconds(200);
  o.max_backoff = absl::Seconds(1);
  return o;
}

MediatorIdentity Identity(const std::string& urn) {
  MediatorIdentity id;
  id.urn = urn;
  id.host = "127.0.0.1";
  id.port = 9;  // these tests never route to the mediator
  return id;
}

std::string MediatorPath(const std::string& urn, const std::string& tail = "") {
  return absl::StrCat("/mediators/", PercentEncode(urn), tail);
}

// The real openHIM of the fixture, or a skip.
class RealOpenHimTest : public ::testing::Test {
 protected:
  static void LoadServer(const std::string& fixture) {
    if (real_ != nullptr || skip_reason_ != nullptr) return;
    absl::StatusOr<RealOpenHim> real = RealOpenHim::FromEnv(kEnv, fixture);
    if (real.ok()) {
      real_ = new RealOpenHim(*real);
    } else {
      skip_reason_ = new std::string(real.status().message());
    }
  }
  json Stored(const std::string& urn) {
    absl::StatusOr<json> m = real_->ApiJson("GET", MediatorPath(urn));
    EXPECT_TRUE(m.ok()) << m.status();
    return m.ok() ? *m : json();
  }
  OpenHimApi MediatorApi() const { return OpenHimApi(real_->ApiOptions()); }

  inline static RealOpenHim* real_ = nullptr;
  inline static std::string* skip_reason_ = nullptr;
};

class RealOpenHimRegistration : public RealOpenHimTest {
 protected:
  void SetUp() override {
    LoadServer("openhim_real_registration_start");
    if (real_ == nullptr) GTEST_SKIP() << *skip_reason_;
  }
};

TEST_F(RealOpenHimRegistration, FirstUpgradedAndLowerVersions) {
  const std::string urn = "urn:mediator:mflsync-test-versions";
  Settings first;
  first.push_max_entries = 111;
  LiveSettings live(first, nullptr);
  RegistrarOptions no_channels = Fast();
  no_channels.install_channels = false;
  Registrar v1(MediatorApi(), BuildRegistration(Identity(urn), first, "0.1.1"), &live,
               no_channels);
  ASSERT_TRUE(v1.RegisterOnce().ok());
  json stored = Stored(urn);
  EXPECT_EQ(stored["version"], "0.1.1");
  EXPECT_EQ(stored["config"]["push_max_entries"], 111);
  EXPECT_EQ(stored["configDefs"].size(), SettingsConfigDefs().size());

  // An administrator edits a setting in the console.
  json edited = SettingsToConfig(first);
  edited["push_max_entries"] = 222;
  absl::StatusOr<HttpResponse> put = real_->Api("PUT", MediatorPath(urn, "/config"), edited);
  ASSERT_TRUE(put.ok());
  ASSERT_EQ(put->status, 200) << put->body;

  // An upgrade: openHIM takes the new registration but keeps its stored values.
  MediatorIdentity upgraded = Identity(urn);
  upgraded.description = "upgraded";
  Registrar v2(MediatorApi(), BuildRegistration(upgraded, first, "0.1.2"), &live, no_channels);
  ASSERT_TRUE(v2.RegisterOnce().ok());
  stored = Stored(urn);
  EXPECT_EQ(stored["version"], "0.1.2");
  EXPECT_EQ(stored["description"], "upgraded");
  EXPECT_EQ(stored["config"]["push_max_entries"], 222) << "the console's edit was reverted";

  // A lower version is ignored altogether (openHIM still answers 201).
  MediatorIdentity older = Identity(urn);
  older.description = "older";
  Registrar v0(MediatorApi(), BuildRegistration(older, first, "0.1.0"), &live, no_channels);
  ASSERT_TRUE(v0.RegisterOnce().ok());
  stored = Stored(urn);
  EXPECT_EQ(stored["version"], "0.1.2");
  EXPECT_EQ(stored["description"], "upgraded");

  // The mediator then takes openHIM's value at its first heartbeat.
  ASSERT_TRUE(v2.HeartbeatOnce(/*request_config=*/true).ok());
  EXPECT_EQ(live.Get().push_max_entries, 222);
}

TEST_F(RealOpenHimRegistration, DefaultChannelsAreInstalledOnce) {
  const std::string urn = "urn:mediator:mflsync-test-channels";
  MediatorIdentity id = Identity(urn);
  id.mfl_url = "http://127.0.0.1:9/fhir";
  id.openimis_url = "http://127.0.0.1:9/api";
  LiveSettings live(Settings{}, nullptr);
  Registrar a(MediatorApi(), BuildRegistration(id, Settings{}, "0.1.1"), &live, Fast());
  ASSERT_TRUE(a.RegisterOnce().ok());
  ASSERT_TRUE(a.RegisterOnce().ok());
  Registrar b(MediatorApi(), BuildRegistration(id, Settings{}, "0.1.1"), &live, Fast());
  ASSERT_TRUE(b.RegisterOnce().ok());
  absl::StatusOr<json> channels = real_->ApiJson("GET", "/channels");
  ASSERT_TRUE(channels.ok()) << channels.status();
  std::map<std::string, int> count;
  for (const json& c : *channels) {
    count[c.value("name", "")]++;
    if (absl::StartsWith(c.value("name", ""), "mflsync")) {
      // openHIM 8.5.0 routes nothing on a channel without methods.
      EXPECT_FALSE(c.value("methods", json::array()).empty()) << c.dump();
    }
  }
  for (const json& c : DefaultChannels(id, Settings{}))
    EXPECT_EQ(count[c["name"].get<std::string>()], 1) << c["name"];
}

TEST_F(RealOpenHimRegistration, ConsoleChangeIsAppliedLiveAtTheNextHeartbeat) {
  const std::string urn = "urn:mediator:mflsync-test-live";
  LiveSettings live(Settings{}, nullptr);
  RegistrarOptions options = Fast();
  options.install_channels = false;
  Registrar registrar(MediatorApi(), BuildRegistration(Identity(urn), Settings{}, "0.1.1"),
                      &live, options);
  registrar.Start();
  ASSERT_TRUE(registrar.WaitFor([](const RegistrarState& s) { return s.heartbeats >= 1; },
                                absl::Seconds(30)))
      << registrar.State().last_error;
  json edited = SettingsToConfig(Settings{});
  edited["push_max_entries"] = 42;
  edited["log_level"] = "debug";
  absl::StatusOr<HttpResponse> put = real_->Api("PUT", MediatorPath(urn, "/config"), edited);
  ASSERT_TRUE(put.ok());
  ASSERT_EQ(put->status, 200) << put->body;
  EXPECT_TRUE(registrar.WaitFor(
      [&](const RegistrarState&) { return live.Get().push_max_entries == 42; },
      absl::Seconds(15)));
  EXPECT_EQ(live.Get().log_level, "debug");
  registrar.Stop();
}

TEST_F(RealOpenHimRegistration, ForgottenMediatorRegistersAgainWithTheConsoleEdits) {
  const std::string urn = "urn:mediator:mflsync-test-forgotten";
  LiveSettings live(Settings{}, nullptr);
  RegistrarOptions options = Fast();
  options.install_channels = false;
  Registrar registrar(MediatorApi(), BuildRegistration(Identity(urn), Settings{}, "0.1.1"),
                      &live, options);
  registrar.Start();
  ASSERT_TRUE(registrar.WaitFor([](const RegistrarState& s) { return s.heartbeats >= 1; },
                                absl::Seconds(30)));
  json edited = SettingsToConfig(Settings{});
  edited["sync_source"] = "edited-in-console";
  ASSERT_EQ(real_->Api("PUT", MediatorPath(urn, "/config"), edited)->status, 200);
  ASSERT_TRUE(registrar.WaitFor(
      [&](const RegistrarState&) { return live.Get().sync_source == "edited-in-console"; },
      absl::Seconds(15)));

  // openHIM forgets the mediator (deleted in the console, or a new database).
  absl::StatusOr<HttpResponse> removed = real_->Api("DELETE", MediatorPath(urn));
  ASSERT_TRUE(removed.ok());
  ASSERT_EQ(removed->status, 200) << removed->body;
  ASSERT_TRUE(registrar.WaitFor(
      [](const RegistrarState& s) { return s.registrations >= 2 && s.registered; },
      absl::Seconds(30)))
      << registrar.State().last_error;
  registrar.Stop();
  json stored = Stored(urn);
  EXPECT_EQ(stored["config"]["sync_source"], "edited-in-console") << stored.dump();
  EXPECT_EQ(live.Get().sync_source, "edited-in-console");
}

TEST_F(RealOpenHimRegistration, AnEmptySecretInOpenHimNeverEmptiesTheConfiguredOne) {
  const std::string urn = "urn:mediator:mflsync-test-secret";
  RegistrarOptions options = Fast();
  options.install_channels = false;
  // An earlier deployment registered without a password.
  LiveSettings earlier(Settings{}, nullptr);
  Registrar old(MediatorApi(), BuildRegistration(Identity(urn), Settings{}, "0.1.1"),
                &earlier, options);
  ASSERT_TRUE(old.RegisterOnce().ok());
  EXPECT_EQ(Stored(urn)["config"]["endpoint_password"], "");

  // Now the mediator is configured with one; openHIM keeps its stored "".
  Settings configured;
  configured.endpoint_password = "configured-secret-31";
  LiveSettings live(configured, nullptr);
  Registrar now(MediatorApi(), BuildRegistration(Identity(urn), configured, "0.1.2"), &live,
                options);
  ASSERT_TRUE(now.RegisterOnce().ok());
  ASSERT_TRUE(now.HeartbeatOnce(/*request_config=*/true).ok()) << now.State().last_error;
  EXPECT_EQ(live.Get().endpoint_password, "configured-secret-31");

  // A password set in the console does replace it.
  json edited = SettingsToConfig(Settings{});
  edited["endpoint_password"] = "console-secret-47";
  ASSERT_EQ(real_->Api("PUT", MediatorPath(urn, "/config"), edited)->status, 200);
  ASSERT_TRUE(now.HeartbeatOnce(/*request_config=*/false).ok());
  EXPECT_EQ(live.Get().endpoint_password, "console-secret-47");
}

// ---------------------------------------------------------------- the flow

// The suite wired through the real openHIM: MFL and openIMIS stand-ins as
// the upstreams, the real fetcher, mapper, writer, scheduler and mediator.
struct Suite {
  mflsync::testing::MflStandIn mfl;
  std::unique_ptr<writer::testing::OpenImisStandin> openimis;
  std::unique_ptr<testing::InProcessServer> peers;
  std::unique_ptr<testing::InProcessServer> scheduler;
  std::unique_ptr<MediatorModule> mediator;
  std::string mfl_base;
  std::string dir;
};

class RealOpenHimFlow : public RealOpenHimTest {
 protected:
  static void SetUpTestSuite() {
    LoadServer("openhim_real_flow_start");
    if (real_ == nullptr) return;
    suite_ = new Suite();
    absl::Status started = StartSuite(*suite_);
    if (!started.ok()) setup_error_ = new std::string(started.message());
  }
  static void TearDownTestSuite() {
    if (suite_ != nullptr && suite_->mediator != nullptr) suite_->mediator->Stop();
    delete suite_;
    suite_ = nullptr;
  }
  void SetUp() override {
    if (real_ == nullptr) GTEST_SKIP() << *skip_reason_;
    ASSERT_EQ(setup_error_, nullptr) << *setup_error_;
    ASSERT_NE(suite_->mediator, nullptr) << "an earlier test could not restart the mediator";
  }

  static absl::Status StartSuite(Suite& s);
  // http_port 0: any free port (the channels installed name the first one).
  static absl::StatusOr<std::unique_ptr<MediatorModule>> StartMediator(const Suite& s,
                                                                       int http_port = 0);
  static absl::Status RouteChannels(Suite& s);
  static absl::Status LoadWriterIndex(Suite& s);

  // POST /mflsync/sync as the operator client; the transaction id.
  std::string TriggerSync() {
    absl::StatusOr<HttpResponse> r =
        real_->Router("POST", "/mflsync/sync", "", real_->writer_id, real_->writer_password);
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return "";
    EXPECT_EQ(r->status, 202) << r->body;
    return r->Header("x-openhim-transactionid");
  }
  json Transaction(const std::string& id) {
    absl::StatusOr<json> tx = real_->ApiJson("GET", "/transactions/" + id);
    EXPECT_TRUE(tx.ok()) << tx.status();
    return tx.ok() ? *tx : json();
  }
  std::string ChannelId(const std::string& name) {
    absl::StatusOr<json> c = real_->Channel(name);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? (*c)["_id"].get<std::string>() : "";
  }

  inline static Suite* suite_ = nullptr;
  inline static std::string* setup_error_ = nullptr;
};

absl::Status RealOpenHimFlow::StartSuite(Suite& s) {
  using writer::testing::SourceDir;
  if (absl::Status m = s.mfl.Start({"--host", "127.0.0.1", "--base-path", "/fhir",
                                    "--synthetic", "25"});
      !m.ok())
    return m;
  s.mfl_base = absl::StrCat("http://127.0.0.1:", s.mfl.port(), "/fhir");
  auto openimis = writer::testing::OpenImisStandin::Start(
      {"--areas", SourceDir() + "/mapper/mappings/synthetic-openimis-areas.json", "--fast"});
  if (!openimis.ok()) return openimis.status();
  s.openimis = std::move(*openimis);
  absl::StatusOr<std::string> dir = mflsync::testing::MakeTempDir("mflsync-real-openhim");
  if (!dir.ok()) return dir.status();
  s.dir = *dir;
  // The mediator's HTTPS listener: openHIM trusts this CA once the mediator
  // has registered it, and verifies the certificate on every route.
  if (absl::Status pki = testing::MakePki(s.dir + "/pki"); !pki.ok()) return pki;

  std::vector<std::unique_ptr<ServiceModule>> modules;
  modules.push_back(testing::CreateModule(fetcher::FetcherSpec(),
                           {{"MFLSYNC_SOURCES__MFL__BASE_URL", real_->router_url + "/mfl/fhir"},
                            {"MFLSYNC_SOURCES__MFL__UPSTREAM_BASE_URL", s.mfl_base},
                            {"MFLSYNC_SOURCES__MFL__AUTH__TYPE", "basic"},
                            {"MFLSYNC_SOURCES__MFL__AUTH__USERNAME", real_->fetcher_id},
                            {"MFLSYNC_SOURCES__MFL__AUTH__PASSWORD", real_->fetcher_password}}));
  modules.push_back(testing::CreateModule(mapper::MapperSpec(),
                           {{"MFLSYNC_MAPPING_FILE",
                             SourceDir() + "/mapper/mappings/synthetic.json"}}));
  modules.push_back(testing::CreateModule(writer::WriterSpec(),
                           {{"MFLSYNC_OPENIMIS__BASE_URL", s.openimis->api_root()},
                            {"MFLSYNC_OPENHIM__BASE_URL", real_->router_url + "/openimis/api"},
                            {"MFLSYNC_OPENIMIS__USERNAME", "Admin"},
                            {"MFLSYNC_OPENIMIS__PASSWORD", "admin123"},
                           {"MFLSYNC_INDEX__PATH", ""}}));
  for (auto& m : modules)
    if (m == nullptr) return absl::InternalError("a peer module did not configure");
  auto peers = testing::InProcessServer::Start(std::move(modules));
  if (!peers.ok()) return peers.status();
  s.peers = std::move(*peers);
  std::vector<std::unique_ptr<ServiceModule>> scheduler;
  scheduler.push_back(testing::CreateModule(scheduler::SchedulerSpec(),
                             {{"MFLSYNC_STATE_DB", s.dir + "/scheduler.db"},
                              {"MFLSYNC_FETCHER_ADDRESS", s.peers->address()},
                              {"MFLSYNC_MAPPER_ADDRESS", s.peers->address()},
                              {"MFLSYNC_WRITER_ADDRESS", s.peers->address()},
                              {"MFLSYNC_SOURCES__MFL__SCHEDULE", "off"}}));
  if (scheduler[0] == nullptr) return absl::InternalError("the scheduler did not configure");
  auto sched = testing::InProcessServer::Start(std::move(scheduler));
  if (!sched.ok()) return sched.status();
  s.scheduler = std::move(*sched);

  absl::StatusOr<std::unique_ptr<MediatorModule>> mediator = StartMediator(s);
  if (!mediator.ok()) return mediator.status();
  s.mediator = std::move(*mediator);
  return RouteChannels(s);
}

// A mediator for the suite, started and registered.
absl::StatusOr<std::unique_ptr<MediatorModule>> RealOpenHimFlow::StartMediator(const Suite& s,
                                                                             int http_port) {
  auto config = testing::LoadConfig(
      MediatorSpec(), {{"MFLSYNC_OPENHIM__API_URL", real_->api_url},
                       {"MFLSYNC_OPENHIM__USERNAME", real_->mediator_user},
                       {"MFLSYNC_OPENHIM__PASSWORD", real_->mediator_password},
                       {"MFLSYNC_OPENHIM__TLS__CA_FILE", real_->api_ca},
                       {"MFLSYNC_OPENHIM__HEARTBEAT_INTERVAL", "1s"},
                       {"MFLSYNC_HTTP_LISTEN", absl::StrCat("127.0.0.1:", http_port)},
                       {"MFLSYNC_HTTP__TLS__CERT_FILE", s.dir + "/pki/mediator.pem"},
                       {"MFLSYNC_HTTP__TLS__KEY_FILE", s.dir + "/pki/mediator-key.pem"},
                       {"MFLSYNC_HTTP__TLS__CA_FILE", s.dir + "/pki/ca.pem"},
                       // openHIM's routes to /push and /sync carry it (registration.cc)
                       {"MFLSYNC_ENDPOINT_PASSWORD", "real-openhim-endpoint-secret"},
                       {"MFLSYNC_SYNC__SOURCE", "mfl"},
                       {"MFLSYNC_CHANNELS__MFL_URL", s.mfl_base},
                       {"MFLSYNC_CHANNELS__OPENIMIS_URL", s.openimis->api_root()},
                       {"MFLSYNC_SCHEDULER_ADDRESS", s.scheduler->address()}});
  if (!config.ok()) return config.status();
  auto mediator = CreateMediatorModule(*config);
  if (!mediator.ok()) return mediator.status();
  if (absl::Status st = (*mediator)->Start(); !st.ok()) return st;
  if (!(*mediator)->WaitUntilRegistered(absl::Seconds(60)))
    return absl::DeadlineExceededError("the mediator did not register with the real openHIM");
  return mediator;
}

// Deployment choices the default channels leave to the administrator: the
// writer's Bearer token for openIMIS takes the Authorization header, so the
// openIMIS channel admits the writer by address (public, whitelist
// 127.0.0.1) instead of by client credentials; the operator client gets the
// roles of the sync and push channels.
absl::Status RealOpenHimFlow::RouteChannels(Suite& s) {
  if (absl::Status st = real_->AddClientRoles(real_->writer_id, {"mflsync-admin", "mfl"});
      !st.ok())
    return st;
  if (absl::Status st = real_->UpdateChannel(
          "mflsync openIMIS", {{"authType", "public"}, {"whitelist", {"127.0.0.1"}}});
      !st.ok())
    return st;
  return LoadWriterIndex(s);
}

// The writer's first index load ran before the channel admitted it; load
// it now through the channel rather than wait for its retry.
absl::Status RealOpenHimFlow::LoadWriterIndex(Suite& s) {
  auto channel = grpc::CreateChannel(s.peers->address(), grpc::InsecureChannelCredentials());
  auto stub = v1::WriterService::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  v1::RefreshIndexResponse response;
  grpc::Status st = stub->RefreshIndex(&context, v1::RefreshIndexRequest(), &response);
  if (!st.ok())
    return absl::UnavailableError(absl::StrCat("RefreshIndex: ", st.error_message()));
  return absl::OkStatus();
}

TEST_F(RealOpenHimFlow, SyncRunThroughTheChannelsIsLoggedEndToEnd) {
  const std::string tx_id = TriggerSync();
  ASSERT_FALSE(tx_id.empty());
  suite_->mediator->WaitForSyncWatchers();
  json tx = Transaction(tx_id);
  EXPECT_EQ(tx["status"], kStatusSuccessful) << tx.dump();
  EXPECT_FALSE(tx.value("autoRetry", true));
  EXPECT_EQ(tx["properties"]["created"], 25) << tx["properties"].dump();
  EXPECT_FALSE(tx["properties"].value("run_id", "").empty());
  EXPECT_EQ(tx["properties"]["source_id"], "mfl") << "the first answer's property was lost";
  std::set<std::string> names;
  for (const json& o : tx["orchestrations"]) {
    names.insert(o.value("name", ""));
    if (absl::StartsWith(o.value("name", ""), "mflsync ") &&
        o["name"] != "mflsync refused records") {
      EXPECT_LE(o["request"]["timestamp"].get<std::string>(),
                o["response"]["timestamp"].get<std::string>()) << o.dump();
    }
  }
  EXPECT_TRUE(names.count("mflsync mediator sync")) << "openHIM's route orchestration was lost";
  EXPECT_TRUE(names.count("mflsync fetch")) << tx["orchestrations"].dump();
  EXPECT_TRUE(names.count("mflsync write")) << tx["orchestrations"].dump();
  EXPECT_EQ(suite_->openimis->Facilities().value("count", -1), 25)
      << suite_->openimis->Facilities().dump().substr(0, 500);

  // The fetch went through the MFL channel, the writes through openIMIS's.
  absl::StatusOr<json> fetches = real_->Transactions(ChannelId("mflsync MFL"), 50);
  ASSERT_TRUE(fetches.ok()) << fetches.status();
  ASSERT_FALSE(fetches->empty());
  const json& page = fetches->back();  // oldest: this run's first page
  EXPECT_EQ(page["request"]["path"].get<std::string>().rfind("/mfl/fhir/Location", 0), 0u)
      << page["request"].dump();
  EXPECT_EQ(page["response"]["status"], 200);
  EXPECT_NE(page["response"]["body"].get<std::string>().find("\"Bundle\""), std::string::npos);
  absl::StatusOr<json> writes = real_->Transactions(ChannelId("mflsync openIMIS"), 200);
  ASSERT_TRUE(writes.ok()) << writes.status();
  EXPECT_GE(writes->size(), 25u);
  for (const json& w : *writes) EXPECT_EQ(w["response"]["status"], 200) << w["request"].dump();
}

// A mediator stopped before it completed a sync transaction leaves it
// Processing in openHIM; the next mediator finds it there (the run id is in
// its properties) and completes it with the run's final state.
TEST_F(RealOpenHimFlow, ARestartedMediatorCompletesTheTransactionLeftProcessing) {
  const std::string tx_id = TriggerSync();
  ASSERT_FALSE(tx_id.empty());
  const int port = suite_->mediator->http_port();  // where openHIM's routes point
  suite_->mediator->Stop();  // while the run goes on
  suite_->mediator.reset();
  json left;
  for (int i = 0; i < 100; ++i) {  // openHIM stores the answer (and its properties) later
    left = Transaction(tx_id);
    if (left.contains("response") && left["properties"].is_object()) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  ASSERT_TRUE(left["properties"].is_object()) << left.dump().substr(0, 2000);
  ASSERT_EQ(left["status"], kStatusProcessing)
      << "the stopped mediator completed it: nothing left to resume";
  const std::string run_id = left["properties"].value("run_id", "");
  ASSERT_FALSE(run_id.empty()) << left["properties"].dump();

  absl::StatusOr<std::unique_ptr<MediatorModule>> next = StartMediator(*suite_, port);
  ASSERT_TRUE(next.ok()) << next.status();
  suite_->mediator = std::move(*next);
  json done;
  for (int i = 0; i < 150; ++i) {  // the resume starts once registered: up to 30 s
    done = Transaction(tx_id);
    if (done["status"] != kStatusProcessing) break;
    absl::SleepFor(absl::Milliseconds(200));
  }
  EXPECT_EQ(done["status"], kStatusSuccessful) << done.dump().substr(0, 2000);
  EXPECT_EQ(done["properties"].value("run_id", ""), run_id);
  std::set<std::string> names;
  for (const json& o : done["orchestrations"]) names.insert(o.value("name", ""));
  EXPECT_TRUE(names.count("mflsync fetch")) << done["orchestrations"].dump();
  EXPECT_TRUE(names.count("mflsync mediator sync")) << "openHIM's route orchestration was lost";
}

TEST_F(RealOpenHimFlow, PushThroughTheChannelWritesAndRejectsWithReasons) {
  HttpClient http{HttpClientOptions{}};
  auto page = http.Send(
      {.method = "GET", .url = suite_->mfl_base + "/Location?_count=10&_lastUpdated=ge2014-01-02" +
                                 "&_include=Location:organization"});
  ASSERT_TRUE(page.ok() && page->status == 200);
  absl::StatusOr<json> bundle = ParseJson(page->body);
  ASSERT_TRUE(bundle.ok());
  json pushed = {{"resourceType", "Bundle"}, {"type", "collection"}, {"entry", json::array()}};
  int n = 0;
  for (const json& e : (*bundle)["entry"]) {
    if (e["resource"]["resourceType"] == "Organization") pushed["entry"].push_back(e);
  }
  for (const json& e : (*bundle)["entry"]) {
    // Facilities (the synthetic MFL dates its areas 2014-01-01).
    if (e["resource"]["resourceType"] != "Location" || n == 2 ||
        e["resource"].value("identifier", json::array()).empty())
      continue;
    json location = e["resource"];
    location["id"] = absl::StrCat("push-", ++n);
    location["identifier"][0]["value"] = absl::StrCat("8800", n);
    location["name"] = absl::StrCat("Pushed Clinic ", n);
    pushed["entry"].push_back({{"resource", location}});
  }
  ASSERT_EQ(n, 2);
  json bad = pushed["entry"].back()["resource"];  // a Location
  bad["id"] = "push-bad";
  bad["identifier"][0]["value"] = "88009";
  bad["type"] = {{{"coding", {{{"system", "https://kmhfl.health.go.ke/facility-type"},
                               {"code", "Spaceport"}}}}}};
  pushed["entry"].push_back({{"resource", bad}});

  absl::StatusOr<HttpResponse> r =
      real_->Router("POST", "/mflsync/push", pushed.dump(), real_->writer_id,
                    real_->writer_password, "application/fhir+json");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->status, 200) << r->body;
  const std::string tx_id = r->Header("x-openhim-transactionid");
  json tx;
  for (int i = 0; i < 50; ++i) {  // openHIM stores the answer after replying
    tx = Transaction(tx_id);
    if (tx.value("status", "") != kStatusProcessing) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_EQ(tx["status"], kStatusCompletedWithErrors) << tx.dump();
  int writes = 0;
  for (const json& o : tx["orchestrations"])
    if (o.value("name", "") != "mflsync mediator push") ++writes;
  EXPECT_EQ(writes, 2) << tx["orchestrations"].dump();
  const std::string body = tx["response"]["body"];
  EXPECT_NE(body.find("push-bad"), std::string::npos) << body;
  EXPECT_NE(body.find("Spaceport"), std::string::npos) << body;
  EXPECT_EQ(suite_->openimis->CountCode("88001"), 1);
  EXPECT_EQ(suite_->openimis->CountCode("88009"), 0);
}

// The routes to the mediator are HTTPS, verified against the CA the
// mediator added to openHIM's keystore; a mediator restarted on another
// port moves them (PUT /channels/{id}) and adds no second CA.
TEST_F(RealOpenHimFlow, SecuredRoutesVerifyTheMediatorAndFollowItToANewPort) {
  absl::StatusOr<std::string> ca = ReadTextFile(suite_->dir + "/pki/ca.pem");
  ASSERT_TRUE(ca.ok());
  absl::StatusOr<std::string> fingerprint = CertificateFingerprint(*ca);
  ASSERT_TRUE(fingerprint.ok());
  auto trusted_ids = [&] {
    std::vector<std::string> ids;
    absl::StatusOr<json> cas = real_->ApiJson("GET", "/keystore/ca");
    EXPECT_TRUE(cas.ok()) << cas.status();
    for (const json& c : cas.ok() ? *cas : json::array())
      if (c.value("fingerprint", "") == *fingerprint) ids.push_back(c["_id"]);
    return ids;
  };
  std::vector<std::string> ids = trusted_ids();
  ASSERT_EQ(ids.size(), 1u);
  absl::StatusOr<json> sync = real_->Channel(kSyncChannelName);
  ASSERT_TRUE(sync.ok());
  EXPECT_EQ((*sync)["routes"][0]["secured"], true);
  EXPECT_EQ((*sync)["routes"][0]["cert"], ids[0]);
  const int old_port = suite_->mediator->http_port();

  suite_->mediator->Stop();
  suite_->mediator.reset();
  absl::StatusOr<std::unique_ptr<MediatorModule>> moved = StartMediator(*suite_, 0);
  ASSERT_TRUE(moved.ok()) << moved.status();
  suite_->mediator = std::move(*moved);
  const int new_port = suite_->mediator->http_port();
  ASSERT_NE(new_port, old_port);
  sync = real_->Channel(kSyncChannelName);
  ASSERT_TRUE(sync.ok());
  EXPECT_EQ((*sync)["routes"][0]["port"], new_port);
  EXPECT_EQ(trusted_ids().size(), 1u);
  absl::SleepFor(absl::Milliseconds(1500));  // openHIM's channel cache (refreshMillis 1000)
  const std::string tx_id = TriggerSync();
  ASSERT_FALSE(tx_id.empty()) << "openHIM did not reach the mediator on its new port";
  suite_->mediator->WaitForSyncWatchers();
}

TEST_F(RealOpenHimFlow, ARefusedRunStartIsNotQueuedForAutoRetry) {
  json edited = SettingsToConfig(Settings{});
  edited["sync_source"] = "no-such-source";
  const std::string urn = "urn:mediator:mflsync";
  ASSERT_EQ(real_->Api("PUT", MediatorPath(urn, "/config"), edited)->status, 200);
  ASSERT_TRUE(suite_->mediator->WaitForSettings(
      [](const Settings& s) { return s.sync_source == "no-such-source"; }, absl::Seconds(30)));
  absl::StatusOr<HttpResponse> r =
      real_->Router("POST", "/mflsync/sync", "", real_->writer_id, real_->writer_password);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 503) << r->body;
  const std::string tx_id = r->Header("x-openhim-transactionid");
  json tx;
  for (int i = 0; i < 50; ++i) {
    tx = Transaction(tx_id);
    if (tx.value("status", "") != kStatusProcessing) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_EQ(tx["status"], kStatusFailed) << tx.dump();
  EXPECT_FALSE(tx.value("autoRetry", true)) << tx.dump();
  EXPECT_NE(tx["properties"].value("error", "").find("no-such-source"), std::string::npos)
      << tx.dump();
  edited["sync_source"] = "mfl";
  ASSERT_EQ(real_->Api("PUT", MediatorPath(urn, "/config"), edited)->status, 200);
  ASSERT_TRUE(suite_->mediator->WaitForSettings(
      [](const Settings& s) { return s.sync_source == "mfl"; }, absl::Seconds(30)));
}

TEST_F(RealOpenHimFlow, HundredRunsUnderConcurrentTriggersNoneLeftProcessing) {
  constexpr int kThreads = 4, kPerThread = 25;
  absl::Mutex mu;
  std::vector<std::string> ids;
  std::vector<std::thread> threads;
  absl::Time start = absl::Now();
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        std::string id = TriggerSync();
        absl::MutexLock lock(&mu);
        ids.push_back(id);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  suite_->mediator->WaitForSyncWatchers();
  std::map<std::string, int> statuses;
  for (const std::string& id : ids) {
    ASSERT_FALSE(id.empty());
    json tx = Transaction(id);
    statuses[tx.value("status", "?")]++;
    EXPECT_NE(tx.value("status", ""), kStatusProcessing) << id;
  }
  std::string summary;
  for (const auto& [status, count] : statuses) absl::StrAppend(&summary, status, "=", count, " ");
  std::cout << "100 sync transactions in " << absl::FormatDuration(absl::Now() - start) << ": "
            << summary << "\n";
  EXPECT_EQ(statuses[kStatusSuccessful], kThreads * kPerThread) << summary;
}

}  // namespace
}  // namespace mflsync::mediator
