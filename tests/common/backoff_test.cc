#include "common/backoff.h"

#include <gtest/gtest.h>

namespace mflsync {
namespace {

TEST(ExponentialBackoffTest, DoublesFromInitialAndStopsAtMax) {
  const absl::Duration s = absl::Seconds(1);
  EXPECT_EQ(ExponentialBackoff(s, absl::Seconds(10), 0), s);
  EXPECT_EQ(ExponentialBackoff(s, absl::Seconds(10), 1), s);
  EXPECT_EQ(ExponentialBackoff(s, absl::Seconds(10), 2), absl::Seconds(2));
  EXPECT_EQ(ExponentialBackoff(s, absl::Seconds(10), 4), absl::Seconds(8));
  EXPECT_EQ(ExponentialBackoff(s, absl::Seconds(10), 5), absl::Seconds(10));
  EXPECT_EQ(ExponentialBackoff(s, absl::Seconds(10), 1000000), absl::Seconds(10));
  EXPECT_EQ(ExponentialBackoff(absl::Seconds(30), absl::Seconds(10), 1), absl::Seconds(10));
}

}  // namespace
}  // namespace mflsync
