#include "common/proto_time.h"

#include <gtest/gtest.h>

namespace mflsync {
namespace {

TEST(ProtoTimeTest, KeepsMicrosecondsBothWays) {
  const absl::Time t = absl::FromUnixMicros(1709858057552123);
  const google::protobuf::Timestamp ts = ToTimestamp(t);
  EXPECT_EQ(ts.seconds(), 1709858057);
  EXPECT_EQ(ts.nanos(), 552123000);
  EXPECT_EQ(FromTimestamp(ts), t);
  EXPECT_EQ(ToMicros(ts), 1709858057552123);
  EXPECT_EQ(ToMicros(FromMicros(1709858057552123)), 1709858057552123);
}

TEST(ProtoTimeTest, TimesBefore1970RoundDownWithPositiveNanos) {
  const google::protobuf::Timestamp ts = FromMicros(-1);  // 1969-12-31T23:59:59.999999Z
  EXPECT_EQ(ts.seconds(), -1);
  EXPECT_EQ(ts.nanos(), 999999000);
  EXPECT_EQ(ToMicros(ts), -1);
  EXPECT_EQ(FromTimestamp(ts), absl::FromUnixMicros(-1));
}

TEST(ProtoTimeTest, SubMicrosecondNanosAreDropped) {
  google::protobuf::Timestamp ts;
  ts.set_seconds(10);
  ts.set_nanos(1999);
  EXPECT_EQ(ToMicros(ts), 10000001);
  EXPECT_EQ(FromTimestamp(ts), absl::FromUnixMicros(10000001));
}

}  // namespace
}  // namespace mflsync
