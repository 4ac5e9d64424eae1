// The scheduler's SQLite file: its schema migrations, opening it, and the
// transaction and paging helpers its tables (run history, journal, failure
// queue, watermarks) share.
#ifndef MFLSYNC_SCHEDULER_STATE_DB_H_
#define MFLSYNC_SCHEDULER_STATE_DB_H_

#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/sqlite.h"

namespace mflsync::scheduler {

// Schema migrations of the state database, oldest first. Existing
// databases depend on them: never change one, only add the next.
const std::vector<SqliteMigration>& StateMigrations();

// Opens or creates the database at `path` and applies pending migrations;
// creates the parent folder when missing.
absl::StatusOr<std::unique_ptr<SqliteDb>> OpenStateDb(const std::string& path);

// The numeric form of a page_token issued by this server ("" is 0);
// INVALID_ARGUMENT names `what` (the listing) otherwise.
absl::StatusOr<int64_t> ParsePageToken(const std::string& token, const char* what);

// One page of a keyset-paged query whose first column is the key (a seq or
// an id, ascending) and which asks for `page_size` + 1 rows: `read` turns
// each row of the page into an item (an error stops it). When a row beyond
// the page exists, `next_page_token` is the key of the page's last row;
// else it is empty.
template <typename T, typename Read>
absl::StatusOr<std::vector<T>> ReadKeysetPage(SqliteStatement& q, int page_size, Read read,
                                              std::string* next_page_token) {
  std::vector<T> out;
  next_page_token->clear();
  int64_t last_key = 0;
  while (true) {
    absl::StatusOr<bool> row = q.Step();
    if (!row.ok()) return row.status();
    if (!*row) return out;
    if (static_cast<int>(out.size()) == page_size) {
      *next_page_token = std::to_string(last_key);
      return out;
    }
    last_key = q.ColumnInt(0);
    absl::StatusOr<T> item = read(static_cast<const SqliteStatement&>(q));
    if (!item.ok()) return item.status();
    out.push_back(*std::move(item));
  }
}

// Runs `body` in one transaction on `db`: commits when it succeeds, rolls
// back when it or the commit fails. `body` returns absl::Status or
// absl::StatusOr<T>; so does InTransaction.
template <typename Body>
auto InTransaction(SqliteDb& db, Body body) -> decltype(body()) {
  if (absl::Status s = db.Begin(); !s.ok()) return s;
  decltype(body()) result = body();
  absl::Status s;
  if constexpr (std::is_same_v<decltype(body()), absl::Status>) {
    s = result;
  } else {
    s = result.status();
  }
  if (s.ok()) s = db.Commit();
  if (!s.ok()) {
    db.Rollback();
    return s;
  }
  return result;
}

}  // namespace mflsync::scheduler

#endif  // MFLSYNC_SCHEDULER_STATE_DB_H_
