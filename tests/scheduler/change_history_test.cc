#include "scheduler/change_history.h"

#include <gtest/gtest.h>

#include "absl/time/clock.h"
#include "scheduler/state_store.h"
#include "tests/scheduler/test_util.h"

namespace mflsync::scheduler {
namespace {

using testing::Done;
using testing::Parked;
using testing::TestRecord;
using testing::Written;

class ChangeHistoryTest : public testing::StateStoreFixture {
 protected:
  // Every change `filter` selects, page by page (pages of 2).
  std::vector<v1::FacilityChange> All(const ChangeFilter& filter) {
    std::vector<v1::FacilityChange> out;
    std::string token;
    do {
      std::string next;
      auto page = store_->ListChanges(filter, 2, token, &next);
      EXPECT_TRUE(page.ok()) << page.status();
      if (!page.ok()) break;
      EXPECT_LE(page->size(), 2u);
      out.insert(out.end(), page->begin(), page->end());
      token = next;
    } while (!token.empty());
    return out;
  }

  const absl::Time t0_ = absl::FromUnixSeconds(1700000000);
};

TEST_F(ChangeHistoryTest, ABatchRecordsTheChangesOfItsWritesOnly) {
  ASSERT_TRUE(store_->CommitBatch("kenya", "run-000001",
                                  {Written(TestRecord("fac-1", "1", 100), "run-000001", "101"),
                                   Parked(TestRecord("fac-2", "1", 101), false, "bad type"),
                                   Done(TestRecord("fac-3", "1", 102), JournalState::kUnchanged),
                                   Written(TestRecord("fac-4", "1", 103), "run-000001", "104",
                                           v1::PLAN_ACTION_CREATE)},
                                  std::nullopt, t0_)
                  .ok());
  std::vector<v1::FacilityChange> changes = All(ChangeFilter{"run-000001", "", std::nullopt});
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(changes[0].entry().location_id(), "fac-4");  // newest first
  EXPECT_EQ(changes[0].entry().action(), v1::PLAN_ACTION_CREATE);
  EXPECT_EQ(changes[1].entry().location_id(), "fac-1");
  EXPECT_EQ(changes[1].entry().changes(0).old_value(), "Old 101");
  EXPECT_EQ(changes[1].entry().changes(0).new_value(), "New 101");
  EXPECT_EQ(FromTimestamp(changes[1].recorded_at()), t0_);
  EXPECT_GT(changes[0].change_id(), changes[1].change_id());
}

TEST_F(ChangeHistoryTest, AFacilityByLocationIdOrCodeAcrossRunsNewestFirst) {
  for (int run = 1; run <= 3; ++run) {
    const std::string id = absl::StrCat("run-00000", run);
    ASSERT_TRUE(store_->CommitBatch(
                         "kenya", id,
                         {Written(TestRecord("fac-1", absl::StrCat(run), 100 + run), id, "101"),
                          Written(TestRecord("fac-2", absl::StrCat(run), 100 + run), id, "102")},
                         std::nullopt, t0_ + absl::Hours(run))
                    .ok());
  }
  std::vector<v1::FacilityChange> by_location = All(ChangeFilter{"", "fac-1", std::nullopt});
  ASSERT_EQ(by_location.size(), 3u);
  EXPECT_EQ(by_location[0].run_id(), "run-000003");
  EXPECT_EQ(by_location[2].run_id(), "run-000001");
  for (const v1::FacilityChange& c : by_location) EXPECT_EQ(c.entry().location_id(), "fac-1");
  std::vector<v1::FacilityChange> by_code = All(ChangeFilter{"", "102", std::nullopt});
  ASSERT_EQ(by_code.size(), 3u);
  EXPECT_EQ(by_code[0].entry().location_id(), "fac-2");
  std::vector<v1::FacilityChange> since =
      All(ChangeFilter{"", "101", t0_ + absl::Hours(2)});  // runs 2 and 3
  ASSERT_EQ(since.size(), 2u);
  EXPECT_EQ(since[1].run_id(), "run-000002");
  EXPECT_TRUE(All(ChangeFilter{"run-000002", "fac-9", std::nullopt}).empty());
  std::string next;
  EXPECT_EQ(store_->ListChanges({}, 10, "x", &next).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(ChangeHistoryTest, ABatchThatCannotBeSavedRecordsNoChange) {
  ASSERT_TRUE(store_->SetQueryOnly(true).ok());
  EXPECT_FALSE(store_->CommitBatch("kenya", "run-000001",
                                   {Written(TestRecord("fac-1", "1", 100), "run-000001", "101")},
                                   std::nullopt, t0_)
                   .ok());
  ASSERT_TRUE(store_->SetQueryOnly(false).ok());
  EXPECT_TRUE(All(ChangeFilter{}).empty());
}

TEST_F(ChangeHistoryTest, PruningDeletesWhatWasRecordedBeforeTheCut) {
  for (int day : {0, 200, 400}) {
    ASSERT_TRUE(store_->CommitBatch("kenya", "run-000001",
                                    {Written(TestRecord("fac-1", absl::StrCat(day), 100 + day),
                                             "run-000001", "101")},
                                    std::nullopt, t0_ + absl::Hours(24 * day))
                    .ok());
  }
  auto pruned = store_->PruneChanges(t0_ + absl::Hours(24 * 200));
  ASSERT_TRUE(pruned.ok()) << pruned.status();
  EXPECT_EQ(*pruned, 1);
  std::vector<v1::FacilityChange> left = All(ChangeFilter{});
  ASSERT_EQ(left.size(), 2u);
  EXPECT_EQ(left[1].entry().version_id(), "200");
}

}  // namespace
}  // namespace mflsync::scheduler
