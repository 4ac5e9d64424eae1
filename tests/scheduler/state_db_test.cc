#include "scheduler/state_db.h"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "common/sqlite.h"
#include "scheduler/journal.h"
#include "tests/scheduler/test_util.h"

namespace mflsync::scheduler {
namespace {

class StateDbTest : public testing::StateDbTest {};

TEST_F(StateDbTest, OpenCreatesTheFolderAndMigratesOnce) {
  {
    auto db = OpenDb();
    ASSERT_NE(db, nullptr);
    EXPECT_EQ(*db->SchemaVersion(), 8);
    ASSERT_TRUE(db->Exec("INSERT INTO watermarks VALUES('kenya', 1, 1)").ok());
  }
  auto db = OpenDb();  // reopening applies nothing twice and keeps data
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(*db->SchemaVersion(), 8);
  absl::StatusOr<SqliteStatement> q = db->Prepare("SELECT COUNT(*) FROM watermarks");
  ASSERT_TRUE(q.ok()) << q.status();
  ASSERT_TRUE(*q->Step());
  EXPECT_EQ(q->ColumnInt(0), 1);
}

// The one integer a PRAGMA answers.
int64_t Pragma(SqliteDb& db, const char* name) {
  absl::StatusOr<SqliteStatement> q = db.Prepare(std::string("PRAGMA ") + name);
  if (!q.ok() || !q->Step().value_or(false)) return -1;
  return q->ColumnInt(0);
}

TEST_F(StateDbTest, OpensInWalModeWithRareCheckpoints) {
  auto db = OpenDb();
  ASSERT_NE(db, nullptr);
  absl::StatusOr<SqliteStatement> mode = db->Prepare("PRAGMA journal_mode");
  ASSERT_TRUE(mode.ok() && *mode->Step());
  EXPECT_EQ(mode->ColumnText(0), "wal");
  EXPECT_EQ(Pragma(*db, "synchronous"), 1) << "NORMAL: fsync at checkpoints only";
  EXPECT_EQ(Pragma(*db, "wal_autocheckpoint"), 10000);
}

TEST_F(StateDbTest, ADatabaseFromANewerVersionIsRefused) {
  {
    auto db = OpenDb();
    ASSERT_NE(db, nullptr);
    ASSERT_TRUE(
        db->Exec("INSERT INTO schema_migrations(version, description) VALUES(99, 'future')").ok());
  }
  absl::StatusOr<std::unique_ptr<SqliteDb>> db = OpenStateDb(path_);
  ASSERT_FALSE(db.ok());
  EXPECT_NE(db.status().message().find("schema version 99"), std::string::npos) << db.status();
}

// What --check-config says of the state database: what Open would
// refuse, without creating or changing anything.
TEST_F(StateDbTest, CheckUsableSaysWhatOpenWouldRefuseAndChangesNothing) {
  EXPECT_TRUE(SqliteDb::CheckUsable(path_, StateMigrations()).ok());
  EXPECT_FALSE(std::filesystem::exists(dir_ / "sub")) << "nothing is created";
  {
    auto db = OpenDb();
    ASSERT_NE(db, nullptr);
  }
  EXPECT_TRUE(SqliteDb::CheckUsable(path_, StateMigrations()).ok());
  {
    auto db = OpenDb();
    ASSERT_NE(db, nullptr);
    ASSERT_TRUE(
        db->Exec("INSERT INTO schema_migrations(version, description) VALUES(99, 'future')").ok());
  }
  absl::Status newer = SqliteDb::CheckUsable(path_, StateMigrations());
  EXPECT_EQ(newer.code(), absl::StatusCode::kFailedPrecondition);
  {
    // In use: what a running scheduler committed is still in its WAL, and
    // the check reads it there.
    absl::StatusOr<std::unique_ptr<SqliteDb>> open = SqliteDb::Open(path_);
    ASSERT_TRUE(open.ok());
    ASSERT_TRUE((*open)->Exec("UPDATE schema_migrations SET version = 98 WHERE version = 99").ok());
    absl::Status in_use = SqliteDb::CheckUsable(path_, StateMigrations());
    EXPECT_NE(in_use.message().find("has schema version 98"), std::string::npos) << in_use;
    ASSERT_TRUE((*open)->Exec("UPDATE schema_migrations SET version = 99 WHERE version = 98").ok());
  }
  EXPECT_NE(newer.message().find("has schema version 99 but this program knows versions up to 8"),
            std::string::npos)
      << newer;
  // An SQLite file without mflsync's tables yet, or an empty file: Open
  // would make them.
  const std::string bare = (dir_ / "bare.db").string();
  {
    absl::StatusOr<std::unique_ptr<SqliteDb>> db = SqliteDb::Open(bare);
    ASSERT_TRUE(db.ok() && (*db)->Exec("CREATE TABLE t(x)").ok());
  }
  EXPECT_TRUE(SqliteDb::CheckUsable(bare, StateMigrations()).ok());
  const std::string empty = (dir_ / "empty.db").string();
  std::ofstream(empty).close();
  EXPECT_TRUE(SqliteDb::CheckUsable(empty, StateMigrations()).ok());
  const std::string text = (dir_ / "notes.txt").string();
  std::ofstream(text) << "not a database, but long enough to have a header of sorts";
  absl::Status not_db = SqliteDb::CheckUsable(text, StateMigrations());
  EXPECT_NE(not_db.message().find("cannot be read: file is not a database"), std::string::npos)
      << not_db;
  absl::Status under_file = SqliteDb::CheckUsable(text + "/x/scheduler.db", StateMigrations());
  EXPECT_NE(under_file.message().find("cannot be created: folder " + text +
                                      " is not a writable folder"),
            std::string::npos)
      << under_file;
}

TEST_F(StateDbTest, MigrationFailureRollsBack) {
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

TEST_F(StateDbTest, OpenFailsClearlyOnUnusablePath) {
  std::filesystem::create_directories(dir_);
  std::string file = (dir_ / "plainfile").string();
  { std::ofstream(file) << "x"; }
  absl::StatusOr<std::unique_ptr<SqliteDb>> db = OpenStateDb(file + "/scheduler.db");
  ASSERT_FALSE(db.ok());
  EXPECT_NE(db.status().message().find("plainfile"), std::string::npos) << db.status();
}

TEST_F(StateDbTest, UpgradeFillsTheNewestVersionsFromTheJournal) {
  std::filesystem::create_directories(std::filesystem::path(path_).parent_path());
  {
    auto db = SqliteDb::Open(path_);
    ASSERT_TRUE(db.ok());
    std::vector<SqliteMigration> v3(StateMigrations().begin(), StateMigrations().begin() + 3);
    ASSERT_TRUE((*db)->Migrate(v3).ok());
    ASSERT_TRUE((*db)->Exec(
        "INSERT INTO journal VALUES('kenya', 'a', '1', 100, 1, 'run-1', 0),"
        " ('kenya', 'a', '3', 300, 2, 'run-2', 0), ('kenya', 'a', '4', 400, 0, 'run-3', 0),"
        " ('kenya', 'b', '1', 100, 3, 'run-1', 0)").ok());
  }
  auto db = OpenDb();
  ASSERT_NE(db, nullptr);
  auto newest = Journal(*db).NewestVersions("kenya", {"a", "b"});
  ASSERT_TRUE(newest.ok()) << newest.status();
  ASSERT_EQ(newest->size(), 1u) << "in-flight and parked rows are not versions in openIMIS";
  EXPECT_EQ(newest->at("a").version_id(), "3");
}

TEST_F(StateDbTest, PageTokensAreTheNumbersThisServerIssued) {
  EXPECT_EQ(*ParsePageToken("", "ListRuns"), 0);
  EXPECT_EQ(*ParsePageToken("42", "ListRuns"), 42);
  absl::StatusOr<int64_t> bad = ParsePageToken("-1", "ListRuns");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("ListRuns page_token '-1'"), std::string::npos)
      << bad.status();
  EXPECT_FALSE(ParsePageToken("garbage", "ListRuns").ok());
}

TEST_F(StateDbTest, InTransactionCommitsOnSuccessAndRollsBackOnError) {
  auto db = OpenDb();
  ASSERT_NE(db, nullptr);
  auto count = [&]() -> int64_t {
    absl::StatusOr<SqliteStatement> q = db->Prepare("SELECT COUNT(*) FROM watermarks");
    EXPECT_TRUE(q.ok() && *q->Step());
    return q->ColumnInt(0);
  };
  absl::Status ok = InTransaction(*db, [&] {
    return db->Exec("INSERT INTO watermarks VALUES('a', 1, 1)");
  });
  EXPECT_TRUE(ok.ok()) << ok;
  EXPECT_EQ(count(), 1);
  absl::StatusOr<int> failed = InTransaction(*db, [&]() -> absl::StatusOr<int> {
    absl::Status s = db->Exec("INSERT INTO watermarks VALUES('b', 1, 1)");
    if (!s.ok()) return s;
    return absl::AbortedError("second step failed");
  });
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(count(), 1) << "the first step was rolled back";
  absl::StatusOr<int> value = InTransaction(*db, []() -> absl::StatusOr<int> { return 7; });
  EXPECT_EQ(*value, 7);
}

}  // namespace
}  // namespace mflsync::scheduler
