// Gathers the outcome polls of concurrent writes into shared requests: a
// write that wants its outcome joins a queue; when no poll is in flight, the
// caller that finds the queue waiting sends one poll for everything queued
// (its own ask among them) over its own connection, and hands each waiting
// caller its answer. One writer thread alone polls at once, as before; N
// threads writing at the same time share about one poll a round instead of
// N. Thread-safe; shared by every connection to one openIMIS.
#ifndef MFLSYNC_WRITER_OUTCOME_BATCHER_H_
#define MFLSYNC_WRITER_OUTCOME_BATCHER_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace mflsync::writer {

// What one write asks: the outcome of its mutation (by clientMutationId)
// and, when it says which columns, the facility the code now names.
struct OutcomeAsk {
  std::string mutation_id;
  std::string code;
  // The write, for messages ("createHealthFacility of HF code X").
  std::string what;
  // The columns of the facility to read with the outcome (a GraphQL
  // selection; empty: the facility is not read).
  std::string columns;
};

// Sends one poll for `asks` and answers one result per ask, in order (or
// one error for the whole request).
using OutcomePollFn = std::function<absl::StatusOr<std::vector<nlohmann::json>>(
    const std::vector<OutcomeAsk>& asks)>;

class OutcomeBatcher {
 public:
  // At most `max_batch` asks per poll (at least 1).
  explicit OutcomeBatcher(int max_batch);

  // The answer to `ask` from the first poll that carries it; `send` is
  // called on this thread when this caller sends the poll.
  absl::StatusOr<nlohmann::json> Await(const OutcomeAsk& ask, const OutcomePollFn& send);

  // Polls sent and asks answered so far, and
  // the asks waiting for a poll to start now.
  int64_t polls() const;
  int64_t asks() const;
  int waiting() const;

 private:
  struct Waiter;
  // Sends one poll for the queue's first asks (`own` among them), with mu_
  // released meanwhile, and answers each.
  void SendRound(Waiter* own, const OutcomePollFn& send) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const size_t max_batch_;
  mutable absl::Mutex mu_;
  std::deque<Waiter*> queue_ ABSL_GUARDED_BY(mu_);
  bool in_flight_ ABSL_GUARDED_BY(mu_) = false;
  absl::CondVar round_over_;
  int64_t polls_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t asks_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace mflsync::writer

#endif  // MFLSYNC_WRITER_OUTCOME_BATCHER_H_
