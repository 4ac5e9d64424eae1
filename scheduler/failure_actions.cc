#include "scheduler/failure_actions.h"

#include "common/proto_time.h"

namespace mflsync::scheduler {

absl::Status FailureActions::Record(const std::vector<int64_t>& failure_ids,
                                    const v1::FailureAction& action) {
  absl::StatusOr<SqliteStatement> q = db_.Prepare(
      "INSERT INTO failure_actions(failure_id, kind, actor, reason, acted_us, detail)"
      " VALUES(?, ?, ?, ?, ?, ?)");
  if (!q.ok()) return q.status();
  for (int64_t id : failure_ids) {
    q->Reset();
    absl::Status s = q->Bind(1, id)
                         .Bind(2, int64_t{action.kind()})
                         .Bind(3, action.actor())
                         .Bind(4, action.reason())
                         .Bind(5, ToMicros(action.acted_at()))
                         .Bind(6, action.detail())
                         .Run();
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<v1::FailureAction>> FailureActions::Of(int64_t failure_id) {
  absl::StatusOr<SqliteStatement> q = db_.Prepare(
      "SELECT kind, actor, reason, acted_us, detail FROM failure_actions"
      " WHERE failure_id = ? ORDER BY seq");
  if (!q.ok()) return q.status();
  q->Bind(1, failure_id);
  std::vector<v1::FailureAction> out;
  while (true) {
    absl::StatusOr<bool> row = q->Step();
    if (!row.ok()) return row.status();
    if (!*row) return out;
    v1::FailureAction& a = out.emplace_back();
    a.set_kind(static_cast<v1::FailureActionKind>(q->ColumnInt(0)));
    a.set_actor(q->ColumnText(1));
    a.set_reason(q->ColumnText(2));
    *a.mutable_acted_at() = FromMicros(q->ColumnInt(3));
    a.set_detail(q->ColumnText(4));
  }
}

}  // namespace mflsync::scheduler
