// Newest version wins: which record versions may still be written.
#include "scheduler/version_order.h"

#include <gtest/gtest.h>

#include "scheduler/state_store.h"

namespace mflsync::scheduler {
namespace {

v1::SourceRecord Record(const std::string& version, int64_t micros) {
  v1::SourceRecord r;
  r.set_location_id("fac-1");
  r.set_version_id(version);
  *r.mutable_last_updated() = FromMicros(micros);
  return r;
}

v1::RecordKey Newest(const std::string& version, int64_t micros) {
  v1::RecordKey k;
  k.set_location_id("fac-1");
  k.set_version_id(version);
  *k.mutable_last_updated() = FromMicros(micros);
  return k;
}

TEST(VersionOrderTest, AnOlderVersionIsStaleInEveryRun) {
  EXPECT_TRUE(IsStale(Record("1", 1000), Newest("2", 2000), /*reverify_equal=*/false));
  EXPECT_TRUE(IsStale(Record("1", 1000), Newest("2", 2000), /*reverify_equal=*/true));
  // lastUpdated orders versions, whatever their ids say.
  EXPECT_TRUE(IsStale(Record("9", 1999), Newest("10", 2000), false));
}

TEST(VersionOrderTest, TheSameVersionIsStaleUnlessAFullRunReverifiesIt) {
  EXPECT_TRUE(IsStale(Record("2", 2000), Newest("2", 2000), false));
  EXPECT_FALSE(IsStale(Record("2", 2000), Newest("2", 2000), true));
  // A different version with the same time is processed: it may be the change.
  EXPECT_FALSE(IsStale(Record("3", 2000), Newest("2", 2000), false));
}

TEST(VersionOrderTest, ANewerVersionIsWritten) {
  EXPECT_FALSE(IsStale(Record("3", 2001), Newest("2", 2000), false));
  EXPECT_FALSE(IsStale(Record("1", 2001), Newest("2", 2000), false));
}

}  // namespace
}  // namespace mflsync::scheduler
