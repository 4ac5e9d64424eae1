#include "scheduler/location_claims.h"

#include <atomic>
#include <thread>

#include <gtest/gtest.h>

#include "absl/time/clock.h"

namespace mflsync::scheduler {
namespace {

TEST(LocationClaimsTest, ASecondClaimOfALocationWaitsForItsRelease) {
  LocationClaims claims;
  ASSERT_TRUE(claims.Claim("mfl", {"a", "b"}, [] { return false; }));
  EXPECT_EQ(claims.size(), 2u);
  std::atomic<bool> claimed{false};
  std::thread other([&] {
    EXPECT_TRUE(claims.Claim("mfl", {"c", "b"}, [] { return false; }));
    claimed = true;
  });
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_FALSE(claimed.load()) << "b was claimed twice";
  EXPECT_EQ(claims.size(), 2u) << "a waiting claim took part of its Locations";
  claims.Release("mfl", {"a", "b"});
  other.join();
  EXPECT_TRUE(claimed.load());
  EXPECT_EQ(claims.size(), 2u);  // c and b
  claims.Release("mfl", {"c", "b"});
  EXPECT_EQ(claims.size(), 0u);
}

TEST(LocationClaimsTest, SourcesAreSeparateAndAGivenUpClaimTakesNothing) {
  LocationClaims claims;
  ASSERT_TRUE(claims.Claim("mfl", {"a"}, [] { return false; }));
  EXPECT_TRUE(claims.Claim("other", {"a"}, [] { return false; }));
  int asked = 0;
  EXPECT_FALSE(claims.Claim("mfl", {"z", "a"}, [&] { return ++asked > 2; }));
  EXPECT_GT(asked, 2);
  EXPECT_EQ(claims.size(), 2u);  // mfl/a and other/a; z was not taken
  claims.Release("mfl", {"a"});
  claims.Release("other", {"a"});
  EXPECT_EQ(claims.size(), 0u);
}

TEST(LocationClaimsTest, ARepeatedLocationInOneClaimIsReleasedByItsRelease) {
  LocationClaims claims;
  ASSERT_TRUE(claims.Claim("mfl", {"a", "a"}, [] { return false; }));
  claims.Release("mfl", {"a", "a"});
  EXPECT_EQ(claims.size(), 0u);
}

}  // namespace
}  // namespace mflsync::scheduler
