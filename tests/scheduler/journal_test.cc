#include "scheduler/journal.h"

#include <gtest/gtest.h>

#include "absl/time/clock.h"
#include "tests/scheduler/test_util.h"

namespace mflsync::scheduler {
namespace {

using testing::Done;
using testing::KeyOf;
using testing::Parked;
using testing::TestRecord;

class JournalTest : public testing::StateDbTest {
 protected:
  void SetUp() override {
    testing::StateDbTest::SetUp();
    db_ = OpenDb();
    ASSERT_NE(db_, nullptr);
    journal_ = std::make_unique<Journal>(*db_);
  }

  std::unique_ptr<SqliteDb> db_;
  std::unique_ptr<Journal> journal_;
};

TEST_F(JournalTest, InFlightVersionsAreNotSeenUntilTheirOutcomeIsRecorded) {
  auto a = TestRecord("a", "1", 100), b = TestRecord("b", "1", 200), c = TestRecord("c", "1", 300);
  ASSERT_TRUE(journal_->MarkInFlight("kenya", "run-1", {a, b, c}, absl::Now()).ok());
  EXPECT_TRUE(journal_->AlreadySeen("kenya", absl::FromUnixSeconds(0), 100)->empty());
  ASSERT_TRUE(journal_->Record("kenya", "run-1",
                               {Done(a, JournalState::kWritten),
                                Done(b, JournalState::kUnchanged)},
                               absl::Now())
                  .ok());
  // In-flight c is not "seen": it must be fetched again after a crash.
  auto seen = journal_->AlreadySeen("kenya", absl::FromUnixSeconds(0), 100);
  ASSERT_TRUE(seen.ok());
  ASSERT_EQ(seen->size(), 2u);
  EXPECT_EQ((*seen)[0].location_id(), "b") << "newest first";
  EXPECT_EQ(**journal_->StateOf("kenya", KeyOf(c)), JournalState::kInFlight);
  EXPECT_EQ(**journal_->StateOf("kenya", KeyOf(a)), JournalState::kWritten);
  EXPECT_FALSE(journal_->StateOf("other", KeyOf(a))->has_value());
  EXPECT_EQ(journal_->AlreadySeen("kenya", absl::FromUnixSeconds(150), 100)->size(), 1u);
  EXPECT_EQ(journal_->AlreadySeen("kenya", absl::FromUnixSeconds(0), 1)->size(), 1u);
}

TEST_F(JournalTest, PruneKeepsInFlightRows) {
  auto a = TestRecord("a", "1", 100), b = TestRecord("b", "1", 200);
  ASSERT_TRUE(journal_->MarkInFlight("kenya", "run-1", {a, b}, absl::Now()).ok());
  ASSERT_TRUE(
      journal_->Record("kenya", "run-1", {Done(a, JournalState::kWritten)}, absl::Now()).ok());
  ASSERT_TRUE(journal_->Prune("kenya", absl::FromUnixSeconds(250)).ok());
  EXPECT_FALSE(journal_->StateOf("kenya", KeyOf(a))->has_value());
  EXPECT_EQ(**journal_->StateOf("kenya", KeyOf(b)), JournalState::kInFlight);
}

TEST_F(JournalTest, NewestVersionsOnlyRiseAndOutliveTheJournal) {
  ASSERT_TRUE(journal_
                  ->RaiseNewestVersions("kenya",
                                        {Done(TestRecord("a", "2", 200), JournalState::kWritten),
                                         Done(TestRecord("b", "1", 100), JournalState::kUnchanged),
                                         Parked(TestRecord("c", "1", 100), true, "HTTP 503"),
                                         Done(TestRecord("d", "1", 100), JournalState::kStale)})
                  .ok());
  // An older version recorded later (a re-delivery) never lowers it.
  ASSERT_TRUE(journal_
                  ->RaiseNewestVersions("kenya",
                                        {Done(TestRecord("a", "1", 100), JournalState::kWritten)})
                  .ok());
  ASSERT_TRUE(journal_->Prune("kenya", absl::FromUnixSeconds(1700000000)).ok());
  auto newest = journal_->NewestVersions("kenya", {"a", "b", "c", "d", "zz"});
  ASSERT_TRUE(newest.ok()) << newest.status();
  ASSERT_EQ(newest->size(), 2u) << "parked and stale versions never reached openIMIS";
  EXPECT_EQ(newest->at("a").version_id(), "2");
  EXPECT_EQ(absl::ToUnixSeconds(FromTimestamp(newest->at("a").last_updated())), 200);
  EXPECT_EQ(newest->at("b").version_id(), "1");
  EXPECT_TRUE(journal_->NewestVersions("other", {"a"})->empty());
}

}  // namespace
}  // namespace mflsync::scheduler
