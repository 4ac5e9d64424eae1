#include "writer/outcome_batcher.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace mflsync::writer {

struct OutcomeBatcher::Waiter {
  const OutcomeAsk* ask;
  bool done = false;
  absl::StatusOr<nlohmann::json> answer = absl::UnknownError("not polled");
};

OutcomeBatcher::OutcomeBatcher(int max_batch)
    : max_batch_(static_cast<size_t>(std::max(1, max_batch))) {}

absl::StatusOr<nlohmann::json> OutcomeBatcher::Await(const OutcomeAsk& ask,
                                                     const OutcomePollFn& send) {
  Waiter me{&ask};
  absl::MutexLock lock(&mu_);
  queue_.push_back(&me);
  while (!me.done) {
    if (!in_flight_) {
      SendRound(&me, send);
    } else {
      round_over_.Wait(&mu_);
    }
  }
  return std::move(me.answer);
}

void OutcomeBatcher::SendRound(Waiter* own, const OutcomePollFn& send) {
  // `own` first, then the longest-waiting others, up to max_batch_.
  std::vector<Waiter*> round = {own};
  queue_.erase(std::find(queue_.begin(), queue_.end(), own));
  while (round.size() < max_batch_ && !queue_.empty()) {
    round.push_back(queue_.front());
    queue_.pop_front();
  }
  std::vector<OutcomeAsk> asks;
  asks.reserve(round.size());
  for (const Waiter* w : round) asks.push_back(*w->ask);
  in_flight_ = true;
  ++polls_;
  asks_ += static_cast<int64_t>(round.size());
  mu_.Unlock();
  absl::StatusOr<std::vector<nlohmann::json>> answers = send(asks);
  mu_.Lock();
  if (answers.ok() && answers->size() != round.size()) {
    answers = absl::InternalError(absl::StrCat("a poll for ", round.size(), " mutation logs gave ",
                                               answers->size(), " answers"));
  }
  for (size_t i = 0; i < round.size(); ++i) {
    round[i]->answer = answers.ok() ? absl::StatusOr<nlohmann::json>(std::move((*answers)[i]))
                                    : absl::StatusOr<nlohmann::json>(answers.status());
    round[i]->done = true;
  }
  in_flight_ = false;
  round_over_.SignalAll();
}

int64_t OutcomeBatcher::polls() const {
  absl::MutexLock lock(&mu_);
  return polls_;
}

int64_t OutcomeBatcher::asks() const {
  absl::MutexLock lock(&mu_);
  return asks_;
}

int OutcomeBatcher::waiting() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(queue_.size());
}

}  // namespace mflsync::writer
