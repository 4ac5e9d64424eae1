// The notifier's rules: which events a sequence of run outcomes yields
// (NotificationEvents), what a body holds and leaves out, the signature, the
// URL checks, and delivery in the background with retries (Notifier, over
// a real state database and a transport that fails on demand).
#include "scheduler/notifier.h"

#include <mutex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/hmac.h"
#include "common/proto_time.h"
#include "scheduler/notification_events.h"
#include "scheduler/webhook_config.h"
#include "tests/scheduler/test_util.h"

namespace mflsync::scheduler {
namespace {

using testing::Parked;
using testing::TestRecord;

v1::Run Ended(const std::string& id, v1::RunState state, bool dry_run = false) {
  v1::Run run;
  run.set_run_id(id);
  run.set_source_id("mfl");
  run.set_trigger(v1::RUN_TRIGGER_SCHEDULE);
  run.set_state(state);
  run.set_dry_run(dry_run);
  *run.mutable_started_at() = ToTimestamp(absl::FromUnixSeconds(1700000000));
  *run.mutable_finished_at() = ToTimestamp(absl::FromUnixSeconds(1700000060));
  if (state == v1::RUN_STATE_FAILED) run.set_error("writer: openIMIS unreachable");
  return run;
}

std::vector<std::string> Names(const std::vector<Notification>& events) {
  std::vector<std::string> names;
  for (const Notification& n : events) names.push_back(n.event);
  return names;
}

using Names_t = std::vector<std::string>;

TEST(NotificationEventsTest, FailuresThenRecoveryOnce) {
  NotificationEvents events;
  events.Seed("mfl", std::nullopt);
  EXPECT_EQ(Names(events.RunEnded(Ended("run-1", v1::RUN_STATE_SUCCEEDED), {})), Names_t{});
  EXPECT_EQ(Names(events.RunEnded(Ended("run-2", v1::RUN_STATE_FAILED), {})),
            Names_t{kRunFailed});
  EXPECT_EQ(Names(events.RunEnded(Ended("run-3", v1::RUN_STATE_FAILED), {})),
            Names_t{kRunFailed});
  // A cancellation neither fails nor recovers the source.
  EXPECT_EQ(Names(events.RunEnded(Ended("run-4", v1::RUN_STATE_CANCELLED), {})), Names_t{});
  // A dry run says nothing, whatever its outcome.
  EXPECT_EQ(Names(events.RunEnded(Ended("run-5", v1::RUN_STATE_SUCCEEDED, true), {})),
            Names_t{});
  std::vector<Notification> recovered =
      events.RunEnded(Ended("run-6", v1::RUN_STATE_SUCCEEDED), {});
  ASSERT_EQ(Names(recovered), Names_t{kRunRecovered});
  EXPECT_EQ(recovered[0].body["failed_run_id"], "run-3");
  EXPECT_EQ(recovered[0].body["run"]["id"], "run-6");
  EXPECT_EQ(Names(events.RunEnded(Ended("run-7", v1::RUN_STATE_SUCCEEDED), {})), Names_t{});
}

TEST(NotificationEventsTest, ASeededFailureRecoversAfterARestart) {
  NotificationEvents events;
  events.Seed("mfl", "run-9");
  EXPECT_TRUE(events.Seeded("mfl"));
  EXPECT_FALSE(events.Seeded("other"));
  std::vector<Notification> out = events.RunEnded(Ended("run-10", v1::RUN_STATE_SUCCEEDED), {});
  ASSERT_EQ(Names(out), Names_t{kRunRecovered});
  EXPECT_EQ(out[0].body["failed_run_id"], "run-9");
}

TEST(NotificationEventsTest, NewEntriesListIdsAndReasonCodesOnly) {
  NotificationEvents events;
  events.Seed("mfl", std::nullopt);
  NewFailures created;
  created.count = 7;
  v1::Failure f;
  f.set_failure_id(42);
  f.set_location_id("fac-1");
  f.set_version_id("3");
  f.set_stage(v1::FAILURE_STAGE_MAP);
  f.set_reason("name 'Clinic of Someone' is too long");
  f.set_raw_json(R"({"resourceType":"Location","name":"Clinic of Someone"})");
  created.first.push_back(f);
  std::vector<Notification> out = events.RunEnded(Ended("run-1", v1::RUN_STATE_FAILED), created);
  ASSERT_EQ(Names(out), (Names_t{kRunFailed, kFailuresNew}));
  const nlohmann::json& body = out[1].body;
  EXPECT_EQ(body["event"], kFailuresNew);
  EXPECT_EQ(body["source"], "mfl");
  EXPECT_EQ(body["failures"]["new"], 7);
  ASSERT_EQ(body["failures"]["first"].size(), 1u);
  EXPECT_EQ(body["failures"]["first"][0]["failure_id"], 42);
  EXPECT_EQ(body["failures"]["first"][0]["stage"], "map");
  EXPECT_EQ(body.dump().find("Clinic of Someone"), std::string::npos) << body.dump();
  // Times in UTC, state and trigger in words.
  EXPECT_EQ(body["run"]["started_at"], "2023-11-14T22:13:20.000Z");
  EXPECT_EQ(body["run"]["state"], "failed");
  EXPECT_EQ(body["run"]["trigger"], "schedule");
  EXPECT_EQ(out[0].body["error"], "writer: openIMIS unreachable");
}

TEST(WebhookHeadersTest, SignatureIsHmacOfTimestampDotBody) {
  const absl::Time now = absl::FromUnixSeconds(1700000123);
  HttpHeaders signed_headers =
      WebhookHeaders(kRunFailed, "run-1.run.failed", "{\"a\":1}", "0123456789abcdef", now);
  std::map<std::string, std::string> h(signed_headers.begin(), signed_headers.end());
  EXPECT_EQ(h["X-Mflsync-Timestamp"], "1700000123");
  EXPECT_EQ(h["X-Mflsync-Event"], kRunFailed);
  EXPECT_EQ(h["X-Mflsync-Signature"],
            "sha256=" + HmacSha256Hex("0123456789abcdef", "1700000123.{\"a\":1}"));
  HttpHeaders unsigned_headers = WebhookHeaders(kRunFailed, "d", "{}", "", now);
  for (const auto& [name, value] : unsigned_headers) EXPECT_NE(name, "X-Mflsync-Signature");
}

TEST(WebhookConfigTest, PlainHttpOnlyToLoopbackUnlessAllowed) {
  EXPECT_TRUE(CheckWebhookUrl("k", "https://hooks.example.org/x", false).ok());
  EXPECT_TRUE(CheckWebhookUrl("k", "http://127.0.0.1:9/x", false).ok());
  EXPECT_TRUE(CheckWebhookUrl("k", "http://localhost/x", false).ok());
  EXPECT_TRUE(CheckWebhookUrl("k", "http://[::1]:8080/x", false).ok());
  absl::Status off = CheckWebhookUrl("sources.mfl.webhook.url", "http://hooks.example.org/", false);
  EXPECT_EQ(off.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(off.message().find("sources.mfl.webhook.url: plain http:// to hooks.example.org"),
            std::string::npos)
      << off;
  // A name that starts like a loopback address is still a name.
  EXPECT_FALSE(CheckWebhookUrl("k", "http://127.0.0.1.example.org/", false).ok());
  EXPECT_TRUE(CheckWebhookUrl("k", "http://hooks.example.org/", true).ok());
  EXPECT_FALSE(CheckWebhookUrl("k", "ftp://hooks.example.org/", true).ok());
}

TEST(WebhookConfigTest, FromConfigChecksEventsAndSecret) {
  std::vector<ConfigField> schema = WebhookSchema();
  schema.push_back({.key = "sources.*.enabled", .type = ConfigType::kBool,
                    .default_value = "true"});
  auto load = [&](std::map<std::string, std::string> env) {
    absl::StatusOr<Config> c = Config::Load(schema, "", env);
    EXPECT_TRUE(c.ok()) << c.status();
    return WebhooksFromConfig(*c);
  };
  const std::string url = "MFLSYNC_SOURCES__MFL__WEBHOOK__URL";
  auto hooks = load({{url, "http://127.0.0.1:1/h"},
                     {"MFLSYNC_SOURCES__MFL__WEBHOOK__EVENTS", "run.failed, run.recovered"},
                     {"MFLSYNC_SOURCES__MFL__WEBHOOK__SECRET", "a-secret-of-20-chars"},
                     {"MFLSYNC_SOURCES__OTHER__ENABLED", "true"}});
  ASSERT_TRUE(hooks.ok()) << hooks.status();
  ASSERT_EQ(hooks->size(), 1u);  // "other" has no URL
  EXPECT_EQ(hooks->at("mfl").events, (std::set<std::string>{kRunFailed, kRunRecovered}));
  auto bad_event = load({{url, "http://127.0.0.1:1/h"},
                         {"MFLSYNC_SOURCES__MFL__WEBHOOK__EVENTS", "run.failed,run.fialed"}});
  ASSERT_FALSE(bad_event.ok());
  EXPECT_NE(bad_event.status().message().find("unknown event 'run.fialed'"), std::string::npos);
  auto short_secret = load({{url, "http://127.0.0.1:1/h"},
                            {"MFLSYNC_SOURCES__MFL__WEBHOOK__SECRET", "short-one"}});
  ASSERT_FALSE(short_secret.ok());
  EXPECT_EQ(short_secret.status().message().find("short-one"), std::string::npos);
  auto secret_alone = load({{"MFLSYNC_SOURCES__MFL__WEBHOOK__SECRET", "a-secret-of-20-chars"}});
  ASSERT_FALSE(secret_alone.ok());
  EXPECT_NE(secret_alone.status().message().find("without sources.mfl.webhook.url"),
            std::string::npos);
}

// A transport that answers 503 `failures` times, then 204, keeping every
// request.
class FlakyReceiver {
 public:
  explicit FlakyReceiver(int failures) : failures_(failures) {}
  Notifier::Transport transport() {
    return [this](const WebhookConfig&, const HttpRequest& req) -> absl::StatusOr<HttpResponse> {
      std::lock_guard<std::mutex> lock(mu_);
      requests_.push_back(req);
      HttpResponse r;
      r.status = static_cast<int>(requests_.size()) <= failures_ ? 503 : 204;
      return r;
    };
  }
  std::vector<HttpRequest> requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

 private:
  std::mutex mu_;
  int failures_;
  std::vector<HttpRequest> requests_;
};

class NotifierTest : public testing::StateStoreFixture {
 protected:
  WebhookConfig Hook() {
    WebhookConfig hook;
    hook.url = "http://127.0.0.1:1/hook";
    hook.secret = "0123456789abcdef";
    hook.events = {kRunFailed, kFailuresNew, kRunRecovered};
    hook.max_attempts = 3;
    hook.initial_backoff = absl::Milliseconds(10);
    return hook;
  }
  // A run of "mfl" that parked `parked` new entries and ended in `state`.
  v1::Run RunThatParked(int parked, v1::RunState state) {
    absl::StatusOr<v1::Run> run =
        store_->CreateRun("mfl", v1::RUN_TRIGGER_SCHEDULE, false, std::nullopt, absl::Now());
    EXPECT_TRUE(run.ok());
    std::vector<RecordOutcome> outcomes;
    for (int i = 0; i < parked; ++i) {
      outcomes.push_back(Parked(TestRecord(absl::StrCat(run->run_id(), "-loc-", i), "1", 100 + i),
                                false, "bad"));
    }
    EXPECT_TRUE(store_->CommitBatch("mfl", run->run_id(), outcomes, std::nullopt, absl::Now()).ok());
    run->set_state(state);
    EXPECT_TRUE(store_->UpdateRun(*run).ok());
    return *run;
  }
};

TEST_F(NotifierTest, DeliversSignedEventsAndRetriesUntilAccepted) {
  FlakyReceiver receiver(/*failures=*/2);
  Notifier notifier(*store_, {{"mfl", Hook()}}, receiver.transport());
  notifier.RunEnded(RunThatParked(3, v1::RUN_STATE_SUCCEEDED));
  ASSERT_TRUE(notifier.WaitIdle(absl::Seconds(20)));
  std::vector<HttpRequest> got = receiver.requests();
  ASSERT_EQ(got.size(), 3u);  // two 503s, then accepted
  for (const HttpRequest& req : got) {
    EXPECT_EQ(req.method, "POST");
    EXPECT_EQ(req.body, got[0].body);  // the same delivery each time
  }
  std::map<std::string, std::string> h(got[2].headers.begin(), got[2].headers.end());
  EXPECT_EQ(h["X-Mflsync-Signature"],
            "sha256=" + HmacSha256Hex("0123456789abcdef", h["X-Mflsync-Timestamp"] + "." +
                                                               got[2].body));
  nlohmann::json body = nlohmann::json::parse(got[2].body);
  EXPECT_EQ(body["event"], kFailuresNew);
  EXPECT_EQ(body["failures"]["new"], 3);
  EXPECT_EQ(body["delivery_id"], h["X-Mflsync-Delivery"]);
}

TEST_F(NotifierTest, GivesUpAfterMaxAttemptsAndRecoversAcrossARestart) {
  v1::Run failed = RunThatParked(0, v1::RUN_STATE_FAILED);
  {
    FlakyReceiver down(/*failures=*/100);
    Notifier notifier(*store_, {{"mfl", Hook()}}, down.transport());
    notifier.RunEnded(failed);
    ASSERT_TRUE(notifier.WaitIdle(absl::Seconds(20)));
    EXPECT_EQ(down.requests().size(), 3u);  // max_attempts, then dropped
  }
  // A new notifier (a restarted scheduler) learns from the state database
  // that the source's last run failed: the next success is a recovery.
  FlakyReceiver up(0);
  Notifier notifier(*store_, {{"mfl", Hook()}}, up.transport());
  notifier.RunEnded(RunThatParked(0, v1::RUN_STATE_SUCCEEDED));
  ASSERT_TRUE(notifier.WaitIdle(absl::Seconds(20)));
  ASSERT_EQ(up.requests().size(), 1u);
  nlohmann::json body = nlohmann::json::parse(up.requests()[0].body);
  EXPECT_EQ(body["event"], kRunRecovered);
  EXPECT_EQ(body["failed_run_id"], failed.run_id());
}

TEST_F(NotifierTest, SourcesWithoutWebhookAndUnwantedEventsSendNothing) {
  FlakyReceiver receiver(0);
  WebhookConfig hook = Hook();
  hook.events = {kRunRecovered};
  Notifier notifier(*store_, {{"mfl", hook}}, receiver.transport());
  notifier.RunEnded(RunThatParked(2, v1::RUN_STATE_FAILED));
  v1::Run elsewhere = Ended("run-x", v1::RUN_STATE_FAILED);
  elsewhere.set_source_id("other");
  notifier.RunEnded(elsewhere);
  ASSERT_TRUE(notifier.WaitIdle(absl::Seconds(20)));
  EXPECT_TRUE(receiver.requests().empty());
  notifier.RunEnded(RunThatParked(0, v1::RUN_STATE_SUCCEEDED));
  ASSERT_TRUE(notifier.WaitIdle(absl::Seconds(20)));
  ASSERT_EQ(receiver.requests().size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(receiver.requests()[0].body)["event"], kRunRecovered);
}

}  // namespace
}  // namespace mflsync::scheduler
