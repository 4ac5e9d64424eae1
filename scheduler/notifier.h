// Delivers each source's webhook notifications (webhook_config.h) in the
// background so that a run's end never waits for, or fails because of, a
// receiver: RunEnded only queues the run (a bounded queue: beyond
// kMaxQueued the oldest is dropped with a log line); one thread turns it
// into events (NotificationEvents, with the entries the run created from
// the state database), signs each body (X-Mflsync-Signature, HMAC-SHA256 of
// timestamp + "." + body) and POSTs it, retrying with the suite's backoff.
// Deliveries live in memory only: those pending when the scheduler stops
// are dropped with a log line (docs/operations.md says so).
#ifndef MFLSYNC_SCHEDULER_NOTIFIER_H_
#define MFLSYNC_SCHEDULER_NOTIFIER_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/http_client.h"
#include "mflsync/v1/scheduler.pb.h"
#include "scheduler/notification_events.h"
#include "scheduler/state_store.h"
#include "scheduler/webhook_config.h"

namespace mflsync::scheduler {

// The headers of one signed delivery: X-Mflsync-Event, X-Mflsync-Delivery,
// X-Mflsync-Timestamp (Unix seconds) and, with a secret,
// X-Mflsync-Signature "sha256=" + HMAC-SHA256(secret, timestamp "." body).
HttpHeaders WebhookHeaders(const std::string& event, const std::string& delivery_id,
                           const std::string& body, const std::string& secret,
                           absl::Time now);

class Notifier {
 public:
  // Sends one request; tests replace it. The default: HttpClient with the
  // webhook's timeout and TLS options.
  using Transport =
      std::function<absl::StatusOr<HttpResponse>(const WebhookConfig&, const HttpRequest&)>;
  static constexpr size_t kMaxQueued = 1000;

  Notifier(StateStore& store, std::map<std::string, WebhookConfig> hooks,
           Transport transport = {});
  ~Notifier();  // stops the thread; undelivered notifications are logged and dropped

  // Queues `run` (just ended) for its source's webhook; returns at once.
  void RunEnded(const v1::Run& run);
  // Waits until nothing is queued or due, or `timeout` passes (tests).
  bool WaitIdle(absl::Duration timeout);

 private:
  struct Delivery {
    const WebhookConfig* hook;
    std::string id;     // run id + "." + event: the receiver's idempotency key
    std::string event;
    std::string body;
    int attempts = 0;
    absl::Time due;
  };
  void Loop();
  // Turns an ended run into deliveries (mu_ not held).
  std::vector<Delivery> Deliveries(const v1::Run& run);
  // The source's last real run before this process, for NotificationEvents.
  void SeedSource(const std::string& source, const std::string& current_run);
  // One attempt; true when the receiver answered 2xx.
  bool Send(Delivery& delivery);
  void Requeue(Delivery delivery);  // after a failed attempt (mu_ held)

  StateStore& store_;
  std::map<std::string, WebhookConfig> hooks_;
  Transport transport_;
  NotificationEvents events_;  // the loop thread's only

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool busy_ = false;                 // the loop is working on something taken off
  std::deque<v1::Run> ended_;         // runs to turn into deliveries
  std::multimap<absl::Time, Delivery> due_;  // by when the next attempt is due
  std::thread thread_;
};

}  // namespace mflsync::scheduler

#endif  // MFLSYNC_SCHEDULER_NOTIFIER_H_
