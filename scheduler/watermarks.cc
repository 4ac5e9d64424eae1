#include "scheduler/watermarks.h"

#include "common/proto_time.h"

namespace mflsync::scheduler {

absl::StatusOr<std::optional<absl::Time>> Watermarks::Get(const std::string& source_id) {
  absl::StatusOr<SqliteStatement> q =
      db_.Prepare("SELECT watermark_us FROM watermarks WHERE source_id = ?");
  if (!q.ok()) return q.status();
  q->Bind(1, source_id);
  absl::StatusOr<bool> row = q->Step();
  if (!row.ok()) return row.status();
  if (!*row) return std::optional<absl::Time>();
  return std::optional<absl::Time>(absl::FromUnixMicros(q->ColumnInt(0)));
}

absl::Status Watermarks::MoveForward(const std::string& source_id, absl::Time watermark,
                                     absl::Time now) {
  absl::StatusOr<SqliteStatement> q = db_.Prepare(
      "INSERT INTO watermarks(source_id, watermark_us, updated_us) VALUES(?, ?, ?)"
      " ON CONFLICT(source_id) DO UPDATE SET"
      " watermark_us = MAX(watermark_us, excluded.watermark_us),"
      " updated_us = excluded.updated_us");
  if (!q.ok()) return q.status();
  return q->Bind(1, source_id)
      .Bind(2, absl::ToUnixMicros(watermark))
      .Bind(3, absl::ToUnixMicros(now))
      .Run();
}

absl::StatusOr<v1::WatermarkChange> Watermarks::Set(const std::string& source_id,
                                                    std::optional<absl::Time> watermark,
                                                    const std::string& reason,
                                                    absl::Time now) {
  absl::StatusOr<std::optional<absl::Time>> previous = Get(source_id);
  if (!previous.ok()) return previous.status();
  absl::Status s = Write(source_id, watermark, now);
  if (s.ok()) s = RecordChange(source_id, *previous, watermark, reason, now);
  if (!s.ok()) return s;
  v1::WatermarkChange change;
  *change.mutable_changed_at() = ToTimestamp(now);
  if (previous->has_value()) *change.mutable_previous() = ToTimestamp(**previous);
  if (watermark.has_value()) *change.mutable_watermark() = ToTimestamp(*watermark);
  change.set_reason(reason);
  return change;
}

absl::Status Watermarks::Write(const std::string& source_id,
                               std::optional<absl::Time> watermark, absl::Time now) {
  if (!watermark.has_value()) {
    absl::StatusOr<SqliteStatement> del =
        db_.Prepare("DELETE FROM watermarks WHERE source_id = ?");
    if (!del.ok()) return del.status();
    return del->Bind(1, source_id).Run();
  }
  // Unlike a run's commit (MoveForward), an operator may move it back.
  absl::StatusOr<SqliteStatement> put = db_.Prepare(
      "INSERT INTO watermarks(source_id, watermark_us, updated_us) VALUES(?, ?, ?)"
      " ON CONFLICT(source_id) DO UPDATE SET watermark_us = excluded.watermark_us,"
      " updated_us = excluded.updated_us");
  if (!put.ok()) return put.status();
  return put->Bind(1, source_id)
      .Bind(2, absl::ToUnixMicros(*watermark))
      .Bind(3, absl::ToUnixMicros(now))
      .Run();
}

absl::Status Watermarks::RecordChange(const std::string& source_id,
                                      std::optional<absl::Time> previous,
                                      std::optional<absl::Time> watermark,
                                      const std::string& reason, absl::Time now) {
  absl::StatusOr<SqliteStatement> ins = db_.Prepare(
      "INSERT INTO watermark_changes(source_id, changed_us, previous_us, watermark_us, reason)"
      " VALUES(?, ?, ?, ?, ?)");
  if (!ins.ok()) return ins.status();
  ins->Bind(1, source_id).Bind(2, absl::ToUnixMicros(now));
  if (previous.has_value()) ins->Bind(3, absl::ToUnixMicros(*previous)); else ins->BindNull(3);
  if (watermark.has_value()) ins->Bind(4, absl::ToUnixMicros(*watermark)); else ins->BindNull(4);
  return ins->Bind(5, reason).Run();
}

absl::StatusOr<std::vector<v1::WatermarkChange>> Watermarks::Changes(
    const std::string& source_id, int limit) {
  absl::StatusOr<SqliteStatement> q = db_.Prepare(
      "SELECT changed_us, previous_us, watermark_us, reason FROM watermark_changes"
      " WHERE source_id = ? ORDER BY seq DESC LIMIT ?");
  if (!q.ok()) return q.status();
  q->Bind(1, source_id).Bind(2, int64_t{limit});
  std::vector<v1::WatermarkChange> out;
  while (true) {
    absl::StatusOr<bool> row = q->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    v1::WatermarkChange c;
    *c.mutable_changed_at() = FromMicros(q->ColumnInt(0));
    // (a mutable_ accessor would mark an absent time as present)
    if (!q->ColumnIsNull(1)) *c.mutable_previous() = FromMicros(q->ColumnInt(1));
    if (!q->ColumnIsNull(2)) *c.mutable_watermark() = FromMicros(q->ColumnInt(2));
    c.set_reason(q->ColumnText(3));
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace mflsync::scheduler
