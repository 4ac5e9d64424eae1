#include "scheduler/facility_links.h"

#include "absl/container/flat_hash_set.h"
#include "common/proto_time.h"

namespace mflsync::scheduler {

absl::Status FacilityLinks::Set(const v1::FacilityLink& link) {
  absl::StatusOr<SqliteStatement> q = db_.Prepare(
      "INSERT OR REPLACE INTO facility_links(source_id, location_id, hf_code, accept_namesake,"
      " actor, reason, decided_us) VALUES(?, ?, ?, ?, ?, ?, ?)");
  if (!q.ok()) return q.status();
  return q->Bind(1, link.source_id())
      .Bind(2, link.location_id())
      .Bind(3, link.hf_code())
      .Bind(4, int64_t{link.accept_namesake() ? 1 : 0})
      .Bind(5, link.actor())
      .Bind(6, link.reason())
      .Bind(7, ToMicros(link.decided_at()))
      .Run();
}

absl::StatusOr<std::optional<v1::FacilityLink>> FacilityLinks::Get(
    const std::string& source_id, const std::string& location_id) {
  absl::StatusOr<SqliteStatement> q = db_.Prepare(
      "SELECT hf_code, accept_namesake, actor, reason, decided_us FROM facility_links"
      " WHERE source_id = ? AND location_id = ?");
  if (!q.ok()) return q.status();
  q->Bind(1, source_id).Bind(2, location_id);
  absl::StatusOr<bool> row = q->Step();
  if (!row.ok()) return row.status();
  if (!*row) return std::optional<v1::FacilityLink>();
  v1::FacilityLink link;
  link.set_source_id(source_id);
  link.set_location_id(location_id);
  link.set_hf_code(q->ColumnText(0));
  link.set_accept_namesake(q->ColumnInt(1) != 0);
  link.set_actor(q->ColumnText(2));
  link.set_reason(q->ColumnText(3));
  *link.mutable_decided_at() = FromMicros(q->ColumnInt(4));
  return std::optional<v1::FacilityLink>(std::move(link));
}

absl::StatusOr<std::vector<v1::PlanLink>> FacilityLinks::ForPlan(
    const std::string& source_id, const std::vector<std::string>& location_ids) {
  // Operators' decisions are few: one read of the source's, matched here.
  absl::StatusOr<SqliteStatement> q = db_.Prepare(
      "SELECT location_id, hf_code, accept_namesake FROM facility_links WHERE source_id = ?");
  if (!q.ok()) return q.status();
  q->Bind(1, source_id);
  const absl::flat_hash_set<std::string> wanted(location_ids.begin(), location_ids.end());
  std::vector<v1::PlanLink> out;
  while (true) {
    absl::StatusOr<bool> row = q->Step();
    if (!row.ok()) return row.status();
    if (!*row) return out;
    if (!wanted.contains(q->ColumnText(0))) continue;
    v1::PlanLink& l = out.emplace_back();
    l.set_location_id(q->ColumnText(0));
    l.set_hf_code(q->ColumnText(1));
    l.set_accept_namesake(q->ColumnInt(2) != 0);
  }
}

}  // namespace mflsync::scheduler
