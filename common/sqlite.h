// A small RAII wrapper over SQLite3 for mflsync's state: a database opened in
// WAL mode with a busy timeout, prepared statements with typed binds,
// transactions, and versioned schema migrations recorded in a table.
#ifndef MFLSYNC_COMMON_SQLITE_H_
#define MFLSYNC_COMMON_SQLITE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

struct sqlite3;
struct sqlite3_stmt;

namespace mflsync {

class SqliteDb;

// One prepared statement. Binds are 1-based like SQLite's. Not thread-safe;
// a statement belongs to the thread that uses its database.
class SqliteStatement {
 public:
  SqliteStatement(SqliteStatement&& other) noexcept;
  SqliteStatement& operator=(SqliteStatement&& other) noexcept;
  SqliteStatement(const SqliteStatement&) = delete;
  SqliteStatement& operator=(const SqliteStatement&) = delete;
  ~SqliteStatement();

  SqliteStatement& Bind(int index, int64_t value);
  SqliteStatement& Bind(int index, absl::string_view text);
  SqliteStatement& BindBlob(int index, absl::string_view bytes);
  SqliteStatement& BindNull(int index);

  // Advances: true when a row is available, false when done; an error names
  // the SQL and SQLite's message.
  absl::StatusOr<bool> Step();
  // Runs to completion, ignoring rows.
  absl::Status Run();
  // Resets to run again (binds are cleared).
  void Reset();

  int64_t ColumnInt(int column) const;
  std::string ColumnText(int column) const;
  bool ColumnIsNull(int column) const;

 private:
  friend class SqliteDb;
  SqliteStatement(sqlite3_stmt* stmt, sqlite3* db, std::string sql);
  absl::Status Error(int rc) const;

  sqlite3_stmt* stmt_ = nullptr;
  sqlite3* db_ = nullptr;
  std::string sql_;
  absl::Status bind_error_;
};

// One migration: the schema step that brings the database to `version`.
struct SqliteMigration {
  int version;
  std::string description;
  std::string sql;  // one or more statements
};

// An open database. Thread-safe only in the sense SQLite's serialized mode
// is; mflsync callers serialize access with their own mutex.
class SqliteDb {
 public:
  // Opens (creating when missing) `path` with WAL journaling (synchronous
  // NORMAL, a checkpoint every 10,000 pages), a busy timeout and foreign
  // keys on. Errors name the path and the reason.
  static absl::StatusOr<std::unique_ptr<SqliteDb>> Open(
      const std::string& path, absl::Duration busy_timeout = absl::Seconds(5));
  ~SqliteDb();
  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;

  absl::StatusOr<SqliteStatement> Prepare(absl::string_view sql);
  // Runs statements that return no rows.
  absl::Status Exec(absl::string_view sql);

  absl::Status Begin();  // BEGIN IMMEDIATE
  absl::Status Commit();
  void Rollback();

  // Applies every migration whose version is above the recorded one, each in
  // its own transaction, in increasing order; records each in
  // schema_migrations. A database newer than the code is an error.
  absl::Status Migrate(const std::vector<SqliteMigration>& migrations);
  // The highest applied migration version (0 for a new database).
  absl::StatusOr<int> SchemaVersion();

  // Whether Open and Migrate(`migrations`) would succeed on `path`, changing
  // no data (--check-config; the file may be in use): an existing file is a
  // database whose schema is not newer than `migrations`, and writable; a
  // new one has a writable folder on its path. FailedPrecondition naming the
  // path and why.
  static absl::Status CheckUsable(const std::string& path,
                                  const std::vector<SqliteMigration>& migrations);

  int64_t LastInsertRowId() const;
  int Changes() const;
  const std::string& path() const { return path_; }

 private:
  SqliteDb(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  sqlite3* db_;
  std::string path_;
};

}  // namespace mflsync

#endif  // MFLSYNC_COMMON_SQLITE_H_
