// ServerClock: the largest server − local difference seen bounds openIMIS's
// clock from below.
#include "writer/server_clock.h"

#include <gtest/gtest.h>

namespace mflsync::writer {
namespace {

TEST(ServerClockTest, KnowsNothingBeforeAnObservation) {
  ServerClock clock;
  EXPECT_FALSE(clock.AtLeast().has_value());
}

TEST(ServerClockTest, TheLargestDifferenceSeenIsTheBound) {
  ServerClock clock;
  const absl::Time local = absl::FromUnixSeconds(1000);
  // openIMIS three hours ahead (naive local time in UTC+3), stamps seen late.
  clock.Observe(local + absl::Hours(3) - absl::Seconds(2), local);
  clock.Observe(local + absl::Hours(3) - absl::Seconds(5), local + absl::Seconds(1));
  EXPECT_EQ(clock.AtLeast(local + absl::Seconds(10)),
            local + absl::Seconds(10) + absl::Hours(3) - absl::Seconds(2));
  clock.Observe(absl::InfinitePast(), local);  // no stamp: ignored
  EXPECT_EQ(clock.AtLeast(local), local + absl::Hours(3) - absl::Seconds(2));
}

}  // namespace
}  // namespace mflsync::writer
