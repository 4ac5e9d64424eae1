#include "writer/outcome_batcher.h"

#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"

namespace mflsync::writer {
namespace {

using nlohmann::json;

// Answers each ask with its own mutation id and code, and records the
// rounds it was asked.
class RecordingPoll {
 public:
  absl::StatusOr<std::vector<json>> operator()(const std::vector<OutcomeAsk>& asks) {
    {
      absl::MutexLock lock(&mu_);
      rounds_.push_back(asks.size());
    }
    std::vector<json> answers;
    for (const OutcomeAsk& ask : asks) {
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

TEST(OutcomeBatcherTest, ALoneCallerPollsAtOnceForItself) {
  OutcomeBatcher batcher(8);
  RecordingPoll poll;
  absl::StatusOr<json> answer =
      batcher.Await({"m-1", "HF1", "create of HF1"}, [&](const auto& asks) { return poll(asks); });
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_EQ((*answer)["id"], "m-1");
  EXPECT_EQ(poll.rounds(), std::vector<size_t>{1});
  EXPECT_EQ(batcher.polls(), 1);
}

// One caller whose poll is held until `late` more callers wait, then those
// callers; returns the ids the late callers were answered, in their order.
std::vector<std::string> FirstPollHeldForLateCallers(OutcomeBatcher& batcher,
                                                     RecordingPoll& poll, int late) {
  absl::Notification first_sent;
  auto held_first = [&](const std::vector<OutcomeAsk>& asks) {
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
TEST(OutcomeBatcherTest, CallersArrivingDuringAPollShareTheNextOne) {
  constexpr int kLate = 6;
  OutcomeBatcher batcher(16);
  RecordingPoll poll;
  const std::vector<std::string> got = FirstPollHeldForLateCallers(batcher, poll, kLate);
  EXPECT_EQ(poll.rounds(), (std::vector<size_t>{1, kLate}));
  for (int i = 0; i < kLate; ++i) EXPECT_EQ(got[i], "m-" + std::to_string(i + 1));
  EXPECT_EQ(batcher.asks(), kLate + 1);
}

TEST(OutcomeBatcherTest, ARoundCarriesAtMostMaxBatchAsks) {
  constexpr int kLate = 5;
  OutcomeBatcher batcher(2);
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

TEST(OutcomeBatcherTest, AFailedPollFailsEveryAskItCarried) {
  OutcomeBatcher batcher(4);
  absl::StatusOr<json> answer = batcher.Await(
      {"m-1", "HF1", "create of HF1"}, [](const std::vector<OutcomeAsk>&) -> absl::StatusOr<std::vector<json>> {
        return absl::UnavailableError("openIMIS: HTTP 503");
      });
  EXPECT_EQ(answer.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(answer.status().message(), "openIMIS: HTTP 503");
}

TEST(OutcomeBatcherTest, APollAnsweringTheWrongNumberOfAsksIsAnError) {
  OutcomeBatcher batcher(4);
  absl::StatusOr<json> answer = batcher.Await(
      {"m-1", "HF1", "create of HF1"}, [](const std::vector<OutcomeAsk>&) -> absl::StatusOr<std::vector<json>> {
        return std::vector<json>{json::object(), json::object()};
      });
  EXPECT_EQ(answer.status().code(), absl::StatusCode::kInternal);
  EXPECT_NE(answer.status().message().find("gave 2 answers"), std::string::npos);
}

}  // namespace
}  // namespace mflsync::writer
