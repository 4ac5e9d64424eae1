// Webhook notifications (issue 15) against the whole stack: a real HTTP
// receiver on loopback (port 0) gets failures.new after a sync that parked
// rejections, run.failed when the MFL serves pages that are not JSON, and
// run.recovered when the next sync succeeds, each signed with the secret the
// scheduler read from its environment, which never shows in its log.
#include <cstdint>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/hmac.h"
#include "tests/e2e/e2e_fixture.h"

namespace mflsync::e2e {
namespace {

using json = nlohmann::json;

constexpr char kSecret[] = "e2e-webhook-secret-0123456789";

// One delivery as the receiver got it.
struct Received {
  std::map<std::string, std::string> headers;  // the X-Mflsync-* ones
  std::string body;
};

// An HTTP server on 127.0.0.1, port chosen by the system, keeping every
// POST to /hook.
class Receiver {
 public:
  Receiver() {
    server_.Post("/hook", [this](const httplib::Request& req, httplib::Response& res) {
      Received r;
      for (const char* h : {"X-Mflsync-Event", "X-Mflsync-Delivery", "X-Mflsync-Timestamp",
                            "X-Mflsync-Signature", "Content-Type"}) {
        r.headers[h] = req.get_header_value(h);
      }
      r.body = req.body;
      std::lock_guard<std::mutex> lock(mu_);
      received_.push_back(std::move(r));
      res.status = 204;
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ~Receiver() {
    server_.stop();
    thread_.join();
  }
  std::string Url() const { return absl::StrCat("http://127.0.0.1:", port_, "/hook"); }
  // The delivery of `event` for `run_id`, waiting up to 30 s for it.
  std::optional<Received> Await(const std::string& event, const std::string& run_id) {
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    do {
      {
        std::lock_guard<std::mutex> lock(mu_);
        for (const Received& r : received_) {
          if (r.headers.at("X-Mflsync-Delivery") == absl::StrCat(run_id, ".", event)) return r;
        }
      }
      absl::SleepFor(absl::Milliseconds(100));
    } while (absl::Now() < deadline);
    return std::nullopt;
  }
  std::vector<Received> All() {
    std::lock_guard<std::mutex> lock(mu_);
    return received_;
  }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::vector<Received> received_;
};

// The receiver's side of the signature: HMAC-SHA256(secret, timestamp "."
// body), and a timestamp within five minutes of now.
void ExpectSigned(const Received& r) {
  const std::string& ts = r.headers.at("X-Mflsync-Timestamp");
  EXPECT_EQ(r.headers.at("X-Mflsync-Signature"),
            "sha256=" + HmacSha256Hex(kSecret, ts + "." + r.body));
  int64_t seconds = 0;
  ASSERT_TRUE(absl::SimpleAtoi(ts, &seconds)) << ts;
  EXPECT_LT(std::abs(absl::ToUnixSeconds(absl::Now()) - seconds), 300);
  EXPECT_EQ(r.headers.at("Content-Type"), "application/json");
}

class NotificationsTest : public E2eFixture {};

TEST_F(NotificationsTest, WebhookReceivesNewFailuresAFailedRunAndTheRecovery) {
  Receiver receiver;
  StackOptions options;
  options.extra_config["scheduler"] = {
      {"sources", {{"mfl", {{"webhook", {{"url", receiver.Url()}}}}}}},
      {"rerun", {{"max_attempts", 0}}}};
  // The secret reaches the scheduler only through its environment.
  ASSERT_EQ(setenv("MFLSYNC_SOURCES__MFL__WEBHOOK__SECRET", kSecret, 1), 0);
  StartStack(options);
  unsetenv("MFLSYNC_SOURCES__MFL__WEBHOOK__SECRET");
  ASSERT_FALSE(HasFatalFailure());

  absl::StatusOr<v1::Run> first = stack_->SyncAndWait(/*full=*/true);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->state(), v1::RUN_STATE_SUCCEEDED);
  absl::StatusOr<std::vector<v1::Failure>> open = stack_->Failures();
  ASSERT_TRUE(open.ok()) << open.status();
  ASSERT_FALSE(open->empty()) << "the synthetic MFL parks some rejections";
  std::optional<Received> parked = receiver.Await("failures.new", first->run_id());
  ASSERT_TRUE(parked.has_value()) << stack_->LogTail("scheduler", 40);
  ExpectSigned(*parked);
  json body = json::parse(parked->body);
  EXPECT_EQ(body["event"], "failures.new");
  EXPECT_EQ(body["source"], "mfl");
  EXPECT_EQ(body["run"]["state"], "succeeded");
  EXPECT_EQ(body["failures"]["new"], static_cast<int64_t>(open->size()));
  ASSERT_FALSE(body["failures"]["first"].empty());
  EXPECT_EQ(body["failures"]["first"][0]["failure_id"], (*open)[0].failure_id());
  EXPECT_EQ(body["failures"]["first"][0]["location_id"], (*open)[0].location_id());

  AddFaults("mfl", json::array({{{"kind", "not_json"}, {"times", -1}}}));
  absl::StatusOr<v1::Run> failed = stack_->SyncAndWait(/*full=*/false);
  ASSERT_TRUE(failed.ok()) << failed.status();
  ASSERT_EQ(failed->state(), v1::RUN_STATE_FAILED);
  std::optional<Received> failure = receiver.Await("run.failed", failed->run_id());
  ASSERT_TRUE(failure.has_value()) << stack_->LogTail("scheduler", 40);
  ExpectSigned(*failure);
  EXPECT_EQ(failure->headers.at("X-Mflsync-Event"), "run.failed");
  body = json::parse(failure->body);
  EXPECT_EQ(body["run"]["id"], failed->run_id());
  EXPECT_EQ(body["run"]["state"], "failed");
  EXPECT_NE(body["error"].get<std::string>().find("not JSON"), std::string::npos) << body;
  EXPECT_EQ(body["run"]["finished_at"].get<std::string>().back(), 'Z');  // UTC

  ASSERT_TRUE(stack_->Http("mfl", "DELETE", "/$testbed/faults").ok());
  absl::StatusOr<v1::Run> recovered = stack_->SyncAndWait(/*full=*/false);
  ASSERT_TRUE(recovered.ok()) << recovered.status();
  ASSERT_EQ(recovered->state(), v1::RUN_STATE_SUCCEEDED);
  std::optional<Received> back = receiver.Await("run.recovered", recovered->run_id());
  ASSERT_TRUE(back.has_value()) << stack_->LogTail("scheduler", 40);
  ExpectSigned(*back);
  body = json::parse(back->body);
  EXPECT_EQ(body["failed_run_id"], failed->run_id());

  // Exactly these three deliveries, each once; no secret in the log, and a
  // line per delivery.
  EXPECT_EQ(receiver.All().size(), 3u);
  const std::string log = stack_->LogTail("scheduler", 1000);
  EXPECT_EQ(log.find(kSecret), std::string::npos);
  EXPECT_NE(log.find("webhook delivered"), std::string::npos);
}

}  // namespace
}  // namespace mflsync::e2e
