#include "common/sqlite.h"

#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace mflsync {

// WAL pages between automatic checkpoints (SQLite's default is 1,000, 4 MB).
// A checkpoint copies each changed page into the database once, however
// often commits changed it since the last one, and fsyncs the file: a sync
// batch dirties a few hundred pages of random-keyed indexes, so a larger
// interval writes and syncs less per record (docs/benchmarks.md, "The
// scheduler's state database"). The WAL file grows to about 40 MB.
constexpr int kWalCheckpointPages = 10000;

SqliteStatement::SqliteStatement(sqlite3_stmt* stmt, sqlite3* db, std::string sql)
    : stmt_(stmt), db_(db), sql_(std::move(sql)) {}

SqliteStatement::SqliteStatement(SqliteStatement&& other) noexcept
    : stmt_(std::exchange(other.stmt_, nullptr)),
      db_(other.db_),
      sql_(std::move(other.sql_)),
      bind_error_(std::move(other.bind_error_)) {}

SqliteStatement& SqliteStatement::operator=(SqliteStatement&& other) noexcept {
  if (this != &other) {
    if (stmt_ != nullptr) sqlite3_finalize(stmt_);
    stmt_ = std::exchange(other.stmt_, nullptr);
    db_ = other.db_;
    sql_ = std::move(other.sql_);
    bind_error_ = std::move(other.bind_error_);
  }
  return *this;
}

SqliteStatement::~SqliteStatement() {
  if (stmt_ != nullptr) sqlite3_finalize(stmt_);
}

namespace {

// An SQLite failure as a status whose code and words say what an operator
// can do: a full disk (or the size limit) and a file that cannot be written
// name the file; `what` names the statement.
absl::Status SqliteFailure(sqlite3* db, int rc, absl::string_view what) {
  const char* file = db != nullptr ? sqlite3_db_filename(db, "main") : nullptr;
  const std::string path = file != nullptr && *file != '\0' ? file : "(in memory)";
  const std::string why = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  switch (rc & 0xff) {
    case SQLITE_FULL:
      return absl::ResourceExhaustedError(absl::StrCat(
          "SQLite database ", path, " is full (", why, "; the disk holding it, or its size "
          "limit, is exhausted) in ", what, "; nothing of this transaction was saved"));
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
      return absl::FailedPreconditionError(absl::StrCat(
          "SQLite database ", path, " cannot be written (", why, "; check that its folder "
          "and files are writable by this user and not on a read-only mount) in ", what));
    case SQLITE_IOERR:
      return absl::UnavailableError(absl::StrCat("SQLite database ", path,
                                                 " had an I/O error (", why, ") in ", what));
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return absl::UnavailableError(
          absl::StrCat("SQLite database ", path, " is locked (", why, ") in ", what));
    default:
      return absl::InternalError(
          absl::StrCat("SQLite error ", rc, " (", why, ") on ", path, " in ", what));
  }
}

}  // namespace

absl::Status SqliteStatement::Error(int rc) const {
  return SqliteFailure(db_, rc,
                       absl::StrCat("\"", sql_.substr(0, 80), sql_.size() > 80 ? "...\"" : "\""));
}

SqliteStatement& SqliteStatement::Bind(int index, int64_t value) {
  int rc = sqlite3_bind_int64(stmt_, index, value);
  if (rc != SQLITE_OK && bind_error_.ok()) bind_error_ = Error(rc);
  return *this;
}

SqliteStatement& SqliteStatement::Bind(int index, absl::string_view text) {
  int rc = sqlite3_bind_text(stmt_, index, text.data(),
                             static_cast<int>(text.size()), SQLITE_TRANSIENT);
  if (rc != SQLITE_OK && bind_error_.ok()) bind_error_ = Error(rc);
  return *this;
}

SqliteStatement& SqliteStatement::BindBlob(int index, absl::string_view bytes) {
  int rc = sqlite3_bind_blob(stmt_, index, bytes.data(),
                             static_cast<int>(bytes.size()), SQLITE_TRANSIENT);
  if (rc != SQLITE_OK && bind_error_.ok()) bind_error_ = Error(rc);
  return *this;
}

SqliteStatement& SqliteStatement::BindNull(int index) {
  int rc = sqlite3_bind_null(stmt_, index);
  if (rc != SQLITE_OK && bind_error_.ok()) bind_error_ = Error(rc);
  return *this;
}

absl::StatusOr<bool> SqliteStatement::Step() {
  if (!bind_error_.ok()) return bind_error_;
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return Error(rc);
}

absl::Status SqliteStatement::Run() {
  while (true) {
    absl::StatusOr<bool> row = Step();
    if (!row.ok()) return row.status();
    if (!*row) return absl::OkStatus();
  }
}

void SqliteStatement::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  bind_error_ = absl::OkStatus();
}

int64_t SqliteStatement::ColumnInt(int column) const {
  return sqlite3_column_int64(stmt_, column);
}

std::string SqliteStatement::ColumnText(int column) const {
  const void* data = sqlite3_column_blob(stmt_, column);
  int size = sqlite3_column_bytes(stmt_, column);
  if (data == nullptr || size <= 0) return "";
  return std::string(static_cast<const char*>(data), static_cast<size_t>(size));
}

bool SqliteStatement::ColumnIsNull(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

absl::StatusOr<std::unique_ptr<SqliteDb>> SqliteDb::Open(
    const std::string& path, absl::Duration busy_timeout) {
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    if (ec) {
      return absl::FailedPreconditionError(absl::StrCat(
          "database folder ", parent.string(), " cannot be created: ", ec.message()));
    }
  }
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                               SQLITE_OPEN_FULLMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) {
    std::string why = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    if (db != nullptr) sqlite3_close(db);
    return absl::FailedPreconditionError(
        absl::StrCat("SQLite database ", path, " cannot be opened: ", why));
  }
  std::unique_ptr<SqliteDb> out(new SqliteDb(db, path));
  sqlite3_busy_timeout(db, static_cast<int>(absl::ToInt64Milliseconds(busy_timeout)));
  absl::StatusOr<SqliteStatement> wal = out->Prepare("PRAGMA journal_mode=WAL");
  if (!wal.ok()) return wal.status();
  absl::StatusOr<bool> row = wal->Step();
  if (!row.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "SQLite database ", path, " cannot be used: ", row.status().message()));
  }
  if (*row && wal->ColumnText(0) != "wal") {
    return absl::FailedPreconditionError(absl::StrCat(
        "SQLite database ", path, " cannot use WAL journaling (got '",
        wal->ColumnText(0), "'; is it on a network file system?)"));
  }
  absl::Status s = out->Exec(absl::StrCat("PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
                                          " PRAGMA wal_autocheckpoint=",
                                          kWalCheckpointPages, ";"));
  if (!s.ok()) return s;
  return out;
}

SqliteDb::~SqliteDb() { sqlite3_close_v2(db_); }

absl::StatusOr<SqliteStatement> SqliteDb::Prepare(absl::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()),
                              &stmt, nullptr);
  if (rc != SQLITE_OK) {
    return absl::InternalError(absl::StrCat("SQLite cannot prepare \"",
                                            sql.substr(0, 80), "\": ",
                                            sqlite3_errmsg(db_)));
  }
  return SqliteStatement(stmt, db_, std::string(sql));
}

absl::Status SqliteDb::Exec(absl::string_view sql) {
  std::string text(sql);
  char* message = nullptr;
  int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &message);
  if (rc != SQLITE_OK) {
    sqlite3_free(message);
    return SqliteFailure(db_, rc, absl::StrCat("\"", text.substr(0, 80), "\""));
  }
  return absl::OkStatus();
}

absl::Status SqliteDb::Begin() { return Exec("BEGIN IMMEDIATE"); }
absl::Status SqliteDb::Commit() { return Exec("COMMIT"); }
void SqliteDb::Rollback() {
  if (sqlite3_get_autocommit(db_) == 0) (void)Exec("ROLLBACK");
}

absl::StatusOr<int> SqliteDb::SchemaVersion() {
  absl::Status s = Exec(
      "CREATE TABLE IF NOT EXISTS schema_migrations ("
      " version INTEGER PRIMARY KEY, description TEXT NOT NULL,"
      " applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')))");
  if (!s.ok()) return s;
  absl::StatusOr<SqliteStatement> q =
      Prepare("SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
  if (!q.ok()) return q.status();
  absl::StatusOr<bool> row = q->Step();
  if (!row.ok()) return row.status();
  return *row ? static_cast<int>(q->ColumnInt(0)) : 0;
}

namespace {

// `path` as a read-only file: URI. Read-only, not immutable: it takes
// SQLite's locks and reads the WAL, so a scheduler writing meanwhile is
// seen consistently (SQLite may leave its -wal and -shm files beside it).
std::string ReadOnlyUri(const std::string& path) {
  std::string uri = "file:";
  for (unsigned char c : path) {
    if (c == '%' || c == '?' || c == '#' || c < 0x21 || c > 0x7e) {
      absl::StrAppendFormat(&uri, "%%%02X", c);
    } else {
      uri.push_back(static_cast<char>(c));
    }
  }
  return uri + "?mode=ro";
}

// The one integer `sql` answers on `db` (0 for no row).
absl::StatusOr<int> QueryInt(sqlite3* db, const char* sql) {
  sqlite3_stmt* q = nullptr;
  if (sqlite3_prepare_v2(db, sql, -1, &q, nullptr) != SQLITE_OK) {
    return absl::FailedPreconditionError(sqlite3_errmsg(db));  // e.g. not a database
  }
  const int step = sqlite3_step(q);
  const int value = step == SQLITE_ROW ? sqlite3_column_int(q, 0) : 0;
  const std::string error = step == SQLITE_ROW || step == SQLITE_DONE ? "" : sqlite3_errmsg(db);
  sqlite3_finalize(q);
  if (!error.empty()) return absl::FailedPreconditionError(error);
  return value;
}

// The schema version recorded in the database at `path` (0 when it has none).
absl::StatusOr<int> RecordedVersion(const std::string& path) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(ReadOnlyUri(path).c_str(), &db,
                                 SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, nullptr);
  std::unique_ptr<sqlite3, int (*)(sqlite3*)> close(db, sqlite3_close_v2);
  if (rc != SQLITE_OK) return absl::FailedPreconditionError(sqlite3_errstr(rc));
  absl::StatusOr<int> has_table = QueryInt(
      db, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'schema_migrations'");
  if (!has_table.ok() || *has_table == 0) return has_table;
  return QueryInt(db, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
}

int NewestVersion(const std::vector<SqliteMigration>& migrations) {
  int newest = 0;
  for (const SqliteMigration& m : migrations) newest = std::max(newest, m.version);
  return newest;
}

absl::Status NewerSchemaError(const std::string& path, int current, int newest) {
  return absl::FailedPreconditionError(absl::StrCat(
      "SQLite database ", path, " has schema version ", current,
      " but this program knows versions up to ", newest,
      "; use a newer mflsync or another data folder"));
}

}  // namespace

absl::Status SqliteDb::CheckUsable(const std::string& path,
                                   const std::vector<SqliteMigration>& migrations) {
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) {
    absl::StatusOr<int> version = RecordedVersion(path);
    if (!version.ok()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "SQLite database ", path, " cannot be read: ", version.status().message()));
    }
    const int newest = NewestVersion(migrations);
    if (*version > newest) return NewerSchemaError(path, *version, newest);
    if (::access(path.c_str(), R_OK | W_OK) != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("SQLite database ", path, " is not writable by this user"));
    }
    return absl::OkStatus();
  }
  // The nearest folder that exists must let this user make the rest.
  std::filesystem::path folder = std::filesystem::absolute(path, ec).parent_path();
  while (!folder.empty() && !std::filesystem::exists(folder, ec) &&
         folder != folder.parent_path()) {
    folder = folder.parent_path();
  }
  if (!std::filesystem::is_directory(folder, ec) ||
      ::access(folder.c_str(), W_OK | X_OK) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "SQLite database ", path, " cannot be created: folder ", folder.string(),
        " is not a writable folder"));
  }
  return absl::OkStatus();
}

absl::Status SqliteDb::Migrate(const std::vector<SqliteMigration>& migrations) {
  absl::StatusOr<int> current = SchemaVersion();
  if (!current.ok()) return current.status();
  const int newest = NewestVersion(migrations);
  if (*current > newest) return NewerSchemaError(path_, *current, newest);
  std::vector<SqliteMigration> sorted = migrations;
  std::sort(sorted.begin(), sorted.end(),
            [](const SqliteMigration& a, const SqliteMigration& b) {
              return a.version < b.version;
            });
  for (const SqliteMigration& m : sorted) {
    if (m.version <= *current) continue;
    absl::Status s = Begin();
    if (!s.ok()) return s;
    s = Exec(m.sql);
    if (s.ok()) {
      absl::StatusOr<SqliteStatement> ins = Prepare(
          "INSERT INTO schema_migrations(version, description) VALUES(?, ?)");
      s = ins.ok() ? ins->Bind(1, int64_t{m.version}).Bind(2, m.description).Run()
                   : ins.status();
    }
    if (s.ok()) s = Commit();
    if (!s.ok()) {
      Rollback();
      return absl::InternalError(absl::StrCat("migration ", m.version, " (",
                                              m.description, ") failed on ",
                                              path_, ": ", s.message()));
    }
  }
  return absl::OkStatus();
}

int64_t SqliteDb::LastInsertRowId() const { return sqlite3_last_insert_rowid(db_); }
int SqliteDb::Changes() const { return sqlite3_changes(db_); }

}  // namespace mflsync
