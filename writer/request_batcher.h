// Gathers the requests of concurrent callers into shared ones: a caller
// with an ask joins a queue; while fewer than max_in_flight requests are
// out, a caller whose ask still waits sends one request for the queue's
// first asks (its own among them) over its own connection, and hands each
// waiting caller its answer. A caller alone sends at once, as if there were
// no batcher; N callers at the same time share about max_in_flight requests
// a round instead of N. No timer: nothing waits for company. Thread-safe.
// Used for the writer's outcome polls (OutcomeBatcher) and mutations
// (MutationBatcher), each shared by every connection to one openIMIS.
#ifndef MFLSYNC_WRITER_REQUEST_BATCHER_H_
#define MFLSYNC_WRITER_REQUEST_BATCHER_H_

#include <algorithm>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace mflsync::writer {

template <typename Ask, typename Answer>
class RequestBatcher {
 public:
  // Sends one request for `asks` and answers one result per ask, in order
  // (or one error for the whole request).
  using SendFn =
      std::function<absl::StatusOr<std::vector<Answer>>(const std::vector<Ask>& asks)>;

  // Told the number of asks of each request as it is sent (e.g. a metric);
  // called with no lock held.
  using OnRequestFn = std::function<void(size_t asks)>;

  // At most `max_batch` asks per request and `max_in_flight` requests out
  // at once (each at least 1). `on_request` may be empty.
  explicit RequestBatcher(int max_batch, int max_in_flight = 1, OnRequestFn on_request = {})
      : max_batch_(static_cast<size_t>(std::max(1, max_batch))),
        max_in_flight_(std::max(1, max_in_flight)),
        on_request_(std::move(on_request)) {}

  // The answer to `ask` from the first request that carries it; `send` is
  // called on this thread when this caller sends the request.
  absl::StatusOr<Answer> Await(const Ask& ask, const SendFn& send) {
    Waiter me{&ask};
    absl::MutexLock lock(&mu_);
    queue_.push_back(&me);
    while (!me.done) {
      if (me.queued && in_flight_ < max_in_flight_) {
        SendRound(&me, send);
      } else {
        me.wake.Wait(&mu_);
      }
    }
    return std::move(me.answer);
  }

  // The asks waiting for a request to start now. (What each request
  // carried is told to the observer.)
  int waiting() const {
    absl::MutexLock lock(&mu_);
    return static_cast<int>(queue_.size());
  }

 private:
  struct Waiter {
    const Ask* ask;
    bool queued = true;  // not yet taken into a request
    bool done = false;
    absl::StatusOr<Answer> answer = absl::UnknownError("not sent");
    // Signalled when this caller has its answer, or may send (a request
    // slot is free and it is first in the queue). Each caller has its own,
    // so that the end of a request wakes only those it concerns.
    absl::CondVar wake;
  };

  // Wakes the first waiting caller when a request could start now: it sends
  // the next request (for itself and those queued behind it).
  void WakeNextSender() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (in_flight_ < max_in_flight_ && !queue_.empty()) queue_.front()->wake.Signal();
  }

  // Sends one request for `own` and the longest-waiting others, up to
  // max_batch_, with mu_ released meanwhile, and answers each.
  void SendRound(Waiter* own, const SendFn& send) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::vector<Waiter*> round = {own};
    queue_.erase(std::find(queue_.begin(), queue_.end(), own));
    while (round.size() < max_batch_ && !queue_.empty()) {
      round.push_back(queue_.front());
      queue_.pop_front();
    }
    std::vector<Ask> asks;
    asks.reserve(round.size());
    for (Waiter* w : round) {
      w->queued = false;
      asks.push_back(*w->ask);
    }
    ++in_flight_;
    WakeNextSender();  // another slot free: those left queued need not wait for this one
    mu_.Unlock();
    if (on_request_) on_request_(round.size());
    absl::StatusOr<std::vector<Answer>> answers = send(asks);
    mu_.Lock();
    if (answers.ok() && answers->size() != round.size()) {
      answers = absl::InternalError(absl::StrCat("a request for ", round.size(),
                                                 " asks gave ", answers->size(), " answers"));
    }
    for (size_t i = 0; i < round.size(); ++i) {
      round[i]->answer = answers.ok() ? absl::StatusOr<Answer>(std::move((*answers)[i]))
                                      : absl::StatusOr<Answer>(answers.status());
      round[i]->done = true;
      if (round[i] != own) round[i]->wake.Signal();
    }
    --in_flight_;
    WakeNextSender();
  }

  const size_t max_batch_;
  const int max_in_flight_;
  const OnRequestFn on_request_;
  mutable absl::Mutex mu_;
  std::deque<Waiter*> queue_ ABSL_GUARDED_BY(mu_);
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace mflsync::writer

#endif  // MFLSYNC_WRITER_REQUEST_BATCHER_H_
