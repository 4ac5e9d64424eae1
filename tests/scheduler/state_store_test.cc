// The facade: opening, and a batch recorded in every table at once. Each
// table's own rules are tested with its class (run_history_test,
// journal_test, failure_queue_test, watermarks_test, state_db_test).
#include "scheduler/state_store.h"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "absl/time/clock.h"
#include "common/sqlite.h"
#include "tests/scheduler/test_util.h"

namespace mflsync::scheduler {
namespace {

using testing::Done;
using testing::KeyOf;
using testing::Parked;
using testing::TestRecord;

class StateStoreTest : public testing::StateDbTest {
 protected:
  std::unique_ptr<StateStore> Open(RetryPolicy retry = {}) {
    absl::StatusOr<std::unique_ptr<StateStore>> s = StateStore::Open(path_, retry);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *std::move(s) : nullptr;
  }
  static std::vector<v1::Failure> OpenFailures(StateStore& s) {
    std::string next;
    absl::StatusOr<std::vector<v1::Failure>> f =
        s.ListFailures("", v1::FAILURE_STATE_OPEN, 1000, "", &next);
    EXPECT_TRUE(f.ok()) << f.status();
    return f.ok() ? *f : std::vector<v1::Failure>{};
  }
  // A batch that touches every table: written, parked, skipped.
  static std::vector<RecordOutcome> MixedBatch() {
    RecordOutcome skipped = Done(TestRecord("ward", "1", 150), JournalState::kUnchanged);
    skipped.skip_reason = "not a facility";
    return {Done(TestRecord("a", "1", 100), JournalState::kWritten),
            Parked(TestRecord("b", "1", 200), true, "HTTP 503"), skipped};
  }
};

TEST_F(StateStoreTest, MigrationsAreVersionedAndIdempotent) {
  {
    auto s = Open();
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(*s->SchemaVersion(), 8);
    EXPECT_EQ(StateStore::Migrations().size(), 8u);
    ASSERT_TRUE(
        s->CreateRun("kenya", v1::RUN_TRIGGER_MANUAL, false, std::nullopt, absl::Now()).ok());
  }
  auto s = Open();  // reopening applies nothing twice and keeps data
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(*s->SchemaVersion(), 8);
  EXPECT_TRUE(s->GetRun("run-000001").ok());
}

TEST_F(StateStoreTest, OpenFailsClearlyOnUnusablePath) {
  std::filesystem::create_directories(dir_);
  std::string file = (dir_ / "plainfile").string();
  { std::ofstream(file) << "x"; }
  absl::StatusOr<std::unique_ptr<StateStore>> s = StateStore::Open(file + "/scheduler.db", {});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("plainfile"), std::string::npos) << s.status();
}

TEST_F(StateStoreTest, ABatchIsRecordedInEveryTable) {
  auto s = Open();
  ASSERT_NE(s, nullptr);
  auto run = s->CreateRun("kenya", v1::RUN_TRIGGER_MANUAL, false, std::nullopt, absl::Now());
  ASSERT_TRUE(run.ok()) << run.status();
  const std::vector<RecordOutcome> batch = MixedBatch();
  std::vector<v1::SourceRecord> records;
  for (const RecordOutcome& o : batch) records.push_back(o.record);
  ASSERT_TRUE(s->JournalInFlight("kenya", run->run_id(), records, absl::Now()).ok());
  ASSERT_TRUE(s->CommitBatch("kenya", run->run_id(), batch, absl::FromUnixSeconds(150),
                             absl::Now())
                  .ok());
  EXPECT_EQ(**s->JournalStateOf("kenya", KeyOf(batch[0].record)), JournalState::kWritten);
  EXPECT_EQ(**s->JournalStateOf("kenya", KeyOf(batch[1].record)), JournalState::kParked);
  EXPECT_EQ(s->AlreadySeen("kenya", absl::FromUnixSeconds(0), 10)->size(), 3u);
  EXPECT_EQ(s->NewestVersions("kenya", {"a", "b", "ward"})->size(), 2u);
  EXPECT_EQ(s->OpenFailureIds("kenya", {"a", "b"})->count("b"), 1u);
  EXPECT_EQ(**s->GetWatermark("kenya"), absl::FromUnixSeconds(150));
  std::string next;
  EXPECT_EQ(s->ListSkipped(run->run_id(), 10, "", &next)->size(), 1u);

  // A later batch never moves the watermark back.
  ASSERT_TRUE(s->CommitBatch("kenya", run->run_id(), {}, absl::FromUnixSeconds(100),
                             absl::Now())
                  .ok());
  EXPECT_EQ(**s->GetWatermark("kenya"), absl::FromUnixSeconds(150));
}

// When any step of a commit fails, no table keeps any of the batch.
TEST_F(StateStoreTest, AFailedCommitLeavesNothingBehind) {
  {
    auto db = OpenDb();
    ASSERT_NE(db, nullptr);
    // The skipped list is the last step of a commit.
    ASSERT_TRUE(db->Exec("CREATE TRIGGER no_skipped BEFORE INSERT ON skipped"
                         " BEGIN SELECT RAISE(ABORT, 'disk full'); END;")
                    .ok());
  }
  auto s = Open();
  ASSERT_NE(s, nullptr);
  absl::Status commit =
      s->CommitBatch("kenya", "run-1", MixedBatch(), absl::FromUnixSeconds(150), absl::Now());
  ASSERT_FALSE(commit.ok());
  EXPECT_NE(commit.message().find("disk full"), std::string::npos) << commit;
  EXPECT_TRUE(s->AlreadySeen("kenya", absl::FromUnixSeconds(0), 10)->empty());
  EXPECT_TRUE(OpenFailures(*s).empty());
  EXPECT_TRUE(s->NewestVersions("kenya", {"a"})->empty());
  EXPECT_FALSE(s->GetWatermark("kenya")->has_value());
  // The store is usable afterwards.
  ASSERT_TRUE(s->CommitBatch("kenya", "run-1", {}, absl::FromUnixSeconds(150), absl::Now()).ok());
  EXPECT_EQ(**s->GetWatermark("kenya"), absl::FromUnixSeconds(150));
}

TEST_F(StateStoreTest, InterruptedRunsAreClosed) {
  auto s = Open();
  ASSERT_NE(s, nullptr);
  auto r1 = s->CreateRun("a", v1::RUN_TRIGGER_MANUAL, false, std::nullopt, absl::Now());
  auto r2 = s->CreateRun("a", v1::RUN_TRIGGER_MANUAL, false, std::nullopt, absl::Now());
  r1->set_state(v1::RUN_STATE_SUCCEEDED);
  ASSERT_TRUE(s->UpdateRun(*r1).ok());
  auto closed = s->CloseInterruptedRuns("interrupted", absl::Now());
  ASSERT_TRUE(closed.ok());
  ASSERT_EQ(closed->size(), 1u);
  EXPECT_EQ((*closed)[0].run_id(), r2->run_id());
  EXPECT_EQ(s->GetRun(r2->run_id())->state(), v1::RUN_STATE_FAILED);
  ASSERT_TRUE(s->PruneRuns(1).ok());
  EXPECT_FALSE(s->GetRun(r1->run_id()).ok());
}

TEST_F(StateStoreTest, AnOperatorChangeOfTheWatermarkIsRecorded) {
  auto s = Open();
  ASSERT_NE(s, nullptr);
  const absl::Time t0 = absl::FromUnixSeconds(1700000000);
  ASSERT_TRUE(s->CommitBatch("kenya", "run-1", {}, t0 + absl::Hours(5), t0).ok());
  auto back = s->SetWatermark("kenya", t0, "MFL restored from backup", t0 + absl::Hours(6));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(FromTimestamp(back->previous()), t0 + absl::Hours(5));
  EXPECT_EQ(**s->GetWatermark("kenya"), t0);
  EXPECT_EQ(s->WatermarkChanges("kenya", 10)->size(), 1u);
}

TEST_F(StateStoreTest, DismissingAnUnknownIdChangesNothing) {
  auto s = Open();
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(s->CommitBatch("kenya", "run-1", {Parked(TestRecord("y", "1", 1), false, "bad")},
                             std::nullopt, absl::Now())
                  .ok());
  const int64_t id = OpenFailures(*s)[0].failure_id();
  EXPECT_EQ(s->DismissFailures({id, 999}, mflsync::v1::FailureAction(), absl::Now()).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(OpenFailures(*s).size(), 1u);
  EXPECT_EQ(*s->DismissFailures({id}, mflsync::v1::FailureAction(), absl::Now()), 1);
  EXPECT_TRUE(OpenFailures(*s).empty());
}

}  // namespace
}  // namespace mflsync::scheduler
