// OpenImisClient: login, token renewal, 401 recovery and searchset paging,
// against the openIMIS stand-in and tiny loopback servers for link policy.
#include "writer/openimis_client.h"

#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/writer/standin_suite.h"

namespace mflsync::writer {
namespace {

using testing::OpenImisStandin;

std::shared_ptr<OpenImisSession> Session(const std::string& base, const std::string& password,
                                         bool via_openhim = false) {
  OpenImisOptions options;
  options.base_url = base;
  options.username = "Admin";
  options.password = password;
  options.via_openhim = via_openhim;
  options.http.request_timeout = absl::Seconds(5);
  return std::make_shared<OpenImisSession>(options);
}

class OpenImisClientTest : public testing::StandinSuite {};


TEST_F(OpenImisClientTest, LogsInOnceAndReusesTheToken) {
  OpenImisClient client(Session(standin_->base_url(), "admin123"));
  for (int i = 0; i < 3; ++i) {
    auto r = client.Send("GET", "Location/?physicalType=si");
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 200);
  }
  EXPECT_EQ(client.session().logins(), 1);
  EXPECT_EQ(standin_->Stats()["logins"], 1);
}

TEST_F(OpenImisClientTest, BadPasswordIsUnauthenticatedWithoutLeakingIt) {
  OpenImisClient client(Session(standin_->base_url(), "wrong-secret-pw"));
  auto r = client.Send("GET", "Location/");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated);
  const std::string message(r.status().message());
  EXPECT_NE(message.find("check openimis.username and openimis.password"), std::string::npos)
      << message;
  EXPECT_EQ(message.find("wrong-secret-pw"), std::string::npos);
}

TEST_F(OpenImisClientTest, RevokedTokenIsReplacedTransparently) {
  OpenImisClient client(Session(standin_->base_url(), "admin123"));
  ASSERT_TRUE(client.Send("GET", "Location/").ok());
  ASSERT_TRUE(standin_->Testbed("POST", "expire_tokens", nlohmann::json::object()).ok());
  auto r = client.Send("GET", "Location/");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(client.session().logins(), 2);
  EXPECT_EQ(standin_->Stats()["auth_rejections"], 1);
}

TEST_F(OpenImisClientTest, SharedSessionLogsInOnceForManyConnections) {
  auto session = Session(standin_->base_url(), "admin123");
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      OpenImisClient client(session);
      for (int i = 0; i < 3; ++i) {
        auto r = client.Send("GET", "Location/");
        if (r.ok() && r->status == 200) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 12);
  EXPECT_EQ(session->logins(), 1);
}

TEST_F(OpenImisClientTest, PagesFollowingPercentEncodedNextLinks) {
  nlohmann::json seed = nlohmann::json::array();
  for (int i = 0; i < 23; ++i) {
    seed.push_back({{"code", absl::StrCat("PG", i)}, {"name", absl::StrCat("Paged ", i)},
                    {"district_code", i % 2 ? "D0101" : "D0201"}});
  }
  ASSERT_TRUE(standin_->Testbed("POST", "facilities", seed).ok());
  OpenImisClient client(Session(standin_->base_url(), "admin123"));
  auto all = client.ListAll("Location", {{"physicalType", "si"}}, 5);
  ASSERT_TRUE(all.ok()) << all.status();
  std::set<std::string> ids;
  for (const auto& r : *all) ids.insert(r["id"].get<std::string>());
  EXPECT_EQ(all->size(), 23u);
  EXPECT_EQ(ids.size(), 23u);
  EXPECT_EQ(standin_->Requests("GET", "/api/api_fhir_r4/Location/"), 5);  // 5 pages
  auto orgs = client.ListAll("Organization", {{"type", "prov"}}, 10);
  ASSERT_TRUE(orgs.ok()) << orgs.status();
  EXPECT_EQ(orgs->size(), 23u);
}

// A loopback server that logs in and answers one Location page whose next
// link is `next`; records the queries of the pages asked.
class LinkServer {
 public:
  explicit LinkServer(std::string next) : next_(std::move(next)) {
    server_.Post("/api/api_fhir_r4/login/", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"token":"t0k3n-value","exp":4102444800})", "application/json");
    });
    server_.Get("/api/api_fhir_r4/Location/", [this](const httplib::Request& req,
                                                     httplib::Response& res) {
      queries_.push_back(req.has_param("page-offset") ? req.get_param_value("page-offset")
                                                      : "1");
      nlohmann::json bundle = {{"resourceType", "Bundle"}, {"type", "searchset"},
                               {"entry", nlohmann::json::array()}};
      if (queries_.size() == 1) {
        bundle["link"] = {{{"relation", "next"}, {"url", next_}}};
      }
      res.set_content(bundle.dump(), "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::yield();
  }
  ~LinkServer() {
    server_.stop();
    thread_.join();
  }
  std::string base() const { return absl::StrCat("http://127.0.0.1:", port_, "/api/api_fhir_r4"); }
  int port() const { return port_; }
  std::vector<std::string> queries_;

 private:
  std::string next_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

TEST(OpenImisClientLinkTest, RefusesANextLinkToAnotherServer) {
  LinkServer server(
      "http%3A%2F%2Fevil.example%3A80%2Fapi%2Fapi_fhir_r4%2FLocation%2F%3Fpage-offset%3D2");
  OpenImisClient client(Session(server.base(), "pw-unused"));
  auto all = client.ListAll("Location", {}, 10);
  ASSERT_FALSE(all.ok());
  EXPECT_EQ(all.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(all.status().message().find("http://evil.example:80"), std::string::npos)
      << all.status();
  EXPECT_EQ(server.queries_.size(), 1u);
}

TEST(OpenImisClientLinkTest, RefusesANextLinkToAnotherResource) {
  LinkServer server("/api/api_fhir_r4/Patient/?page-offset=2");
  OpenImisClient client(Session(server.base(), "pw-unused", /*via_openhim=*/true));
  auto all = client.ListAll("Location", {}, 10);
  ASSERT_FALSE(all.ok());
  EXPECT_NE(all.status().message().find("not a usable URL"), std::string::npos)
      << all.status();
}

TEST(OpenImisClientLinkTest, ThroughOpenHimOnlyTheQueryOfTheLinkIsUsed) {
  // openIMIS names its own (internal) host; behind openHIM the page is asked
  // from the channel.
  LinkServer server(
      "http%3A%2F%2Fopenimis-internal%3A8000%2Fapi%2Fapi_fhir_r4%2FLocation%2F%3F_count%3D10"
      "%26page-offset%3D2");
  OpenImisClient client(Session(server.base(), "pw-unused", /*via_openhim=*/true));
  auto all = client.ListAll("Location", {}, 10);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(server.queries_.size(), 2u);
  EXPECT_EQ(server.queries_[1], "2");
}

TEST(OpenImisClientTokenTest, RenewsTheTokenBeforeItExpires) {
  auto standin = OpenImisStandin::Start({"--fast", "--token-ttl", "2"});
  ASSERT_TRUE(standin.ok()) << standin.status();
  OpenImisClient client(Session((*standin)->base_url(), "admin123"));
  ASSERT_TRUE(client.Send("GET", "Location/").ok());
  // Past half the token's lifetime: the next call logs in first.
  absl::SleepFor(absl::Milliseconds(1500));
  auto r = client.Send("GET", "Location/");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(client.session().logins(), 2);
  EXPECT_EQ((*standin)->Stats()["auth_rejections"], 0);  // renewed, not refused
}

}  // namespace
}  // namespace mflsync::writer
