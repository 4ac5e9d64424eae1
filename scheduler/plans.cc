#include "scheduler/plans.h"

#include <cstdint>
#include <limits>

#include "absl/strings/str_cat.h"
#include "common/proto_time.h"
#include "scheduler/state_db.h"

namespace mflsync::scheduler {
namespace {

// The SQL list of the actions GetPlan lists by default: what a real run
// would change or refuse.
std::string ChangeActions() {
  return absl::StrCat("(", v1::PLAN_ACTION_CREATE, ", ", v1::PLAN_ACTION_UPDATE, ", ",
                      v1::PLAN_ACTION_DEACTIVATE, ", ", v1::PLAN_ACTION_REJECT, ")");
}

v1::PlanApproval ApprovalFromRow(SqliteStatement& q) {
  v1::PlanApproval a;
  a.set_run_id(q.ColumnText(0));
  a.set_source_id(q.ColumnText(1));
  *a.mutable_approved_at() = FromMicros(q.ColumnInt(2));
  a.set_approved_by(q.ColumnText(3));
  a.set_reason(q.ColumnText(4));
  return a;
}

}  // namespace

absl::Status Plans::Record(const std::string& run_id,
                           const std::vector<v1::PlanEntry>& entries) {
  if (entries.empty()) return absl::OkStatus();
  absl::StatusOr<SqliteStatement> q = db_.Prepare(
      "INSERT OR IGNORE INTO plan_entries(run_id, location_id, version_id, last_updated_us,"
      " action, entry) VALUES(?, ?, ?, ?, ?, ?)");
  if (!q.ok()) return q.status();
  for (const v1::PlanEntry& e : entries) {
    q->Reset();
    absl::Status s = q->Bind(1, run_id)
                         .Bind(2, e.location_id())
                         .Bind(3, e.version_id())
                         .Bind(4, ToMicros(e.last_updated()))
                         .Bind(5, int64_t{e.action()})
                         .BindBlob(6, e.SerializeAsString())
                         .Run();
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<v1::PlanEntry>> Plans::List(const std::string& run_id, bool all,
                                                       int page_size,
                                                       const std::string& page_token,
                                                       std::string* next_page_token) {
  absl::StatusOr<int64_t> after = ParsePageToken(page_token, "GetPlan");
  if (!after.ok()) return after.status();
  absl::StatusOr<SqliteStatement> q = db_.Prepare(absl::StrCat(
      "SELECT seq, entry FROM plan_entries WHERE run_id = ? AND seq > ?",
      all ? "" : absl::StrCat(" AND action IN ", ChangeActions()), " ORDER BY seq LIMIT ?"));
  if (!q.ok()) return q.status();
  q->Bind(1, run_id).Bind(2, *after).Bind(3, int64_t{page_size} + 1);
  return ReadKeysetPage<v1::PlanEntry>(
      *q, page_size,
      [](const SqliteStatement& row) -> absl::StatusOr<v1::PlanEntry> {
        v1::PlanEntry entry;
        if (!entry.ParseFromString(row.ColumnText(1)))
          return absl::DataLossError("a plan entry in the state database is corrupt");
        return entry;
      },
      next_page_token);
}

absl::StatusOr<v1::PlanCounts> Plans::Counts(const std::string& run_id) {
  absl::StatusOr<SqliteStatement> q = db_.Prepare(
      "SELECT action, COUNT(*) FROM plan_entries WHERE run_id = ? GROUP BY action");
  if (!q.ok()) return q.status();
  q->Bind(1, run_id);
  v1::PlanCounts c;
  while (true) {
    absl::StatusOr<bool> row = q->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    const int64_t n = q->ColumnInt(1);
    switch (q->ColumnInt(0)) {
      case v1::PLAN_ACTION_CREATE: c.set_creates(n); break;
      case v1::PLAN_ACTION_UPDATE: c.set_updates(n); break;
      case v1::PLAN_ACTION_DEACTIVATE: c.set_deactivations(n); break;
      case v1::PLAN_ACTION_REJECT: c.set_rejected(n); break;
      case v1::PLAN_ACTION_NOOP: c.set_noops(n); break;
      case v1::PLAN_ACTION_SKIP: c.set_skipped(n); break;
      case v1::PLAN_ACTION_STALE: c.set_stale(n); break;
      default: break;
    }
  }
  return c;
}

absl::StatusOr<std::vector<v1::RecordKey>> Plans::Planned(const std::string& run_id,
                                                          absl::Time from, int limit) {
  absl::StatusOr<SqliteStatement> q = db_.Prepare(
      "SELECT location_id, version_id FROM plan_entries WHERE run_id = ?"
      " AND last_updated_us >= ? ORDER BY last_updated_us DESC LIMIT ?");
  if (!q.ok()) return q.status();
  q->Bind(1, run_id).Bind(2, absl::ToUnixMicros(from)).Bind(3, int64_t{limit});
  std::vector<v1::RecordKey> out;
  while (true) {
    absl::StatusOr<bool> row = q->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    v1::RecordKey& k = out.emplace_back();
    k.set_location_id(q->ColumnText(0));
    k.set_version_id(q->ColumnText(1));
  }
  return out;
}

absl::StatusOr<v1::PlanApproval> Plans::Approve(const std::string& run_id,
                                                const std::string& source_id,
                                                const std::string& actor,
                                                const std::string& reason, absl::Time now) {
  absl::StatusOr<SqliteStatement> ins = db_.Prepare(
      "INSERT OR IGNORE INTO plan_approvals(run_id, source_id, approved_us, actor, reason)"
      " VALUES(?, ?, ?, ?, ?)");
  if (!ins.ok()) return ins.status();
  absl::Status s = ins->Bind(1, run_id)
                       .Bind(2, source_id)
                       .Bind(3, absl::ToUnixMicros(now))
                       .Bind(4, actor)
                       .Bind(5, reason)
                       .Run();
  if (!s.ok()) return s;
  absl::StatusOr<std::optional<v1::PlanApproval>> approval = ApprovalOf(run_id);
  if (!approval.ok()) return approval.status();
  if (!approval->has_value()) return absl::InternalError("the approval was not recorded");
  return **approval;
}

absl::StatusOr<std::optional<v1::PlanApproval>> Plans::ApprovalOf(const std::string& run_id) {
  absl::StatusOr<SqliteStatement> q = db_.Prepare(
      "SELECT run_id, source_id, approved_us, actor, reason FROM plan_approvals"
      " WHERE run_id = ?");
  if (!q.ok()) return q.status();
  q->Bind(1, run_id);
  absl::StatusOr<bool> row = q->Step();
  if (!row.ok()) return row.status();
  if (!*row) return std::optional<v1::PlanApproval>();
  return std::optional<v1::PlanApproval>(ApprovalFromRow(*q));
}

absl::StatusOr<bool> Plans::SourceApproved(const std::string& source_id,
                                           absl::Time approved_since) {
  absl::StatusOr<SqliteStatement> q = db_.Prepare(
      "SELECT 1 FROM plan_approvals WHERE source_id = ? AND approved_us >= ? LIMIT 1");
  if (!q.ok()) return q.status();
  q->Bind(1, source_id).Bind(2, approved_since == absl::InfinitePast()
                                    ? std::numeric_limits<int64_t>::min()
                                    : absl::ToUnixMicros(approved_since));
  return q->Step();
}

}  // namespace mflsync::scheduler
