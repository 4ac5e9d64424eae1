// Registration, upgrade, heartbeat with live settings, wrong credentials and
// an openHIM API that is down at start, against the openHIM stand-in.
#include "mediator/registrar.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <set>

#include "absl/strings/str_cat.h"
#include "mediator/live_settings.h"
#include "mediator/registration.h"
#include "tests/mediator/openhim_standin.h"

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
