#include "scheduler/change_history.h"

#include "absl/strings/str_cat.h"
#include "common/proto_time.h"
#include "scheduler/state_db.h"

namespace mflsync::scheduler {

absl::Status ChangeHistory::Record(const std::vector<RecordOutcome>& outcomes, absl::Time now) {
  absl::StatusOr<SqliteStatement> q = db_.Prepare(
      "INSERT INTO changes(run_id, source_id, location_id, code, recorded_us, change)"
      " VALUES(?, ?, ?, ?, ?, ?)");
  if (!q.ok()) return q.status();
  for (const RecordOutcome& o : outcomes) {
    if (!o.change.has_value()) continue;
    v1::FacilityChange change = *o.change;
    *change.mutable_recorded_at() = ToTimestamp(now);
    q->Reset();
    absl::Status s = q->Bind(1, change.run_id())
                         .Bind(2, change.source_id())
                         .Bind(3, change.entry().location_id())
                         .Bind(4, change.entry().code())
                         .Bind(5, absl::ToUnixMicros(now))
                         .BindBlob(6, change.SerializeAsString())
                         .Run();
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<v1::FacilityChange>> ChangeHistory::List(
    const ChangeFilter& filter, int page_size, const std::string& page_token,
    std::string* next_page_token) {
  absl::StatusOr<int64_t> before = ParsePageToken(page_token, "ListChanges");
  if (!before.ok()) return before.status();
  // Each filter is its own clause, so that SQLite picks the index it needs.
  std::string where = "recorded_us >= ?1";
  if (*before > 0) absl::StrAppend(&where, " AND seq < ?2");
  if (!filter.run_id.empty()) absl::StrAppend(&where, " AND run_id = ?3");
  if (!filter.facility.empty()) absl::StrAppend(&where, " AND (location_id = ?4 OR code = ?4)");
  absl::StatusOr<SqliteStatement> q = db_.Prepare(absl::StrCat(
      "SELECT seq, change FROM changes WHERE ", where, " ORDER BY seq DESC LIMIT ?5"));
  if (!q.ok()) return q.status();
  q->Bind(1, filter.since.has_value() ? absl::ToUnixMicros(*filter.since) : INT64_MIN)
      .Bind(5, int64_t{page_size} + 1);
  if (*before > 0) q->Bind(2, *before);
  if (!filter.run_id.empty()) q->Bind(3, filter.run_id);
  if (!filter.facility.empty()) q->Bind(4, filter.facility);
  return ReadKeysetPage<v1::FacilityChange>(
      *q, page_size,
      [](const SqliteStatement& row) -> absl::StatusOr<v1::FacilityChange> {
        v1::FacilityChange change;
        if (!change.ParseFromString(row.ColumnText(1)))
          return absl::DataLossError("a change in the state database's history is corrupt");
        change.set_change_id(row.ColumnInt(0));
        return change;
      },
      next_page_token);
}

absl::StatusOr<int> ChangeHistory::Prune(absl::Time before) {
  absl::StatusOr<SqliteStatement> q = db_.Prepare("DELETE FROM changes WHERE recorded_us < ?");
  if (!q.ok()) return q.status();
  absl::Status s = q->Bind(1, absl::ToUnixMicros(before)).Run();
  if (!s.ok()) return s;
  return db_.Changes();
}

}  // namespace mflsync::scheduler
