#include "scheduler/stage_span.h"

#include <gtest/gtest.h>

#include "scheduler/state_store.h"

namespace mflsync::scheduler {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1700000000);

TEST(StageSpanTest, EmptyHasNoWindow) {
  StageSpan span;
  EXPECT_TRUE(span.empty());
  v1::StageTiming t = span.ToProto("map");
  EXPECT_EQ(t.stage(), "map");
  EXPECT_EQ(t.millis(), 0);
  EXPECT_FALSE(t.has_first_started_at());
  EXPECT_FALSE(t.has_last_finished_at());
}

TEST(StageSpanTest, OverlappingBatchesSumTimeButKeepTheWindow) {
  StageSpan span;
  span.Add(kT0, kT0 + absl::Seconds(2));
  span.Add(kT0 + absl::Seconds(1), kT0 + absl::Seconds(3));
  v1::StageTiming t = span.ToProto("write");
  EXPECT_EQ(t.millis(), 4000);  // summed
  EXPECT_EQ(ToMicros(t.first_started_at()), absl::ToUnixMicros(kT0));
  EXPECT_EQ(ToMicros(t.last_finished_at()), absl::ToUnixMicros(kT0 + absl::Seconds(3)));
}

TEST(StageSpanTest, MergeKeepsEarliestStartAndLatestEnd) {
  StageSpan a, b;
  a.Add(kT0 + absl::Seconds(5), kT0 + absl::Seconds(6));
  b.Add(kT0, kT0 + absl::Milliseconds(500));
  a.Merge(b);
  EXPECT_EQ(a.total, absl::Milliseconds(1500));
  EXPECT_EQ(a.first_start, kT0);
  EXPECT_EQ(a.last_end, kT0 + absl::Seconds(6));
  StageSpan empty;
  a.Merge(empty);
  EXPECT_EQ(a.first_start, kT0);
}

TEST(StageSpanTest, EndBeforeStartCountsAsZero) {
  StageSpan span;
  span.Add(kT0 + absl::Seconds(1), kT0);
  EXPECT_EQ(span.total, absl::ZeroDuration());
  EXPECT_FALSE(span.empty());
}

}  // namespace
}  // namespace mflsync::scheduler
