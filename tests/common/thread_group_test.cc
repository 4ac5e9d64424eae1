#include "common/thread_group.h"

#include <atomic>

#include <gtest/gtest.h>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"

namespace mflsync {
namespace {

// Polls `done` for up to 10 s.
bool Eventually(const std::function<bool()>& done) {
  const absl::Time until = absl::Now() + absl::Seconds(10);
  while (!done()) {
    if (absl::Now() > until) return false;
    absl::SleepFor(absl::Milliseconds(1));
  }
  return true;
}

TEST(ThreadGroupTest, AThreadWhoseJobEndedIsJoinedWhenTheNextStarts) {
  ThreadGroup group;
  group.Start([] {});
  ASSERT_TRUE(Eventually([&] { return group.ended() == 1; }));
  EXPECT_EQ(group.unjoined(), 1u);

  absl::Notification release;
  group.Start([&] { release.WaitForNotification(); });
  EXPECT_EQ(group.unjoined(), 1u);  // the first joined; the second running
  EXPECT_EQ(group.ended(), 0u);
  release.Notify();
  group.JoinAll();
  EXPECT_EQ(group.unjoined(), 0u);
  EXPECT_EQ(group.ended(), 0u);
}

TEST(ThreadGroupTest, ManyJobsOneAfterAnotherKeepFewThreads) {
  ThreadGroup group;
  std::atomic<int> ran{0};
  size_t most = 0;
  for (int i = 0; i < 500; ++i) {
    group.Start([&] { ++ran; });
    ASSERT_TRUE(Eventually([&] { return group.ended() >= 1; }));
    most = std::max(most, group.unjoined());
  }
  group.JoinAll();
  EXPECT_EQ(ran.load(), 500);
  EXPECT_EQ(most, 1u);  // each Start joined the one before
  EXPECT_EQ(group.unjoined(), 0u);
}

TEST(ThreadGroupTest, JoinAllWaitsForRunningJobs) {
  std::atomic<int> ran{0};
  {
    ThreadGroup group;
    for (int i = 0; i < 8; ++i) {
      group.Start([&] {
        absl::SleepFor(absl::Milliseconds(20));
        ++ran;
      });
    }
    group.JoinAll();
    EXPECT_EQ(ran.load(), 8);
    group.Start([&] { ++ran; });
  }  // the destructor joins the last one
  EXPECT_EQ(ran.load(), 9);
}

}  // namespace
}  // namespace mflsync
