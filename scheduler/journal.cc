#include "scheduler/journal.h"

#include "common/proto_time.h"

namespace mflsync::scheduler {
namespace {

constexpr char kUpsertJournal[] =
    "INSERT INTO journal(source_id, location_id, version_id, last_updated_us, state,"
    " run_id, updated_us) VALUES(?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT(source_id, location_id, version_id, last_updated_us) DO UPDATE SET"
    " state = excluded.state, run_id = excluded.run_id, updated_us = excluded.updated_us";

int64_t StateColumn(JournalState state) { return int64_t{static_cast<int>(state)}; }

// Runs the prepared kUpsertJournal for one version.
absl::Status UpsertRow(SqliteStatement& upsert, const std::string& source_id,
                       const std::string& run_id, const v1::SourceRecord& r,
                       JournalState state, absl::Time now) {
  upsert.Reset();
  return upsert.Bind(1, source_id)
      .Bind(2, r.location_id())
      .Bind(3, r.version_id())
      .Bind(4, ToMicros(r.last_updated()))
      .Bind(5, StateColumn(state))
      .Bind(6, run_id)
      .Bind(7, absl::ToUnixMicros(now))
      .Run();
}

}  // namespace

bool ReachedOpenImis(JournalState state) {
  return state == JournalState::kWritten || state == JournalState::kUnchanged;
}

absl::Status Journal::MarkInFlight(const std::string& source_id, const std::string& run_id,
                                   const std::vector<v1::SourceRecord>& records,
                                   absl::Time now) {
  absl::StatusOr<SqliteStatement> upsert = db_.Prepare(kUpsertJournal);
  if (!upsert.ok()) return upsert.status();
  for (const v1::SourceRecord& r : records) {
    absl::Status s = UpsertRow(*upsert, source_id, run_id, r, JournalState::kInFlight, now);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status Journal::Record(const std::string& source_id, const std::string& run_id,
                             const std::vector<RecordOutcome>& outcomes, absl::Time now) {
  absl::StatusOr<SqliteStatement> upsert = db_.Prepare(kUpsertJournal);
  if (!upsert.ok()) return upsert.status();
  for (const RecordOutcome& o : outcomes) {
    absl::Status s = UpsertRow(*upsert, source_id, run_id, o.record, o.state, now);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<v1::RecordKey>> Journal::AlreadySeen(const std::string& source_id,
                                                                absl::Time from, int limit) {
  absl::StatusOr<SqliteStatement> q = db_.Prepare(
      "SELECT location_id, version_id, last_updated_us FROM journal"
      " WHERE source_id = ? AND last_updated_us >= ? AND state != ?"
      " ORDER BY last_updated_us DESC LIMIT ?");
  if (!q.ok()) return q.status();
  q->Bind(1, source_id)
      .Bind(2, absl::ToUnixMicros(from))
      .Bind(3, StateColumn(JournalState::kInFlight))
      .Bind(4, int64_t{limit});
  std::vector<v1::RecordKey> keys;
  while (true) {
    absl::StatusOr<bool> row = q->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    v1::RecordKey key;
    key.set_location_id(q->ColumnText(0));
    key.set_version_id(q->ColumnText(1));
    *key.mutable_last_updated() = FromMicros(q->ColumnInt(2));
    keys.push_back(std::move(key));
  }
  return keys;
}

absl::Status Journal::Prune(const std::string& source_id, absl::Time before) {
  absl::StatusOr<SqliteStatement> q = db_.Prepare(
      "DELETE FROM journal WHERE source_id = ? AND last_updated_us < ? AND state != ?");
  if (!q.ok()) return q.status();
  return q->Bind(1, source_id)
      .Bind(2, absl::ToUnixMicros(before))
      .Bind(3, StateColumn(JournalState::kInFlight))
      .Run();
}

absl::StatusOr<std::optional<JournalState>> Journal::StateOf(const std::string& source_id,
                                                             const v1::RecordKey& key) {
  absl::StatusOr<SqliteStatement> q = db_.Prepare(
      "SELECT state FROM journal WHERE source_id = ? AND location_id = ?"
      " AND version_id = ? AND last_updated_us = ?");
  if (!q.ok()) return q.status();
  q->Bind(1, source_id)
      .Bind(2, key.location_id())
      .Bind(3, key.version_id())
      .Bind(4, ToMicros(key.last_updated()));
  absl::StatusOr<bool> row = q->Step();
  if (!row.ok()) return row.status();
  if (!*row) return std::optional<JournalState>();
  return std::optional<JournalState>(static_cast<JournalState>(q->ColumnInt(0)));
}

absl::Status Journal::RaiseNewestVersions(const std::string& source_id,
                                          const std::vector<RecordOutcome>& outcomes) {
  absl::StatusOr<SqliteStatement> q = db_.Prepare(
      "INSERT INTO versions(source_id, location_id, version_id, last_updated_us)"
      " VALUES(?, ?, ?, ?) ON CONFLICT(source_id, location_id) DO UPDATE SET"
      " version_id = excluded.version_id, last_updated_us = excluded.last_updated_us"
      " WHERE excluded.last_updated_us >= versions.last_updated_us");
  if (!q.ok()) return q.status();
  for (const RecordOutcome& o : outcomes) {
    if (!ReachedOpenImis(o.state)) continue;
    q->Reset();
    absl::Status s = q->Bind(1, source_id)
                         .Bind(2, o.record.location_id())
                         .Bind(3, o.record.version_id())
                         .Bind(4, ToMicros(o.record.last_updated()))
                         .Run();
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::map<std::string, v1::RecordKey>> Journal::NewestVersions(
    const std::string& source_id, const std::vector<std::string>& location_ids) {
  absl::StatusOr<SqliteStatement> q = db_.Prepare(
      "SELECT version_id, last_updated_us FROM versions"
      " WHERE source_id = ? AND location_id = ?");
  if (!q.ok()) return q.status();
  std::map<std::string, v1::RecordKey> out;
  for (const std::string& id : location_ids) {
    q->Reset();
    q->Bind(1, source_id).Bind(2, id);
    absl::StatusOr<bool> row = q->Step();
    if (!row.ok()) return row.status();
    if (!*row) continue;
    v1::RecordKey key;
    key.set_location_id(id);
    key.set_version_id(q->ColumnText(0));
    *key.mutable_last_updated() = FromMicros(q->ColumnInt(1));
    out.emplace(id, std::move(key));
  }
  return out;
}

}  // namespace mflsync::scheduler
