#include "scheduler/state_store.h"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/sqlite.h"

namespace mflsync::scheduler {
namespace {

class StateStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           absl::StrCat("store_", ::testing::UnitTest::GetInstance()->current_test_info()->name(),
                        "_", getpid());
    std::filesystem::remove_all(dir_);
    path_ = (dir_ / "sub" / "scheduler.db").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<StateStore> Open(RetryPolicy retry = {}) {
    absl::StatusOr<std::unique_ptr<StateStore>> s = StateStore::Open(path_, retry);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *std::move(s) : nullptr;
  }

  static v1::SourceRecord Record(const std::string& id, const std::string& version,
                                 int64_t lu_s) {
    v1::SourceRecord r;
    r.set_source_id("kenya");
    r.set_location_id(id);
    r.set_version_id(version);
    *r.mutable_last_updated() = FromMicros(lu_s * 1000000);
    r.set_location_json(absl::StrCat(R"({"resourceType":"Location","id":")", id, R"("})"));
    r.set_organization_json(R"({"resourceType":"Organization","id":"o1"})");
    return r;
  }
  static RecordOutcome Parked(v1::SourceRecord r, bool transient, const std::string& why) {
    RecordOutcome o;
    o.record = std::move(r);
    o.state = JournalState::kParked;
    o.stage = transient ? v1::FAILURE_STAGE_WRITE : v1::FAILURE_STAGE_MAP;
    o.reason = why;
    o.transient = transient;
    return o;
  }
  static RecordOutcome Done(v1::SourceRecord r, JournalState state) {
    RecordOutcome o;
    o.record = std::move(r);
    o.state = state;
    return o;
  }
  std::vector<v1::Failure> Open_(StateStore& s, v1::FailureState state = v1::FAILURE_STATE_OPEN) {
    std::string next;
    absl::StatusOr<std::vector<v1::Failure>> f = s.ListFailures("", state, 1000, "", &next);
    EXPECT_TRUE(f.ok()) << f.status();
    return f.ok() ? *f : std::vector<v1::Failure>{};
  }

  std::filesystem::path dir_;
  std::string path_;
};

TEST_F(StateStoreTest, MigrationsAreVersionedAndIdempotent) {
  {
    auto s = Open();
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(*s->SchemaVersion(), 5);
    ASSERT_TRUE(s->CreateRun("kenya", v1::RUN_TRIGGER_MANUAL, false, std::nullopt, absl::Now()).ok());
  }
  {
    auto s = Open();  // reopening applies nothing twice and keeps data
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(*s->SchemaVersion(), 5);
    EXPECT_TRUE(s->GetRun("run-000001").ok());
  }
  {
    // A database from a newer mflsync is refused with a clear message.
    auto db = SqliteDb::Open(path_);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE((*db)->Exec("INSERT INTO schema_migrations(version, description) VALUES(99, 'future')").ok());
  }
  absl::StatusOr<std::unique_ptr<StateStore>> s = StateStore::Open(path_, {});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("schema version 99"), std::string::npos) << s.status();
}

TEST_F(StateStoreTest, NewestVersionsOnlyRiseAndOutliveTheJournal) {
  auto s = Open();
  ASSERT_NE(s, nullptr);
  const absl::Time now = absl::FromUnixSeconds(1700000000);
  ASSERT_TRUE(s->CommitBatch("kenya", "run-1",
                             {Done(Record("a", "2", 200), JournalState::kWritten),
                              Done(Record("b", "1", 100), JournalState::kUnchanged),
                              Parked(Record("c", "1", 100), true, "HTTP 503"),
                              Done(Record("d", "1", 100), JournalState::kStale)},
                             std::nullopt, now)
                  .ok());
  // An older version committed later (a re-delivery) never lowers it.
  ASSERT_TRUE(s->CommitBatch("kenya", "run-2", {Done(Record("a", "1", 100), JournalState::kWritten)},
                             std::nullopt, now)
                  .ok());
  ASSERT_TRUE(s->PruneJournal("kenya", now).ok());
  auto newest = s->NewestVersions("kenya", {"a", "b", "c", "d", "zz"});
  ASSERT_TRUE(newest.ok()) << newest.status();
  ASSERT_EQ(newest->size(), 2u) << "parked and stale versions never reached openIMIS";
  EXPECT_EQ(newest->at("a").version_id(), "2");
  EXPECT_EQ(absl::ToUnixSeconds(FromTimestamp(newest->at("a").last_updated())), 200);
  EXPECT_EQ(newest->at("b").version_id(), "1");
  EXPECT_TRUE(s->NewestVersions("other", {"a"})->empty());
}

TEST_F(StateStoreTest, UpgradeFillsTheNewestVersionsFromTheJournal) {
  std::filesystem::create_directories(std::filesystem::path(path_).parent_path());
  {
    auto db = SqliteDb::Open(path_);
    ASSERT_TRUE(db.ok());
    std::vector<SqliteMigration> v3(StateStore::Migrations().begin(),
                                    StateStore::Migrations().begin() + 3);
    ASSERT_TRUE((*db)->Migrate(v3).ok());
    ASSERT_TRUE((*db)->Exec(
        "INSERT INTO journal VALUES('kenya', 'a', '1', 100, 1, 'run-1', 0),"
        " ('kenya', 'a', '3', 300, 2, 'run-2', 0), ('kenya', 'a', '4', 400, 0, 'run-3', 0),"
        " ('kenya', 'b', '1', 100, 3, 'run-1', 0)").ok());
  }
  auto s = Open();
  ASSERT_NE(s, nullptr);
  auto newest = s->NewestVersions("kenya", {"a", "b"});
  ASSERT_TRUE(newest.ok()) << newest.status();
  ASSERT_EQ(newest->size(), 1u) << "in-flight and parked rows are not versions in openIMIS";
  EXPECT_EQ(newest->at("a").version_id(), "3");
}

TEST_F(StateStoreTest, OperatorWatermarkChangesAreKeptNewestFirst) {
  auto s = Open();
  ASSERT_NE(s, nullptr);
  const absl::Time t0 = absl::FromUnixSeconds(1700000000);
  ASSERT_TRUE(s->CommitBatch("kenya", "run-1", {}, t0 + absl::Hours(5), t0).ok());
  auto back = s->SetWatermark("kenya", t0, "MFL restored from backup", t0 + absl::Hours(6));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(FromTimestamp(back->previous()), t0 + absl::Hours(5));
  EXPECT_EQ(*s->GetWatermark("kenya"), t0) << "an operator may move it back";
  auto reset = s->SetWatermark("kenya", std::nullopt, "full reload", t0 + absl::Hours(7));
  ASSERT_TRUE(reset.ok()) << reset.status();
  EXPECT_FALSE(s->GetWatermark("kenya")->has_value());
  EXPECT_FALSE(reset->has_watermark());
  auto changes = s->WatermarkChanges("kenya", 10);
  ASSERT_TRUE(changes.ok()) << changes.status();
  ASSERT_EQ(changes->size(), 2u);
  EXPECT_EQ((*changes)[0].reason(), "full reload");
  EXPECT_FALSE((*changes)[0].has_watermark());
  EXPECT_EQ(FromTimestamp((*changes)[0].previous()), t0);
  EXPECT_EQ((*changes)[1].reason(), "MFL restored from backup");
  EXPECT_TRUE(s->WatermarkChanges("other", 10)->empty());
}

TEST_F(StateStoreTest, MigrationFailureRollsBack) {
  std::filesystem::create_directories(dir_);
  auto db = SqliteDb::Open((dir_ / "m.db").string());
  ASSERT_TRUE(db.ok()) << db.status();
  std::vector<SqliteMigration> ms = {{1, "ok", "CREATE TABLE a(x INTEGER);"},
                                     {2, "broken", "CREATE TABLE b(y INTEGER); NOT SQL"}};
  absl::Status s = (*db)->Migrate(ms);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("migration 2 (broken)"), std::string::npos) << s;
  EXPECT_EQ(*(*db)->SchemaVersion(), 1);
  EXPECT_TRUE((*db)->Exec("SELECT * FROM a").ok());
  EXPECT_FALSE((*db)->Exec("SELECT * FROM b").ok());  // rolled back
}

TEST_F(StateStoreTest, OpenFailsClearlyOnUnusablePath) {
  std::filesystem::create_directories(dir_);
  std::string file = (dir_ / "plainfile").string();
  { std::ofstream(file) << "x"; }
  absl::StatusOr<std::unique_ptr<StateStore>> s =
      StateStore::Open(file + "/scheduler.db", {});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("plainfile"), std::string::npos) << s.status();
}

TEST_F(StateStoreTest, RunsListNewestFirstWithPaging) {
  auto s = Open();
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(s->CreateRun(i % 2 ? "b" : "a", v1::RUN_TRIGGER_MANUAL, false, std::nullopt,
                             absl::Now()).ok());
  }
  std::string next;
  auto page = s->ListRuns("", 2, "", &next);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->size(), 2u);
  EXPECT_EQ((*page)[0].run_id(), "run-000005");
  EXPECT_EQ((*page)[1].run_id(), "run-000004");
  ASSERT_FALSE(next.empty());
  page = s->ListRuns("", 2, next, &next);
  EXPECT_EQ((*page)[0].run_id(), "run-000003");
  page = s->ListRuns("", 2, next, &next);
  ASSERT_EQ(page->size(), 1u);
  EXPECT_TRUE(next.empty());
  page = s->ListRuns("a", 10, "", &next);
  EXPECT_EQ(page->size(), 3u);
  EXPECT_FALSE(s->ListRuns("", 2, "garbage", &next).ok());
  EXPECT_EQ(s->GetRun("run-999").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(StateStoreTest, InterruptedRunsAreClosedAndHistoryPruned) {
  auto s = Open();
  auto r1 = s->CreateRun("a", v1::RUN_TRIGGER_MANUAL, false, std::nullopt, absl::Now());
  auto r2 = s->CreateRun("a", v1::RUN_TRIGGER_MANUAL, false, std::nullopt, absl::Now());
  r1->set_state(v1::RUN_STATE_SUCCEEDED);
  ASSERT_TRUE(s->UpdateRun(*r1).ok());
  auto closed = s->CloseInterruptedRuns("interrupted", absl::Now());
  ASSERT_TRUE(closed.ok());
  ASSERT_EQ(closed->size(), 1u);
  EXPECT_EQ((*closed)[0].run_id(), r2->run_id());
  EXPECT_EQ(s->GetRun(r2->run_id())->state(), v1::RUN_STATE_FAILED);
  EXPECT_EQ(s->GetRun(r2->run_id())->error(), "interrupted");
  ASSERT_TRUE(s->PruneRuns(1).ok());
  EXPECT_FALSE(s->GetRun(r1->run_id()).ok());
  EXPECT_TRUE(s->GetRun(r2->run_id()).ok());
}

TEST_F(StateStoreTest, WatermarkOnlyMovesForwardAndJournalFeedsAlreadySeen) {
  auto s = Open();
  EXPECT_FALSE(s->GetWatermark("kenya")->has_value());
  auto a = Record("a", "1", 100), b = Record("b", "1", 200), c = Record("c", "1", 300);
  ASSERT_TRUE(s->JournalInFlight("kenya", "run-1", {a, b, c}, absl::Now()).ok());
  ASSERT_TRUE(s->CommitBatch("kenya", "run-1",
                             {Done(a, JournalState::kWritten), Done(b, JournalState::kUnchanged)},
                             absl::FromUnixSeconds(200), absl::Now()).ok());
  EXPECT_EQ(**s->GetWatermark("kenya"), absl::FromUnixSeconds(200));
  ASSERT_TRUE(s->CommitBatch("kenya", "run-1", {}, absl::FromUnixSeconds(150), absl::Now()).ok());
  EXPECT_EQ(**s->GetWatermark("kenya"), absl::FromUnixSeconds(200));  // never backwards
  // In-flight c is not "seen": it must be fetched again after a crash.
  auto seen = s->AlreadySeen("kenya", absl::FromUnixSeconds(0), 100);
  ASSERT_TRUE(seen.ok());
  ASSERT_EQ(seen->size(), 2u);
  EXPECT_EQ(**s->JournalStateOf("kenya", [&] {
    v1::RecordKey k;
    k.set_location_id("c");
    k.set_version_id("1");
    *k.mutable_last_updated() = c.last_updated();
    return k;
  }()), JournalState::kInFlight);
  EXPECT_EQ(s->AlreadySeen("kenya", absl::FromUnixSeconds(150), 100)->size(), 1u);
  ASSERT_TRUE(s->PruneJournal("kenya", absl::FromUnixSeconds(250)).ok());
  EXPECT_EQ(s->AlreadySeen("kenya", absl::FromUnixSeconds(0), 100)->size(), 0u);
  // Other sources are separate.
  EXPECT_FALSE(s->GetWatermark("other")->has_value());
}

// The administrator's copy of a huge record is bounded; the retry copy is
// whole.
TEST_F(StateStoreTest, TheRawCopyOfAHugeRecordIsBounded) {
  auto s = Open(RetryPolicy{});
  auto big = Record("big", "1", 100);
  big.set_location_json(absl::StrCat(R"({"resourceType":"Location","id":"big","description":")",
                                     std::string(600000, 'x'), R"("})"));
  ASSERT_TRUE(s->CommitBatch("kenya", "run-1", {Parked(big, false, "too big")}, std::nullopt,
                             absl::FromUnixSeconds(1000000))
                  .ok());
  auto open = Open_(*s);
  ASSERT_EQ(open.size(), 1u);
  auto shown = s->GetFailure(open[0].failure_id());
  ASSERT_TRUE(shown.ok()) << shown.status();
  EXPECT_LE(shown->raw_json().size(), kMaxRawJson + 100);
  EXPECT_NE(shown->raw_json().find("...(cut: "), std::string::npos);
  auto retry = s->FailuresToRetry({open[0].failure_id()}, "kenya");
  ASSERT_TRUE(retry.ok()) << retry.status();
  ASSERT_EQ(retry->size(), 1u);
  EXPECT_EQ((*retry)[0].second.location_json(), big.location_json());
}

TEST_F(StateStoreTest, FailureQueueLifecycle) {
  RetryPolicy retry{absl::Seconds(10), absl::Seconds(40), 4};
  auto s = Open(retry);
  absl::Time now = absl::FromUnixSeconds(1000000);
  auto x1 = Record("x", "1", 100);
  ASSERT_TRUE(s->CommitBatch("kenya", "run-1", {Parked(x1, false, "type unknown")},
                             std::nullopt, now).ok());
  auto open = Open_(*s);
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].location_id(), "x");
  EXPECT_EQ(open[0].attempts(), 1);
  EXPECT_FALSE(open[0].transient());
  EXPECT_FALSE(open[0].has_next_attempt_at());
  EXPECT_TRUE(open[0].raw_json().empty());  // only GetFailure returns it
  auto full = s->GetFailure(open[0].failure_id());
  ASSERT_TRUE(full.ok());
  EXPECT_NE(full->raw_json().find("\"organization\""), std::string::npos) << full->raw_json();
  EXPECT_NE(full->raw_json().find("\"Location\""), std::string::npos);

  // A newer version of the same Location failing again updates the entry.
  auto x2 = Record("x", "2", 200);
  ASSERT_TRUE(s->CommitBatch("kenya", "run-2", {Parked(x2, false, "still unknown")},
                             std::nullopt, now).ok());
  open = Open_(*s);
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].version_id(), "2");
  EXPECT_EQ(open[0].attempts(), 2);
  EXPECT_EQ(open[0].reason(), "still unknown");
  EXPECT_EQ(open[0].run_id(), "run-2");

  // Retry selection: by id, all, and errors.
  auto to_retry = s->FailuresToRetry({open[0].failure_id()}, "");
  ASSERT_TRUE(to_retry.ok());
  ASSERT_EQ(to_retry->size(), 1u);
  EXPECT_EQ((*to_retry)[0].second.version_id(), "2");
  EXPECT_EQ(s->FailuresToRetry({12345}, "").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s->FailuresToRetry({}, "kenya")->size(), 1u);
  EXPECT_EQ(s->FailuresToRetry({}, "other")->size(), 0u);

  // Written → resolved.
  ASSERT_TRUE(s->CommitBatch("kenya", "run-3", {Done(x2, JournalState::kWritten)},
                             std::nullopt, now).ok());
  EXPECT_TRUE(Open_(*s).empty());
  auto resolved = Open_(*s, v1::FAILURE_STATE_RESOLVED);
  ASSERT_EQ(resolved.size(), 1u);
  EXPECT_NE(resolved[0].resolution().find("run-3"), std::string::npos);
  EXPECT_EQ(s->FailuresToRetry({resolved[0].failure_id()}, "").status().code(),
            absl::StatusCode::kFailedPrecondition);

  // Dismiss: unknown id changes nothing; known ones are dismissed with a reason.
  auto y = Record("y", "1", 300);
  ASSERT_TRUE(s->CommitBatch("kenya", "run-4", {Parked(y, false, "bad")}, std::nullopt, now).ok());
  int64_t yid = Open_(*s)[0].failure_id();
  EXPECT_EQ(s->DismissFailures({yid, 999}, "", now).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Open_(*s).size(), 1u);
  EXPECT_EQ(*s->DismissFailures({yid}, "closed facility", now), 1);
  EXPECT_EQ(*s->DismissFailures({yid}, "again", now), 0);
  auto dismissed = Open_(*s, v1::FAILURE_STATE_DISMISSED);
  ASSERT_EQ(dismissed.size(), 1u);
  EXPECT_NE(dismissed[0].resolution().find("closed facility"), std::string::npos);
}

TEST_F(StateStoreTest, TransientFailuresBackOffAndStop) {
  RetryPolicy retry{absl::Seconds(10), absl::Seconds(25), 3};
  auto s = Open(retry);
  absl::Time t = absl::FromUnixSeconds(1000000);
  auto z = Record("z", "1", 100);
  ASSERT_TRUE(s->CommitBatch("kenya", "run-1", {Parked(z, true, "503")}, std::nullopt, t).ok());
  EXPECT_TRUE(s->DueRetries(t + absl::Seconds(9))->empty());
  auto due = s->DueRetries(t + absl::Seconds(10));
  ASSERT_EQ(due->size(), 1u);
  int64_t id = due->at("kenya")[0];
  RecordOutcome again = Parked(z, true, "503");
  again.failure_id = id;
  ASSERT_TRUE(s->CommitBatch("kenya", "run-2", {again}, std::nullopt, t).ok());
  EXPECT_TRUE(s->DueRetries(t + absl::Seconds(19))->empty());  // 2nd wait: 20s
  EXPECT_EQ(s->DueRetries(t + absl::Seconds(20))->size(), 1u);
  ASSERT_TRUE(s->CommitBatch("kenya", "run-3", {again}, std::nullopt, t).ok());
  // Third attempt reached max_attempts: no automatic retry any more.
  EXPECT_TRUE(s->DueRetries(t + absl::Hours(10))->empty());
  auto f = s->GetFailure(id);
  EXPECT_EQ(f->attempts(), 3);
  EXPECT_TRUE(f->transient());
  EXPECT_NE(f->reason().find("automatic retries stopped after 3 attempts"), std::string::npos);
}

}  // namespace
}  // namespace mflsync::scheduler
