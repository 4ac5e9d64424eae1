#include "scheduler/run_history.h"

#include <gtest/gtest.h>

#include "absl/time/clock.h"
#include "scheduler/state_db.h"
#include "tests/scheduler/test_util.h"

namespace mflsync::scheduler {
namespace {

using testing::Done;
using testing::TestRecord;

class RunHistoryTest : public testing::StateDbTest {
 protected:
  void SetUp() override {
    testing::StateDbTest::SetUp();
    db_ = OpenDb();
    ASSERT_NE(db_, nullptr);
    runs_ = std::make_unique<RunHistory>(*db_);
  }
  v1::Run Create(const std::string& source_id,
                 v1::RunTrigger trigger = v1::RUN_TRIGGER_MANUAL,
                 absl::Time now = absl::Now()) {
    absl::StatusOr<v1::Run> run = InTransaction(
        *db_, [&] { return runs_->Create(source_id, trigger, false, std::nullopt, now, false); });
    EXPECT_TRUE(run.ok()) << run.status();
    return run.ok() ? *run : v1::Run();
  }

  std::unique_ptr<SqliteDb> db_;
  std::unique_ptr<RunHistory> runs_;
};

TEST_F(RunHistoryTest, RunsListNewestFirstWithPaging) {
  for (int i = 0; i < 5; ++i) Create(i % 2 ? "b" : "a");
  std::string next;
  auto page = runs_->List("", 2, "", &next);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->size(), 2u);
  EXPECT_EQ((*page)[0].run_id(), "run-000005");
  EXPECT_EQ((*page)[1].run_id(), "run-000004");
  ASSERT_FALSE(next.empty());
  page = runs_->List("", 2, next, &next);
  EXPECT_EQ((*page)[0].run_id(), "run-000003");
  page = runs_->List("", 2, next, &next);
  ASSERT_EQ(page->size(), 1u);
  EXPECT_TRUE(next.empty());
  page = runs_->List("a", 10, "", &next);
  EXPECT_EQ(page->size(), 3u);
  EXPECT_FALSE(runs_->List("", 2, "garbage", &next).ok());
  EXPECT_EQ(runs_->Get("run-999").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(runs_->Newest("a")->run_id(), "run-000005");
  EXPECT_EQ(runs_->Newest("b")->run_id(), "run-000004");
  EXPECT_EQ(runs_->Newest("c").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(RunHistoryTest, ANewRunIsRunningAndUpdatesAreKept) {
  const absl::Time now = absl::FromUnixSeconds(1700000000);
  v1::Run run = Create("a", v1::RUN_TRIGGER_SCHEDULE, now);
  EXPECT_EQ(run.run_id(), "run-000001");
  EXPECT_EQ(run.state(), v1::RUN_STATE_RUNNING);
  EXPECT_EQ(FromTimestamp(run.started_at()), now);
  EXPECT_FALSE(run.has_since());
  run.set_state(v1::RUN_STATE_SUCCEEDED);
  ASSERT_TRUE(runs_->Update(run).ok());
  EXPECT_EQ(runs_->Get(run.run_id())->state(), v1::RUN_STATE_SUCCEEDED);
  v1::Run unknown;
  unknown.set_run_id("run-000099");
  EXPECT_EQ(runs_->Update(unknown).code(), absl::StatusCode::kNotFound);
}

TEST_F(RunHistoryTest, InterruptedRunsAreClosedAndHistoryPruned) {
  v1::Run r1 = Create("a");
  v1::Run r2 = Create("a");
  r1.set_state(v1::RUN_STATE_SUCCEEDED);
  ASSERT_TRUE(runs_->Update(r1).ok());
  auto closed = runs_->CloseInterrupted("interrupted", absl::Now());
  ASSERT_TRUE(closed.ok());
  ASSERT_EQ(closed->size(), 1u);
  EXPECT_EQ((*closed)[0].run_id(), r2.run_id());
  EXPECT_EQ(runs_->Get(r2.run_id())->state(), v1::RUN_STATE_FAILED);
  EXPECT_EQ(runs_->Get(r2.run_id())->error(), "interrupted");
  ASSERT_TRUE(runs_->Prune(1).ok());
  EXPECT_FALSE(runs_->Get(r1.run_id()).ok());
  EXPECT_TRUE(runs_->Get(r2.run_id()).ok());
}

TEST_F(RunHistoryTest, LastSyncStartIgnoresRetryRuns) {
  const absl::Time t0 = absl::FromUnixSeconds(1700000000);
  EXPECT_FALSE(runs_->LastSyncStart("a")->has_value());
  Create("a", v1::RUN_TRIGGER_SCHEDULE, t0);
  Create("a", v1::RUN_TRIGGER_RETRY, t0 + absl::Hours(1));
  EXPECT_EQ(**runs_->LastSyncStart("a"), t0);
  EXPECT_FALSE(runs_->LastSyncStart("b")->has_value());
}

TEST_F(RunHistoryTest, SkippedListsPageInOrderAndGoWithTheirRun) {
  v1::Run r1 = Create("kenya");
  RecordOutcome ward = Done(TestRecord("ward-1", "1", 100), JournalState::kUnchanged);
  ward.skip_reason = "not a facility";
  RecordOutcome county = ward;
  county.record.set_location_id("county-1");
  RecordOutcome written = Done(TestRecord("f-1", "1", 100), JournalState::kWritten);
  ASSERT_TRUE(runs_->RecordSkipped("kenya", r1.run_id(), {ward, written, county}).ok());
  std::string next;
  auto page = runs_->ListSkipped(r1.run_id(), 1, "", &next);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->size(), 1u);
  EXPECT_EQ((*page)[0].location_id(), "ward-1");
  EXPECT_EQ((*page)[0].reason(), "not a facility");
  page = runs_->ListSkipped(r1.run_id(), 10, next, &next);
  ASSERT_EQ(page->size(), 1u);
  EXPECT_EQ((*page)[0].location_id(), "county-1");
  EXPECT_TRUE(next.empty());

  r1.set_state(v1::RUN_STATE_SUCCEEDED);
  ASSERT_TRUE(runs_->Update(r1).ok());
  Create("kenya");
  ASSERT_TRUE(runs_->Prune(1).ok());
  EXPECT_TRUE(runs_->ListSkipped(r1.run_id(), 10, "", &next)->empty());
}

}  // namespace
}  // namespace mflsync::scheduler
