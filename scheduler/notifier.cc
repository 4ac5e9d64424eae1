#include "scheduler/notifier.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/backoff.h"
#include "common/hmac.h"
#include "common/log.h"
#include "common/proto_time.h"
#include "common/url.h"

namespace mflsync::scheduler {
namespace {

// The receiver's origin (scheme, host, port) for log lines: a webhook URL's
// path may itself be a credential (e.g. a chat service's hook).
std::string Receiver(const std::string& url) {
  absl::StatusOr<Url> parsed = ParseUrl(url);
  return parsed.ok() ? parsed->Origin() : "(unparsable URL)";
}

absl::StatusOr<HttpResponse> SendWithHttpClient(const WebhookConfig& hook,
                                                const HttpRequest& request) {
  HttpClientOptions options;
  options.connect_timeout = std::min(hook.timeout, absl::Seconds(10));
  options.request_timeout = hook.timeout;
  options.max_response_bytes = 64 << 10;  // the answer is not read
  options.tls = hook.tls;
  return HttpClient(options).Send(request);
}

}  // namespace

HttpHeaders WebhookHeaders(const std::string& event, const std::string& delivery_id,
                           const std::string& body, const std::string& secret,
                           absl::Time now) {
  const std::string timestamp = absl::StrCat(absl::ToUnixSeconds(now));
  HttpHeaders headers = {{"Content-Type", "application/json"},
                         {"X-Mflsync-Event", event},
                         {"X-Mflsync-Delivery", delivery_id},
                         {"X-Mflsync-Timestamp", timestamp}};
  if (!secret.empty()) {
    headers.emplace_back("X-Mflsync-Signature",
                         absl::StrCat("sha256=", HmacSha256Hex(secret, timestamp + "." + body)));
  }
  return headers;
}

Notifier::Notifier(StateStore& store, std::map<std::string, WebhookConfig> hooks,
                   Transport transport)
    : store_(store),
      hooks_(std::move(hooks)),
      transport_(transport ? std::move(transport) : Transport(SendWithHttpClient)) {
  thread_ = std::thread([this] { Loop(); });
}

Notifier::~Notifier() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    cv_.notify_all();
  }
  thread_.join();
  if (!ended_.empty() || !due_.empty()) {
    LogWarning("webhook notifications not delivered before the scheduler stopped",
               {{"runs", ended_.size()}, {"deliveries", due_.size()}});
  }
}

void Notifier::RunEnded(const v1::Run& run) {
  if (run.dry_run() || !hooks_.count(run.source_id())) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (ended_.size() >= kMaxQueued) {
    LogWarning("webhook queue full: the oldest ended run is not notified",
               {{"run", ended_.front().run_id()}, {"source", ended_.front().source_id()}});
    ended_.pop_front();
  }
  ended_.push_back(run);
  cv_.notify_all();
}

bool Notifier::WaitIdle(absl::Duration timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, std::chrono::milliseconds(absl::ToInt64Milliseconds(timeout)),
                      [&] { return ended_.empty() && due_.empty() && !busy_; });
}

void Notifier::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    const absl::Time now = absl::Now();
    if (!ended_.empty()) {
      v1::Run run = std::move(ended_.front());
      ended_.pop_front();
      busy_ = true;
      lock.unlock();
      std::vector<Delivery> deliveries = Deliveries(run);
      lock.lock();
      for (Delivery& d : deliveries) due_.emplace(d.due, std::move(d));
    } else if (!due_.empty() && due_.begin()->first <= now) {
      Delivery delivery = std::move(due_.begin()->second);
      due_.erase(due_.begin());
      busy_ = true;
      lock.unlock();
      const bool sent = Send(delivery);
      lock.lock();
      if (!sent) Requeue(std::move(delivery));
    } else {
      const absl::Duration wait =
          due_.empty() ? absl::Seconds(1) : std::min(due_.begin()->first - now, absl::Seconds(1));
      cv_.wait_for(lock, std::chrono::milliseconds(absl::ToInt64Milliseconds(wait) + 1));
      continue;
    }
    busy_ = false;
    cv_.notify_all();
  }
}

std::vector<Notifier::Delivery> Notifier::Deliveries(const v1::Run& run) {
  const WebhookConfig& hook = hooks_.at(run.source_id());
  if (!events_.Seeded(run.source_id())) SeedSource(run.source_id(), run.run_id());
  absl::StatusOr<NewFailures> created = store_.NewFailuresOf(
      run.run_id(), FromTimestamp(run.started_at()), NotificationEvents::kListedFailures);
  if (!created.ok()) {
    LogWarning("webhook: the run's new failure-queue entries cannot be read",
               {{"run", run.run_id()}, {"error", std::string(created.status().message())}});
  }
  std::vector<Delivery> out;
  for (Notification& n : events_.RunEnded(run, created.ok() ? *created : NewFailures())) {
    if (!hook.events.count(n.event)) continue;
    const std::string id = absl::StrCat(run.run_id(), ".", n.event);
    n.body["delivery_id"] = id;
    out.push_back(Delivery{&hook, id, n.event, n.body.dump(), 0, absl::Now()});
  }
  return out;
}

void Notifier::SeedSource(const std::string& source, const std::string& current_run) {
  std::string next;
  absl::StatusOr<std::vector<v1::Run>> recent = store_.ListRuns(source, 50, "", &next);
  std::optional<std::string> failed;
  if (recent.ok()) {
    for (const v1::Run& r : *recent) {  // newest first
      if (r.run_id() == current_run || r.dry_run()) continue;
      if (r.state() == v1::RUN_STATE_FAILED) failed = r.run_id();
      if (r.state() == v1::RUN_STATE_FAILED || r.state() == v1::RUN_STATE_SUCCEEDED) break;
    }
  }
  events_.Seed(source, failed);
}

bool Notifier::Send(Delivery& d) {
  ++d.attempts;
  HttpRequest request{.method = "POST", .url = d.hook->url,
                      .headers = WebhookHeaders(d.event, d.id, d.body, d.hook->secret, absl::Now()),
                      .body = d.body};
  absl::StatusOr<HttpResponse> answer = transport_(*d.hook, request);
  const bool ok = answer.ok() && answer->status >= 200 && answer->status < 300;
  nlohmann::json fields = {{"event", d.event}, {"delivery", d.id},
                           {"receiver", Receiver(d.hook->url)}, {"attempt", d.attempts}};
  if (answer.ok()) fields["status"] = answer->status;
  if (!answer.ok()) fields["error"] = std::string(answer.status().message());
  if (ok) {
    LogInfo("webhook delivered", fields);
  } else {
    LogWarning("webhook delivery failed", fields);
  }
  return ok;
}

void Notifier::Requeue(Delivery d) {
  if (d.attempts >= d.hook->max_attempts) {
    LogError("webhook delivery dropped: its attempts are spent",
             {{"event", d.event}, {"delivery", d.id}, {"receiver", Receiver(d.hook->url)},
              {"attempts", d.attempts}});
    return;
  }
  if (due_.size() >= kMaxQueued) {
    LogError("webhook queue full: a delivery is dropped", {{"delivery", d.id}});
    return;
  }
  d.due = absl::Now() + ExponentialBackoff(d.hook->initial_backoff, d.hook->max_backoff,
                                           d.attempts);
  due_.emplace(d.due, std::move(d));
}

}  // namespace mflsync::scheduler
