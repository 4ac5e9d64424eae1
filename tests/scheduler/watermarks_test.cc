#include "scheduler/watermarks.h"

#include <gtest/gtest.h>

#include "scheduler/state_db.h"
#include "tests/scheduler/test_util.h"

namespace mflsync::scheduler {
namespace {

class WatermarksTest : public testing::StateDbTest {
 protected:
  void SetUp() override {
    testing::StateDbTest::SetUp();
    db_ = OpenDb();
    ASSERT_NE(db_, nullptr);
    watermarks_ = std::make_unique<Watermarks>(*db_);
  }
  absl::StatusOr<v1::WatermarkChange> Set(std::optional<absl::Time> watermark,
                                          const std::string& reason, absl::Time now) {
    return InTransaction(*db_, [&] { return watermarks_->Set("kenya", watermark, reason, now); });
  }

  const absl::Time t0_ = absl::FromUnixSeconds(1700000000);
  std::unique_ptr<SqliteDb> db_;
  std::unique_ptr<Watermarks> watermarks_;
};

TEST_F(WatermarksTest, RunsOnlyMoveItForward) {
  EXPECT_FALSE(watermarks_->Get("kenya")->has_value());
  ASSERT_TRUE(watermarks_->MoveForward("kenya", t0_ + absl::Seconds(200), t0_).ok());
  EXPECT_EQ(**watermarks_->Get("kenya"), t0_ + absl::Seconds(200));
  ASSERT_TRUE(watermarks_->MoveForward("kenya", t0_ + absl::Seconds(150), t0_).ok());
  EXPECT_EQ(**watermarks_->Get("kenya"), t0_ + absl::Seconds(200)) << "never backwards";
  ASSERT_TRUE(watermarks_->MoveForward("kenya", t0_ + absl::Seconds(300), t0_).ok());
  EXPECT_EQ(**watermarks_->Get("kenya"), t0_ + absl::Seconds(300));
  EXPECT_FALSE(watermarks_->Get("other")->has_value()) << "other sources are separate";
  EXPECT_TRUE(watermarks_->Changes("kenya", 10)->empty()) << "only operator changes are kept";
}

TEST_F(WatermarksTest, OperatorChangesAreKeptNewestFirst) {
  ASSERT_TRUE(watermarks_->MoveForward("kenya", t0_ + absl::Hours(5), t0_).ok());
  auto back = Set(t0_, "MFL restored from backup", t0_ + absl::Hours(6));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(FromTimestamp(back->previous()), t0_ + absl::Hours(5));
  EXPECT_EQ(FromTimestamp(back->changed_at()), t0_ + absl::Hours(6));
  EXPECT_EQ(**watermarks_->Get("kenya"), t0_) << "an operator may move it back";
  auto reset = Set(std::nullopt, "full reload", t0_ + absl::Hours(7));
  ASSERT_TRUE(reset.ok()) << reset.status();
  EXPECT_FALSE(watermarks_->Get("kenya")->has_value());
  EXPECT_FALSE(reset->has_watermark());
  auto first = Set(t0_, "first", t0_ + absl::Hours(8));
  ASSERT_TRUE(first.ok());
  EXPECT_FALSE(first->has_previous()) << "there was none";
  auto changes = watermarks_->Changes("kenya", 2);
  ASSERT_TRUE(changes.ok()) << changes.status();
  ASSERT_EQ(changes->size(), 2u);
  EXPECT_EQ((*changes)[0].reason(), "first");
  EXPECT_FALSE((*changes)[0].has_previous());
  EXPECT_EQ((*changes)[1].reason(), "full reload");
  EXPECT_FALSE((*changes)[1].has_watermark());
  EXPECT_EQ(FromTimestamp((*changes)[1].previous()), t0_);
  EXPECT_EQ(watermarks_->Changes("kenya", 10)->size(), 3u);
  EXPECT_TRUE(watermarks_->Changes("other", 10)->empty());
}

}  // namespace
}  // namespace mflsync::scheduler
