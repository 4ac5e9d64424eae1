#include "common/dependency_health.h"

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include <httplib.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/http_probe.h"
#include "common/metrics.h"
#include "common/status_service.h"

namespace mflsync {
namespace {

// Collects what the serving sink was told, in order.
class SinkLog {
 public:
  DependencyHealth::ServingSink Sink() {
    return [this](bool serving) {
      std::lock_guard<std::mutex> lock(mu_);
      calls_.push_back(serving);
    };
  }
  std::vector<bool> calls() const {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<bool> calls_;
};

// Polls `done` until it holds or 10 s pass; returns whether it held.
bool Eventually(const std::function<bool()>& done) {
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline) {
    if (done()) return true;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return done();
}

DependencyProbe Fixed(std::string name, absl::Status status) {
  return {std::move(name), [status](absl::Duration) { return status; }};
}

TEST(DependencyHealthTest, FirstRoundReportsServingWhenEveryProbePasses) {
  SinkLog log;
  DependencyHealth health({Fixed("a", absl::OkStatus()), Fixed("b", absl::OkStatus())}, {},
                          log.Sink());
  health.CheckNow();
  EXPECT_EQ(log.calls(), std::vector<bool>{true});
  EXPECT_TRUE(health.serving());
  for (const DependencyState& s : health.States()) {
    EXPECT_TRUE(s.status.ok()) << s.name;
    EXPECT_NE(s.checked_at, absl::InfinitePast());
  }
}

TEST(DependencyHealthTest, OneFailedProbeMakesItNotServingWithTheCause) {
  SinkLog log;
  DependencyHealth health(
      {Fixed("openimis", absl::UnavailableError("openIMIS at http://x/api: no answer")),
       Fixed("ok", absl::OkStatus())},
      {}, log.Sink());
  health.CheckNow();
  EXPECT_EQ(log.calls(), std::vector<bool>{false});
  EXPECT_FALSE(health.serving());
  std::vector<DependencyState> states = health.States();
  ASSERT_EQ(states.size(), 2u);
  EXPECT_EQ(states[0].name, "openimis");
  EXPECT_EQ(states[0].status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(states[0].status.message(), "openIMIS at http://x/api: no answer");
  EXPECT_TRUE(states[1].status.ok());
}

TEST(DependencyHealthTest, NoProbesIsServing) {
  SinkLog log;
  DependencyHealth health({}, {}, log.Sink());
  health.Start();
  EXPECT_EQ(log.calls(), std::vector<bool>{true});
  EXPECT_TRUE(health.serving());
  health.Stop();
}

TEST(DependencyHealthTest, BackgroundChecksFollowTheDependencyDownAndBack) {
  std::atomic<bool> up{true};
  SinkLog log;
  std::vector<std::pair<std::string, bool>> results;
  std::mutex results_mu;
  DependencyHealth health(
      {{"peer", [&up](absl::Duration) {
          return up.load() ? absl::OkStatus() : absl::UnavailableError("peer refused");
        }}},
      {.period = absl::Milliseconds(10), .timeout = absl::Seconds(1)}, log.Sink(),
      [&](const std::string& name, bool ok) {
        std::lock_guard<std::mutex> lock(results_mu);
        results.emplace_back(name, ok);
      });
  health.Start();
  EXPECT_EQ(log.calls(), std::vector<bool>{true});
  up = false;
  ASSERT_TRUE(Eventually([&] { return log.calls().size() == 2; }));
  EXPECT_FALSE(log.calls()[1]);
  EXPECT_EQ(health.States()[0].status.message(), "peer refused");
  up = true;
  ASSERT_TRUE(Eventually([&] { return log.calls().size() == 3; }));
  EXPECT_TRUE(log.calls()[2]);
  health.Stop();
  // Each change is reported once, not at every check.
  EXPECT_EQ(log.calls(), (std::vector<bool>{true, false, true}));
  std::lock_guard<std::mutex> lock(results_mu);
  EXPECT_GE(results.size(), 3u);
  EXPECT_EQ(results.front().first, "peer");
}

TEST(DependencyHealthTest, ReadingTheStateNeverWaitsForARunningCheck) {
  absl::Notification release;
  std::atomic<int> checks{0};
  DependencyHealth health({{"slow", [&](absl::Duration) {
                              if (checks.fetch_add(1) > 0) release.WaitForNotification();
                              return absl::OkStatus();
                            }}},
                          {.period = absl::Milliseconds(1), .timeout = absl::Seconds(30)},
                          nullptr);
  health.Start();
  ASSERT_TRUE(Eventually([&] { return checks.load() >= 2; }));  // a check is blocked now
  // Would hang (and time the test out) if States() waited for the check.
  EXPECT_TRUE(health.States()[0].status.ok());
  EXPECT_TRUE(health.serving());
  release.Notify();
  health.Stop();
}

TEST(DependencyHealthTest, ACheckThatOverrunsItsTimeoutFails) {
  DependencyHealth health({{"hangs", [](absl::Duration) {
                              absl::SleepFor(absl::Milliseconds(700));
                              return absl::OkStatus();
                            }}},
                          {.period = absl::Seconds(5), .timeout = absl::Milliseconds(10)},
                          nullptr);
  health.CheckNow();
  const absl::Status status = health.States()[0].status;
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_NE(status.message().find("longer than its 10ms time-out"), std::string::npos)
      << status;
}

TEST(DependencyHealthTest, CausesAreOneLineWithoutCredentials) {
  DependencyHealth health(
      {Fixed("mfl", absl::UnavailableError("GET https://user:s3cret@mfl/fhir failed\nsecond"))},
      {}, nullptr);
  health.CheckNow();
  const std::string cause(health.States()[0].status.message());
  EXPECT_EQ(cause.find('\n'), std::string::npos) << cause;
  EXPECT_EQ(cause.find("s3cret"), std::string::npos) << cause;
}

TEST(StatusOfTest, ListsEachDependencyWithItsCause) {
  DependencyHealth health({Fixed("state_db", absl::OkStatus()),
                           Fixed("peer:writer", absl::UnavailableError("writer is NOT_SERVING"))},
                          {}, nullptr);
  health.CheckNow();
  v1::GetStatusResponse status = StatusOf("scheduler", health, "127.0.0.1:9464");
  EXPECT_EQ(status.service(), "scheduler");
  EXPECT_FALSE(status.serving());
  EXPECT_EQ(status.metrics_address(), "127.0.0.1:9464");
  ASSERT_EQ(status.dependencies_size(), 2);
  EXPECT_TRUE(status.dependencies(0).ok());
  EXPECT_TRUE(status.dependencies(0).cause().empty());
  EXPECT_FALSE(status.dependencies(1).ok());
  EXPECT_EQ(status.dependencies(1).cause(), "writer is NOT_SERVING");
  EXPECT_GT(status.dependencies(1).checked_at().seconds(), 0);
}

// ProbeHttp against a real loopback server.
class ProbeHttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.Get("/up", [](const httplib::Request&, httplib::Response& res) {
      res.status = 401;  // refuses the anonymous call: but it answers
    });
    server_.Get("/down", [](const httplib::Request&, httplib::Response& res) {
      res.status = 502;
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  void TearDown() override {
    server_.stop();
    thread_.join();
  }
  absl::Status Probe(const std::string& path) {
    HttpRequest request;
    request.url = absl::StrCat("http://127.0.0.1:", port_, path);
    return ProbeHttp("openIMIS", request, {}, absl::Seconds(2));
  }

  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

TEST_F(ProbeHttpTest, AnAnswerBelow500IsReachable) { EXPECT_TRUE(Probe("/up").ok()); }

TEST_F(ProbeHttpTest, A5xxIsUnreachableAndSaysSo) {
  absl::Status status = Probe("/down");
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(status.message().find("openIMIS at http://127.0.0.1:"), std::string::npos) << status;
  EXPECT_NE(status.message().find("answered HTTP 502"), std::string::npos) << status;
}

TEST_F(ProbeHttpTest, A404SaysThePathIsNotServed) {
  absl::Status status = Probe("/nothing-here");
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(status.message().find("404"), std::string::npos) << status;
}

TEST(ProbeHttpNoServerTest, ARefusedConnectionIsUnreachable) {
  HttpRequest request;
  request.url = "http://127.0.0.1:1/api/graphql";  // port 1: nothing listens
  absl::Status status = ProbeHttp("openIMIS", request, {}, absl::Seconds(2));
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("openIMIS at http://127.0.0.1:1/api/graphql: no answer"),
            std::string::npos)
      << status;
}

TEST(StatusClassTest, GroupsByHundredsAndNamesNoAnswer) {
  EXPECT_EQ(StatusClass(200), "2xx");
  EXPECT_EQ(StatusClass(404), "4xx");
  EXPECT_EQ(StatusClass(503), "5xx");
  EXPECT_EQ(StatusClass(0), "error");
}

}  // namespace
}  // namespace mflsync
