// Registration, upgrade, heartbeat with live settings, wrong credentials and
// an openHIM API that is down at start, against the openHIM stand-in.
#include "mediator/registrar.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <set>
#include <thread>

#include <httplib.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/read_file.h"
#include "mediator/live_settings.h"
#include "mediator/registration.h"
#include "mediator/trusted_ca.h"
#include "tests/mediator/openhim_standin.h"
#include "tests/mediator/suite_fixture.h"
#include "tests/support/child_process.h"

namespace mflsync::mediator {
namespace {

using nlohmann::json;
using testing::OpenHimStandin;

constexpr char kUrn[] = "urn:mediator:mflsync";

OpenHimApi Api(const OpenHimStandin& ohim, const std::string& password = "openhim-password") {
  OpenHimApiOptions o;
  o.api_url = ohim.api_url();
  o.username = testing::kAdminUser;
  o.password = password;
  return OpenHimApi(o);
}

MediatorIdentity Identity() {
  MediatorIdentity id;
  id.host = "127.0.0.1";
  id.port = 8999;
  id.mfl_url = "http://127.0.0.1:9/fhir";
  return id;
}

RegistrarOptions Fast() {
  RegistrarOptions o;
  o.heartbeat_interval = absl::Milliseconds(50);
  o.initial_backoff = absl::Milliseconds(50);
  o.max_backoff = absl::Milliseconds(200);
  return o;
}

class RegistrarTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = OpenHimStandin::Start();
    ASSERT_TRUE(s.ok()) << s.status();
    ohim_ = std::move(*s);
  }
  std::unique_ptr<OpenHimStandin> ohim_;
};

TEST(RegistrationTest, VersionRuleAndPinnedSettingsSchema) {
  EXPECT_EQ(MediatorVersion(), absl::StrCat(kMediatorMajorMinor, ".", kSettingsRevision));
  EXPECT_EQ(MediatorVersion(2), "0.1.2");
  // Changing the configDefs or the default channels changes this hash: bump
  // kSettingsRevision (so openHIM takes the new registration) and update
  // kSettingsFingerprint in mediator/registration.h.
  EXPECT_EQ(SettingsFingerprint(Identity()), kSettingsFingerprint)
      << "the settings schema changed: bump kSettingsRevision and pin the new fingerprint";
  // Hosts are deployment data, not schema.
  MediatorIdentity other = Identity();
  other.host = "mediator.example";
  other.port = 1234;
  EXPECT_EQ(SettingsFingerprint(other), SettingsFingerprint(Identity()));
}

TEST(RegistrationTest, DocumentHasEndpointsChannelsAndPasswordTypedSecret) {
  Settings defaults;
  defaults.endpoint_password = "route-secret-1";
  json doc = BuildRegistration(Identity(), defaults, "0.1.1");
  EXPECT_EQ(doc["urn"], kUrn);
  EXPECT_EQ(doc["endpoints"][0]["port"], 8999);
  bool password_def = false;
  for (const json& d : doc["configDefs"])
    if (d["param"] == "endpoint_password") password_def = d["type"] == "password";
  EXPECT_TRUE(password_def);
  std::vector<std::string> names;
  for (const json& c : doc["defaultChannelConfig"]) names.push_back(c["name"]);
  EXPECT_EQ(names, (std::vector<std::string>{"mflsync push", "mflsync sync", "mflsync MFL"}));
  const json& push = doc["defaultChannelConfig"][0];
  EXPECT_EQ(push["urlPattern"], "^/mflsync/push$");
  EXPECT_EQ(push["routes"][0]["path"], "/push");
  EXPECT_EQ(push["routes"][0]["username"], "openhim");
  EXPECT_EQ(push["routes"][0]["password"], "route-secret-1");
  const json& mfl = doc["defaultChannelConfig"][2];
  EXPECT_EQ(mfl["routes"][0]["pathTransform"], "s/^\\/mfl\\/fhir/\\/fhir/");
  EXPECT_EQ(mfl["routes"][0]["port"], 9);
}

TEST(LiveSettingsTest, ValidatesConfigFromOpenHim) {
  Settings base;
  auto ok = SettingsFromConfig({{"push_max_entries", 5}, {"log_level", "debug"}}, base);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->push_max_entries, 5);
  EXPECT_EQ(ok->log_level, "debug");
  EXPECT_TRUE(ok->push_enabled);  // absent params keep the base
  auto bad_type = SettingsFromConfig({{"push_enabled", "yes"}}, base);
  EXPECT_NE(bad_type.status().message().find("'push_enabled' must be a boolean"),
            std::string::npos);
  auto range = SettingsFromConfig({{"push_max_entries", 0}}, base);
  EXPECT_NE(range.status().message().find("from 1 to 100000"), std::string::npos);
  auto fraction = SettingsFromConfig({{"push_max_entries", 2.5}}, base);
  EXPECT_FALSE(fraction.ok());
  auto level = SettingsFromConfig({{"log_level", "loud"}}, base);
  EXPECT_NE(level.status().message().find("debug, info, warning or error"), std::string::npos);
  auto unknown = SettingsFromConfig({{"frobnicate", 1}}, base);
  EXPECT_NE(unknown.status().message().find("'frobnicate' is not one of"), std::string::npos);
  auto pw = SettingsFromConfig({{"endpoint_password", 12345}}, base);
  EXPECT_FALSE(pw.ok());
  EXPECT_EQ(pw.status().message().find("12345"), std::string::npos);
  EXPECT_FALSE(SettingsFromConfig(json::array(), base).ok());
}

TEST_F(RegistrarTest, RegistersAndInstallsTheDefaultChannels) {
  LiveSettings settings(Settings{}, nullptr);
  Registrar registrar(Api(*ohim_), BuildRegistration(Identity(), Settings{}, "0.1.1"),
                      &settings, Fast());
  ASSERT_TRUE(registrar.RegisterOnce().ok());
  json m = ohim_->ApiJson("GET", absl::StrCat("/mediators/", kUrn));
  ASSERT_TRUE(m.is_object());
  EXPECT_EQ(m["version"], "0.1.1");
  EXPECT_EQ(m["endpoints"][0]["port"], 8999);
  EXPECT_EQ(m["configDefs"].size(), SettingsConfigDefs().size());
  EXPECT_EQ(m["config"]["push_max_entries"], 1000);
  json channels = ohim_->ApiJson("GET", "/channels");
  std::set<std::string> names;
  for (const json& c : channels) names.insert(c["name"]);
  EXPECT_EQ(names, (std::set<std::string>{"mflsync push", "mflsync sync", "mflsync MFL"}));
  // Registering again (a restart) installs nothing twice and succeeds.
  ASSERT_TRUE(registrar.RegisterOnce().ok());
  EXPECT_EQ(ohim_->ApiJson("GET", "/channels").size(), 3u);
}

TEST_F(RegistrarTest, InstalledUpstreamChannelRoutesThroughOpenHim) {
  // The "MFL" here is the stand-in's own API listener: its /$testbed/health
  // needs no credentials, so the route can be checked end to end.
  MediatorIdentity id = Identity();
  id.mfl_url = ohim_->api_url() + "/";
  LiveSettings settings(Settings{}, nullptr);
  Registrar registrar(Api(*ohim_), BuildRegistration(id, Settings{}, "0.1.1"), &settings,
                      Fast());
  ASSERT_TRUE(registrar.RegisterOnce().ok());
  auto client = ohim_->Api("POST", "/clients",
                           {{"clientID", "fetcher"}, {"name", "mflsync fetcher"},
                            {"roles", {"mflsync"}}, {"password", "fetcher-pass-1"}});
  ASSERT_TRUE(client.ok());
  ASSERT_EQ(client->status, 201) << client->body;
  HttpClient http{HttpClientOptions{}};
  auto r = http.Send({.method = "GET",
                      .url = ohim_->router_url() + "/mfl/fhir/$testbed/health",
                      .headers = {{"Authorization", BasicAuthHeader("fetcher", "fetcher-pass-1")}}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_NE(r->body.find("\"ok\""), std::string::npos) << r->body;
  EXPECT_FALSE(r->Header("x-openhim-transactionid").empty());
}

TEST_F(RegistrarTest, UpgradedVersionReplacesTheRecordAndKeepsConsoleValues) {
  LiveSettings settings(Settings{}, nullptr);
  {
    Registrar first(Api(*ohim_), BuildRegistration(Identity(), Settings{}, MediatorVersion(1)),
                    &settings, Fast());
    ASSERT_TRUE(first.RegisterOnce().ok());
  }
  // An administrator edits a setting in the console.
  json config = SettingsToConfig(Settings{});
  config["push_max_entries"] = 42;
  auto put = ohim_->Api("PUT", absl::StrCat("/mediators/", kUrn, "/config"), config);
  ASSERT_TRUE(put.ok());
  ASSERT_EQ(put->status, 200) << put->body;
  // A new release with a changed settings schema (one more param).
  json upgraded = BuildRegistration(Identity(), Settings{}, MediatorVersion(2));
  upgraded["configDefs"].push_back({{"param", "extra_flag"},
                                    {"displayName", "Extra"},
                                    {"description", "new in revision 2"},
                                    {"type", "bool"}});
  upgraded["config"]["extra_flag"] = true;
  Registrar second(Api(*ohim_), upgraded, &settings, Fast());
  ASSERT_TRUE(second.RegisterOnce().ok());
  json m = ohim_->ApiJson("GET", absl::StrCat("/mediators/", kUrn));
  EXPECT_EQ(m["version"], "0.1.2");
  EXPECT_EQ(m["configDefs"].size(), SettingsConfigDefs().size() + 1);
  EXPECT_EQ(m["config"]["push_max_entries"], 42);  // the console's value survives
  EXPECT_EQ(m["config"]["extra_flag"], true);
  // An older version does not replace it.
  Registrar old(Api(*ohim_), BuildRegistration(Identity(), Settings{}, MediatorVersion(1)),
                &settings, Fast());
  ASSERT_TRUE(old.RegisterOnce().ok());
  EXPECT_EQ(ohim_->ApiJson("GET", absl::StrCat("/mediators/", kUrn))["version"], "0.1.2");
}

TEST_F(RegistrarTest, HeartbeatAppliesConsoleChangesLive) {
  std::string applied_level;
  LiveSettings settings(Settings{}, [&](const std::string& l) { applied_level = l; });
  Registrar registrar(Api(*ohim_), BuildRegistration(Identity(), Settings{}, "0.1.1"),
                      &settings, Fast());
  registrar.Start();
  ASSERT_TRUE(registrar.WaitFor([](const RegistrarState& s) { return s.heartbeats >= 2; },
                                absl::Seconds(30)))
      << registrar.State().last_error;
  json m = ohim_->ApiJson("GET", absl::StrCat("/mediators/", kUrn));
  EXPECT_FALSE(m["_lastHeartbeat"].is_null());
  EXPECT_TRUE(m["_uptime"].is_number());
  EXPECT_EQ(settings.Get().push_max_entries, 1000);

  json config = SettingsToConfig(Settings{});
  config["push_max_entries"] = 7;
  config["sync_source"] = "kenya";
  config["log_level"] = "warning";
  config["endpoint_password"] = "console-secret-9";
  auto put = ohim_->Api("PUT", absl::StrCat("/mediators/", kUrn, "/config"), config);
  ASSERT_TRUE(put.ok());
  ASSERT_EQ(put->status, 200) << put->body;
  ASSERT_TRUE(registrar.WaitFor(
      [&](const RegistrarState&) { return settings.Get().push_max_entries == 7; },
      absl::Seconds(30)));
  Settings now = settings.Get();
  EXPECT_EQ(now.sync_source, "kenya");
  EXPECT_EQ(now.log_level, "warning");
  EXPECT_EQ(now.endpoint_password, "console-secret-9");
  EXPECT_EQ(applied_level, "warning");
  registrar.Stop();
  EXPECT_TRUE(registrar.State().registered);
  EXPECT_TRUE(registrar.State().last_error.empty());
}

TEST_F(RegistrarTest, ConfigEditedBeforeTheFirstHeartbeatIsFetched) {
  LiveSettings settings(Settings{}, nullptr);
  Registrar registrar(Api(*ohim_), BuildRegistration(Identity(), Settings{}, "0.1.1"),
                      &settings, Fast());
  ASSERT_TRUE(registrar.RegisterOnce().ok());
  json config = SettingsToConfig(Settings{});
  config["push_enabled"] = false;
  ASSERT_EQ(ohim_->Api("PUT", absl::StrCat("/mediators/", kUrn, "/config"), config)->status,
            200);
  ASSERT_TRUE(registrar.HeartbeatOnce(/*request_config=*/true).ok());
  EXPECT_FALSE(settings.Get().push_enabled);
}

TEST_F(RegistrarTest, WrongCredentialsAreAClearErrorWithoutThePassword) {
  LiveSettings settings(Settings{}, nullptr);
  Registrar registrar(Api(*ohim_, "wrong-password-77"),
                      BuildRegistration(Identity(), Settings{}, "0.1.1"), &settings, Fast());
  absl::Status s = registrar.RegisterOnce();
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(s.message().find("refused the credentials of user 'root@openhim.org'"),
            std::string::npos)
      << s;
  EXPECT_EQ(s.message().find("wrong-password-77"), std::string::npos);
  registrar.Start();
  ASSERT_TRUE(registrar.WaitFor(
      [](const RegistrarState& s) { return !s.last_error.empty(); }, absl::Seconds(30)));
  registrar.Stop();
  EXPECT_FALSE(registrar.State().registered);
  EXPECT_NE(registrar.State().last_error.find("HTTP 401"), std::string::npos);
  EXPECT_TRUE(ohim_->ApiJson("GET", "/mediators").empty());
}

TEST_F(RegistrarTest, ApiDownAtStartRegistersWhenItReturns) {
  auto fault = ohim_->Api("POST", "/$testbed/faults", {{"kind", "api_down"}, {"requests", 3}});
  ASSERT_TRUE(fault.ok());
  ASSERT_EQ(fault->status / 100, 2) << fault->body;
  LiveSettings settings(Settings{}, nullptr);
  Registrar registrar(Api(*ohim_), BuildRegistration(Identity(), Settings{}, "0.1.1"),
                      &settings, Fast());
  registrar.Start();
  ASSERT_TRUE(registrar.WaitFor([](const RegistrarState& s) { return s.heartbeats >= 1; },
                                absl::Seconds(30)))
      << registrar.State().last_error;
  registrar.Stop();
  EXPECT_EQ(ohim_->ApiJson("GET", absl::StrCat("/mediators/", kUrn))["version"], "0.1.1");
}

TEST_F(RegistrarTest, ForgottenMediatorRegistersAgain) {
  LiveSettings settings(Settings{}, nullptr);
  Registrar registrar(Api(*ohim_), BuildRegistration(Identity(), Settings{}, "0.1.1"),
                      &settings, Fast());
  ASSERT_TRUE(registrar.RegisterOnce().ok());
  ASSERT_EQ(ohim_->Api("DELETE", absl::StrCat("/mediators/", kUrn))->status, 200);
  absl::Status hb = registrar.HeartbeatOnce(false);
  EXPECT_EQ(hb.code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(registrar.State().registered);
  registrar.Start();
  ASSERT_TRUE(registrar.WaitFor([](const RegistrarState& s) { return s.registrations >= 2; },
                                absl::Seconds(30)));
  registrar.Stop();
  EXPECT_TRUE(ohim_->ApiJson("GET", absl::StrCat("/mediators/", kUrn)).is_object());
}

// Routes to the mediator's HTTPS listener, as openHIM's router takes them.
class SecuredRoutesTest : public RegistrarTest {
 protected:
  // Two private CAs with their certificates, made once (RSA keys take seconds).
  static void SetUpTestSuite() {
    absl::StatusOr<std::string> dir = mflsync::testing::MakeTempDir("mflsync-secured-routes");
    ASSERT_TRUE(dir.ok()) << dir.status();
    dir_ = new std::string(*dir);
    ASSERT_TRUE(testing::MakePki(*dir_ + "/ours").ok());
    ASSERT_TRUE(testing::MakePki(*dir_ + "/other").ok());
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    std::filesystem::remove_all(*dir_, ec);
    delete dir_;
  }
  void SetUp() override {
    RegistrarTest::SetUp();
    absl::StatusOr<std::string> ca = ReadTextFile(*dir_ + "/ours/ca.pem");
    ASSERT_TRUE(ca.ok()) << ca.status();
    ca_pem_ = *ca;
  }
  void TearDown() override {
    if (server_ != nullptr) server_->stop();
    if (thread_.joinable()) thread_.join();
  }

  // An HTTPS /push on 127.0.0.1 with the mediator certificate of `pki`.
  int ServePush(const std::string& pki) {
    const std::string prefix = *dir_ + "/" + pki + "/mediator";
    server_ = std::make_unique<httplib::SSLServer>((prefix + ".pem").c_str(),
                                                   (prefix + "-key.pem").c_str());
    EXPECT_TRUE(server_->is_valid());
    server_->Post("/push", [this](const httplib::Request&, httplib::Response& res) {
      ++calls_;
      res.set_content("{\"secure\":\"ok\"}", "application/json");
    });
    int port = server_->bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    return port;
  }

  // A registrar for a mediator at `port`, trusting our CA when `secured`.
  std::unique_ptr<Registrar> Secured(int port, bool secured = true) {
    MediatorIdentity id = Identity();
    id.port = port;
    id.secured = secured;
    RegistrarOptions options = Fast();
    if (secured) options.trusted_ca_pem = ca_pem_;
    return std::make_unique<Registrar>(
        Api(*ohim_),
        [id](const Settings& current, const std::string& ca_id) {
          MediatorIdentity routed = id;
          routed.trusted_ca_id = ca_id;
          return BuildRegistration(routed, current, "0.1.1");
        },
        &settings_, options);
  }

  // POST /mflsync/push through the router as a client with role mfl.
  absl::StatusOr<HttpResponse> PushThroughRouter() {
    auto client = ohim_->Api("POST", "/clients",
                             {{"clientID", "mfl-push"}, {"name", "MFL"},
                              {"roles", {"mfl"}}, {"password", "mfl-push-pass-1"}});
    if (!client.ok()) return client.status();
    HttpClient http{HttpClientOptions{}};
    return http.Send({.method = "POST",
                      .url = ohim_->router_url() + "/mflsync/push",
                      .headers = {{"Authorization", BasicAuthHeader("mfl-push", "mfl-push-pass-1")},
                                  {"Content-Type", "application/fhir+json"}},
                      .body = "{}"});
  }

  json PushRoute() {
    for (const json& c : ohim_->ApiJson("GET", "/channels"))
      if (c["name"] == "mflsync push") return c["routes"][0];
    return json();
  }

  inline static std::string* dir_ = nullptr;
  std::string ca_pem_;
  LiveSettings settings_{Settings{}, nullptr};
  std::unique_ptr<httplib::SSLServer> server_;
  std::thread thread_;
  std::atomic<int> calls_{0};
};

TEST_F(SecuredRoutesTest, TheCaIsTrustedOnceAndTheRouterVerifiesTheMediator) {
  const int port = ServePush("ours");
  std::unique_ptr<Registrar> registrar = Secured(port);
  ASSERT_TRUE(registrar->RegisterOnce().ok()) << registrar->State().last_error;
  ASSERT_TRUE(registrar->RegisterOnce().ok());  // a restart adds no second copy
  json trusted = ohim_->ApiJson("GET", "/keystore/ca");
  ASSERT_EQ(trusted.size(), 1u) << trusted.dump();
  absl::StatusOr<std::string> fingerprint = CertificateFingerprint(ca_pem_);
  ASSERT_TRUE(fingerprint.ok());
  EXPECT_EQ(trusted[0]["fingerprint"], *fingerprint);
  json route = PushRoute();
  EXPECT_EQ(route["secured"], true);
  EXPECT_EQ(route["cert"], trusted[0]["_id"]);
  EXPECT_EQ(route["port"], port);
  absl::StatusOr<HttpResponse> r = PushThroughRouter();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_NE(r->body.find("secure"), std::string::npos) << r->body;
  EXPECT_EQ(calls_.load(), 1);
}

TEST_F(SecuredRoutesTest, ACertificateFromAnotherCaNeverGetsTheRequest) {
  const int port = ServePush("other");
  std::unique_ptr<Registrar> registrar = Secured(port);
  ASSERT_TRUE(registrar->RegisterOnce().ok());
  absl::StatusOr<HttpResponse> r = PushThroughRouter();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 500) << r->body;
  EXPECT_EQ(calls_.load(), 0);
  json txs;
  for (int i = 0; i < 100; ++i) {  // openHIM stores the outcome after answering
    txs = ohim_->ApiJson("GET", "/transactions?filterRepresentation=full");
    if (!txs.empty() && txs[0]["status"] != "Processing") break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_FALSE(txs.empty());
  EXPECT_EQ(txs[0]["status"], "Failed");
  EXPECT_NE(txs.dump().find("unable to verify the first certificate"), std::string::npos)
      << txs.dump();
}

TEST_F(SecuredRoutesTest, StaleRoutesFollowTheMediatorAndKeepTheAdministratorsEdits) {
  ASSERT_TRUE(Secured(8999, /*secured=*/false)->RegisterOnce().ok());
  json channel;
  for (const json& c : ohim_->ApiJson("GET", "/channels"))
    if (c["name"] == "mflsync push") channel = c;
  ASSERT_TRUE(channel.is_object());
  json routes = channel["routes"];
  routes.push_back({{"name", "audit copy"}, {"host", "127.0.0.1"}, {"port", 9}, {"primary", false},
                    {"type", "http"}});
  auto put = ohim_->Api("PUT", "/channels/" + channel["_id"].get<std::string>(),
                        {{"routes", routes}, {"description", "kept by the administrator"}});
  ASSERT_TRUE(put.ok());
  ASSERT_EQ(put->status, 200) << put->body;

  const int port = ServePush("ours");
  ASSERT_TRUE(Secured(port)->RegisterOnce().ok());
  json route = PushRoute();
  EXPECT_EQ(route["port"], port);
  EXPECT_EQ(route["secured"], true);
  EXPECT_TRUE(route.contains("cert"));
  for (const json& c : ohim_->ApiJson("GET", "/channels")) {
    if (c["name"] != "mflsync push") continue;
    EXPECT_EQ(c["description"], "kept by the administrator");
    ASSERT_EQ(c["routes"].size(), 2u);
    EXPECT_EQ(c["routes"][1]["name"], "audit copy");
    EXPECT_EQ(c["routes"][1]["port"], 9);
  }
  EXPECT_EQ(ohim_->ApiJson("GET", "/channels").size(), 3u);
  absl::StatusOr<HttpResponse> r = PushThroughRouter();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200) << r->body;
}

// A password edited in the console reaches the mediator at a heartbeat and
// the routes right after it, so openHIM keeps getting in.
TEST_F(SecuredRoutesTest, AConsolePasswordChangeReachesTheRoutes) {
  Settings initial;
  initial.endpoint_password = "first-endpoint-secret";
  LiveSettings settings(initial, nullptr);
  MediatorIdentity id = Identity();
  Registrar registrar(
      Api(*ohim_),
      [id](const Settings& current, const std::string&) {
        return BuildRegistration(id, current, "0.1.1");
      },
      &settings, Fast());
  registrar.Start();
  ASSERT_TRUE(registrar.WaitFor([](const RegistrarState& s) { return s.heartbeats >= 1; },
                                absl::Seconds(30)))
      << registrar.State().last_error;
  EXPECT_EQ(PushRoute()["password"], "first-endpoint-secret");
  json config = SettingsToConfig(initial);
  config["endpoint_password"] = "second-endpoint-secret";
  auto put = ohim_->Api("PUT", absl::StrCat("/mediators/", kUrn, "/config"), config);
  ASSERT_TRUE(put.ok());
  ASSERT_EQ(put->status, 200) << put->body;
  json route;
  for (int i = 0; i < 200; ++i) {
    route = PushRoute();
    if (route["password"] == "second-endpoint-secret") break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_EQ(route["password"], "second-endpoint-secret");
  EXPECT_EQ(settings.Get().endpoint_password, "second-endpoint-secret");
  registrar.Stop();
}

TEST(UpdatedRoutesTest, OnlyTheOwnedFieldsOfNamedRoutesChange) {
  json wanted = {{"routes", {{{"name", "m"}, {"host", "mediator"}, {"port", 8090},
                              {"secured", true}, {"cert", "ca1"}}}}};
  json stored = {{"routes", {{{"name", "m"}, {"host", "mediator"}, {"port", 8090},
                              {"secured", true}, {"cert", "ca1"}, {"timeout", 5}},
                             {{"name", "other"}, {"host", "x"}, {"port", 1}}}}};
  EXPECT_FALSE(UpdatedRoutes(stored, wanted).has_value());
  stored["routes"][0]["port"] = 8091;
  stored["routes"][0]["secured"] = false;
  std::optional<json> routes = UpdatedRoutes(stored, wanted);
  ASSERT_TRUE(routes.has_value());
  EXPECT_EQ((*routes)[0]["port"], 8090);
  EXPECT_EQ((*routes)[0]["secured"], true);
  EXPECT_EQ((*routes)[0]["timeout"], 5);
  EXPECT_EQ((*routes)[1], stored["routes"][1]);
  EXPECT_FALSE(UpdatedRoutes(json::array(), wanted).has_value());
  EXPECT_FALSE(UpdatedRoutes({{"routes", "x"}}, wanted).has_value());
}

TEST(CertificateFingerprintTest, RefusesTextWithoutACertificate) {
  EXPECT_EQ(CertificateFingerprint("not a certificate").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace mflsync::mediator

namespace mflsync::mediator {
namespace {

// openHIM's API over HTTPS with a self-signed certificate: refused unless
// the CA file is configured (verification stays on).
TEST(RegistrarTlsTest, SelfSignedApiNeedsTheCaFile) {
  char tmpl[] = "/tmp/mflsync-mediator-tls-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  struct Cleanup {
    std::string dir;
    ~Cleanup() {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  } cleanup{dir};
  const std::string cmd = absl::StrCat(
      "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 "
      "-addext subjectAltName=IP:127.0.0.1 -keyout ", dir, "/key.pem -out ", dir,
      "/cert.pem >", dir, "/openssl.log 2>&1");
  if (std::system(cmd.c_str()) != 0)
    GTEST_SKIP() << "openssl could not make a test certificate (see " << dir << "/openssl.log)";
  auto ohim = testing::OpenHimStandin::Start(
      {"--api-tls-cert", dir + "/cert.pem", "--api-tls-key", dir + "/key.pem"});
  ASSERT_TRUE(ohim.ok()) << ohim.status();
  std::string https = (*ohim)->api_url();
  https.replace(0, 4, "https");
  LiveSettings settings(Settings{}, nullptr);
  OpenHimApiOptions options;
  options.api_url = https;
  options.username = testing::kAdminUser;
  options.password = testing::kAdminPassword;
  Registrar without_ca(OpenHimApi(options),
                       BuildRegistration(MediatorIdentity{}, Settings{}, "0.1.1"), &settings,
                       RegistrarOptions{});
  absl::Status refused = without_ca.RegisterOnce();
  EXPECT_FALSE(refused.ok());
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition) << refused;
  options.tls.ca_file = dir + "/cert.pem";
  Registrar with_ca(OpenHimApi(options),
                    BuildRegistration(MediatorIdentity{}, Settings{}, "0.1.1"), &settings,
                    RegistrarOptions{});
  absl::Status ok = with_ca.RegisterOnce();
  EXPECT_TRUE(ok.ok()) << ok;
  EXPECT_TRUE(with_ca.HeartbeatOnce(true).ok());
}

}  // namespace
}  // namespace mflsync::mediator
