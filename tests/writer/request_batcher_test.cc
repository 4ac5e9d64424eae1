#include "writer/request_batcher.h"

#include <atomic>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"

namespace mflsync::writer {
namespace {

using nlohmann::json;

struct Ask {
  std::string mutation_id;
  std::string code;
  std::string what;
};
using Batcher = RequestBatcher<Ask, json>;

// Answers each ask with its own mutation id and code, and records the
// rounds it was asked.
class RecordingPoll {
 public:
  absl::StatusOr<std::vector<json>> operator()(const std::vector<Ask>& asks) {
    {
      absl::MutexLock lock(&mu_);
      rounds_.push_back(asks.size());
    }
    std::vector<json> answers;
    for (const Ask& ask : asks) {
      answers.push_back(json{{"id", ask.mutation_id}, {"code", ask.code}});
    }
    return answers;
  }
  std::vector<size_t> rounds() const {
    absl::MutexLock lock(&mu_);
    return rounds_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<size_t> rounds_;
};

TEST(RequestBatcherTest, ALoneCallerPollsAtOnceForItself) {
  Batcher batcher(8);
  RecordingPoll poll;
  absl::StatusOr<json> answer =
      batcher.Await({"m-1", "HF1", "create of HF1"}, [&](const auto& asks) { return poll(asks); });
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_EQ((*answer)["id"], "m-1");
  EXPECT_EQ(poll.rounds(), std::vector<size_t>{1});
}

// One caller whose poll is held until `late` more callers wait, then those
// callers; returns the ids the late callers were answered, in their order.
std::vector<std::string> FirstPollHeldForLateCallers(Batcher& batcher,
                                                     RecordingPoll& poll, int late) {
  absl::Notification first_sent;
  auto held_first = [&](const std::vector<Ask>& asks) {
    if (!first_sent.HasBeenNotified()) {
      first_sent.Notify();
      while (batcher.waiting() < late) absl::SleepFor(absl::Milliseconds(1));
    }
    return poll(asks);
  };
  std::thread first([&] {
    EXPECT_TRUE(batcher.Await({"m-0", "HF0", "create of HF0"}, held_first).ok());
  });
  first_sent.WaitForNotification();
  std::vector<std::thread> threads;
  std::vector<std::string> got(late);
  for (int i = 0; i < late; ++i) {
    threads.emplace_back([&, i] {
      absl::StatusOr<json> answer =
          batcher.Await({"m-" + std::to_string(i + 1), "HF", "update"}, held_first);
      if (answer.ok()) got[i] = (*answer)["id"];
    });
  }
  first.join();
  for (std::thread& t : threads) t.join();
  return got;
}

// While one poll is in flight, every caller that arrives queues; the next
// round carries them all in one request, and each gets its own answer.
TEST(RequestBatcherTest, CallersArrivingDuringAPollShareTheNextOne) {
  constexpr int kLate = 6;
  Batcher batcher(16);
  RecordingPoll poll;
  const std::vector<std::string> got = FirstPollHeldForLateCallers(batcher, poll, kLate);
  EXPECT_EQ(poll.rounds(), (std::vector<size_t>{1, kLate}));
  for (int i = 0; i < kLate; ++i) EXPECT_EQ(got[i], "m-" + std::to_string(i + 1));
}

TEST(RequestBatcherTest, ARoundCarriesAtMostMaxBatchAsks) {
  constexpr int kLate = 5;
  Batcher batcher(2);
  RecordingPoll poll;
  const std::vector<std::string> got = FirstPollHeldForLateCallers(batcher, poll, kLate);
  size_t answered = 0;
  for (size_t round : poll.rounds()) {
    EXPECT_LE(round, 2u);
    answered += round;
  }
  EXPECT_EQ(answered, kLate + 1u);
  EXPECT_GE(poll.rounds().size(), 4u);  // 1 + ceil(5 / 2)
  for (int i = 0; i < kLate; ++i) EXPECT_EQ(got[i], "m-" + std::to_string(i + 1));
}

// The observer (the writer's metric) hears of every request with its asks.
TEST(RequestBatcherTest, TheObserverIsToldEachRequestsAsks) {
  constexpr int kLate = 6;
  absl::Mutex mu;
  std::vector<size_t> told;
  Batcher batcher(16, 1, [&](size_t asks) {
    absl::MutexLock lock(&mu);
    told.push_back(asks);
  });
  RecordingPoll poll;
  FirstPollHeldForLateCallers(batcher, poll, kLate);
  absl::MutexLock lock(&mu);
  EXPECT_EQ(told, poll.rounds());
  EXPECT_EQ(told, (std::vector<size_t>{1, kLate}));
}

TEST(RequestBatcherTest, AFailedPollFailsEveryAskItCarried) {
  Batcher batcher(4);
  absl::StatusOr<json> answer = batcher.Await(
      {"m-1", "HF1", "create of HF1"},
      [](const std::vector<Ask>&) -> absl::StatusOr<std::vector<json>> {
        return absl::UnavailableError("openIMIS: HTTP 503");
      });
  EXPECT_EQ(answer.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(answer.status().message(), "openIMIS: HTTP 503");
}

TEST(RequestBatcherTest, APollAnsweringTheWrongNumberOfAsksIsAnError) {
  Batcher batcher(4);
  absl::StatusOr<json> answer = batcher.Await(
      {"m-1", "HF1", "create of HF1"},
      [](const std::vector<Ask>&) -> absl::StatusOr<std::vector<json>> {
        return std::vector<json>{json::object(), json::object()};
      });
  EXPECT_EQ(answer.status().code(), absl::StatusCode::kInternal);
  EXPECT_NE(answer.status().message().find("gave 2 answers"), std::string::npos);
}

// With two requests allowed out at once, a second caller sends while the
// first request is still out; callers arriving while both are out share
// the next one, and a caller whose ask is in a request never sends again.
TEST(RequestBatcherTest, UpToMaxInFlightRequestsAreOutAtOnce) {
  constexpr int kLate = 4;
  Batcher batcher(8, 2);
  RecordingPoll poll;
  absl::Notification first_out;
  absl::Notification both_out;
  absl::Mutex mu;
  int out = 0;  // requests being sent now
  int most_out = 0;
  std::atomic<bool> late_queued{false};
  auto held = [&](const std::vector<Ask>& asks) {
    {
      absl::MutexLock lock(&mu);
      most_out = std::max(most_out, ++out);
      // (the late callers' request may make one or two out again later)
      if (out == 1 && !first_out.HasBeenNotified()) first_out.Notify();
      if (out == 2 && !both_out.HasBeenNotified()) both_out.Notify();
    }
    if (asks.front().code != "late") {
      both_out.WaitForNotification();
      // Until every late caller waits (once seen, the other request need not
      // see it again: the late ones may be out by then).
      while (!late_queued && batcher.waiting() < kLate) absl::SleepFor(absl::Milliseconds(1));
      late_queued = true;
    }
    absl::StatusOr<std::vector<json>> answers = poll(asks);
    absl::MutexLock lock(&mu);
    --out;
    return answers;
  };
  std::vector<std::thread> threads;
  std::vector<std::string> got(2 + kLate);
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back([&, i] {
      absl::StatusOr<json> answer = batcher.Await({"m-" + std::to_string(i), "HF", "w"}, held);
      if (answer.ok()) got[i] = (*answer)["id"];
    });
    // The second caller comes once the first request is out, so that it
    // sends its own instead of joining the first.
    if (i == 0) first_out.WaitForNotification();
  }
  both_out.WaitForNotification();
  for (int i = 2; i < 2 + kLate; ++i) {
    threads.emplace_back([&, i] {
      absl::StatusOr<json> answer =
          batcher.Await({"m-" + std::to_string(i), "late", "w"}, held);
      if (answer.ok()) got[i] = (*answer)["id"];
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(most_out, 2);
  for (int i = 0; i < 2 + kLate; ++i) EXPECT_EQ(got[i], "m-" + std::to_string(i));
  const std::vector<size_t> rounds = poll.rounds();
  EXPECT_EQ(std::accumulate(rounds.begin(), rounds.end(), size_t{0}), 2u + kLate)
      << "each ask carried once";
  // The late callers went out together, at most in two requests.
  EXPECT_LE(rounds.size(), 4u);
}

}  // namespace
}  // namespace mflsync::writer
