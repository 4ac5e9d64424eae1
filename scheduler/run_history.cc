#include "scheduler/run_history.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/proto_time.h"
#include "scheduler/state_db.h"

namespace mflsync::scheduler {
namespace {

absl::StatusOr<v1::Run> RunFromRow(SqliteStatement& q, int column) {
  v1::Run run;
  if (!run.ParseFromString(q.ColumnText(column))) {
    return absl::DataLossError("a run record in the state database is corrupt");
  }
  return run;
}

// The run with sequence number `seq`, as CreateRun stores it.
v1::Run NewRun(int64_t seq, const std::string& source_id, v1::RunTrigger trigger, bool full,
               std::optional<absl::Time> since, absl::Time now, bool dry_run) {
  v1::Run run;
  run.set_dry_run(dry_run);
  run.set_run_id(absl::StrFormat("run-%06d", seq));
  run.set_source_id(source_id);
  run.set_trigger(trigger);
  run.set_state(v1::RUN_STATE_RUNNING);
  run.set_full(full);
  *run.mutable_started_at() = ToTimestamp(now);
  if (since.has_value()) *run.mutable_since() = ToTimestamp(*since);
  return run;
}

// Inserts a RUNNING row under a temporary id; returns its sequence number.
absl::StatusOr<int64_t> InsertRunRow(SqliteDb& db, const std::string& source_id,
                                     v1::RunTrigger trigger, absl::Time now, bool dry_run) {
  absl::StatusOr<SqliteStatement> ins = db.Prepare(
      "INSERT INTO runs(run_id, source_id, trigger, state, started_us, proto, dry_run)"
      " VALUES('pending-' || hex(randomblob(8)), ?, ?, ?, ?, x'', ?)");
  if (!ins.ok()) return ins.status();
  absl::Status s = ins->Bind(1, source_id)
                       .Bind(2, int64_t{trigger})
                       .Bind(3, int64_t{v1::RUN_STATE_RUNNING})
                       .Bind(4, absl::ToUnixMicros(now))
                       .Bind(5, int64_t{dry_run ? 1 : 0})
                       .Run();
  if (!s.ok()) return s;
  return db.LastInsertRowId();
}

}  // namespace

absl::StatusOr<v1::Run> RunHistory::Create(const std::string& source_id,
                                           v1::RunTrigger trigger, bool full,
                                           std::optional<absl::Time> since, absl::Time now,
                                           bool dry_run) {
  absl::StatusOr<int64_t> seq = InsertRunRow(db_, source_id, trigger, now, dry_run);
  if (!seq.ok()) return seq.status();
  v1::Run run = NewRun(*seq, source_id, trigger, full, since, now, dry_run);
  absl::StatusOr<SqliteStatement> upd =
      db_.Prepare("UPDATE runs SET run_id = ?, proto = ? WHERE seq = ?");
  if (!upd.ok()) return upd.status();
  absl::Status s =
      upd->Bind(1, run.run_id()).BindBlob(2, run.SerializeAsString()).Bind(3, *seq).Run();
  if (!s.ok()) return s;
  return run;
}

absl::Status RunHistory::Update(const v1::Run& run) {
  absl::StatusOr<SqliteStatement> upd =
      db_.Prepare("UPDATE runs SET state = ?, proto = ? WHERE run_id = ?");
  if (!upd.ok()) return upd.status();
  absl::Status s = upd->Bind(1, int64_t{run.state()})
                       .BindBlob(2, run.SerializeAsString())
                       .Bind(3, run.run_id())
                       .Run();
  if (!s.ok()) return s;
  if (db_.Changes() == 0) {
    return absl::NotFoundError(absl::StrCat("run ", run.run_id(), " does not exist"));
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::Run> RunHistory::Get(const std::string& run_id) {
  absl::StatusOr<SqliteStatement> q = db_.Prepare("SELECT proto FROM runs WHERE run_id = ?");
  if (!q.ok()) return q.status();
  q->Bind(1, run_id);
  absl::StatusOr<bool> row = q->Step();
  if (!row.ok()) return row.status();
  if (!*row) return absl::NotFoundError(absl::StrCat("run '", run_id, "' does not exist"));
  return RunFromRow(*q, 0);
}

absl::StatusOr<v1::Run> RunHistory::Newest(const std::string& source_id) {
  absl::StatusOr<SqliteStatement> q = db_.Prepare(
      "SELECT proto FROM runs WHERE (? = '' OR source_id = ?) ORDER BY seq DESC LIMIT 1");
  if (!q.ok()) return q.status();
  q->Bind(1, source_id).Bind(2, source_id);
  absl::StatusOr<bool> row = q->Step();
  if (!row.ok()) return row.status();
  if (!*row) return absl::NotFoundError("there is no run yet");
  return RunFromRow(*q, 0);
}

absl::StatusOr<std::vector<v1::Run>> RunHistory::List(const std::string& source_id,
                                                      int page_size,
                                                      const std::string& page_token,
                                                      std::string* next_page_token) {
  absl::StatusOr<int64_t> before = ParsePageToken(page_token, "ListRuns");
  if (!before.ok()) return before.status();
  absl::StatusOr<SqliteStatement> q = db_.Prepare(
      "SELECT seq, proto FROM runs WHERE (? = '' OR source_id = ?) AND (? = 0 OR seq < ?)"
      " ORDER BY seq DESC LIMIT ?");
  if (!q.ok()) return q.status();
  q->Bind(1, source_id).Bind(2, source_id).Bind(3, *before).Bind(4, *before).Bind(
      5, int64_t{page_size} + 1);
  std::vector<v1::Run> runs;
  std::string last_seq;
  bool more = false;
  while (true) {
    absl::StatusOr<bool> row = q->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    if (static_cast<int>(runs.size()) == page_size) {
      more = true;
      break;
    }
    absl::StatusOr<v1::Run> run = RunFromRow(*q, 1);
    if (!run.ok()) return run.status();
    runs.push_back(*std::move(run));
    last_seq = absl::StrCat(q->ColumnInt(0));
  }
  *next_page_token = more ? last_seq : "";
  return runs;
}

absl::StatusOr<std::vector<v1::Run>> RunHistory::Unfinished() {
  absl::StatusOr<SqliteStatement> q =
      db_.Prepare("SELECT proto FROM runs WHERE state IN (?, ?) ORDER BY seq");
  if (!q.ok()) return q.status();
  q->Bind(1, int64_t{v1::RUN_STATE_RUNNING}).Bind(2, int64_t{v1::RUN_STATE_PENDING});
  std::vector<v1::Run> runs;
  while (true) {
    absl::StatusOr<bool> row = q->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    absl::StatusOr<v1::Run> run = RunFromRow(*q, 0);
    if (!run.ok()) return run.status();
    runs.push_back(*std::move(run));
  }
  return runs;
}

absl::StatusOr<std::vector<v1::Run>> RunHistory::CloseInterrupted(const std::string& error,
                                                                  absl::Time now) {
  absl::StatusOr<std::vector<v1::Run>> closed = Unfinished();
  if (!closed.ok()) return closed.status();
  for (v1::Run& run : *closed) {
    run.set_state(v1::RUN_STATE_FAILED);
    run.set_error(error);
    *run.mutable_finished_at() = ToTimestamp(now);
    absl::Status s = Update(run);
    if (!s.ok()) return s;
  }
  return closed;
}

absl::StatusOr<std::optional<absl::Time>> RunHistory::LastSyncStart(
    const std::string& source_id) {
  absl::StatusOr<SqliteStatement> q = db_.Prepare(
      "SELECT started_us FROM runs WHERE source_id = ? AND trigger IN (?, ?, ?)"
      " AND dry_run = 0 ORDER BY seq DESC LIMIT 1");
  if (!q.ok()) return q.status();
  q->Bind(1, source_id)
      .Bind(2, int64_t{v1::RUN_TRIGGER_SCHEDULE})
      .Bind(3, int64_t{v1::RUN_TRIGGER_MANUAL})
      .Bind(4, int64_t{v1::RUN_TRIGGER_RESUME});
  absl::StatusOr<bool> row = q->Step();
  if (!row.ok()) return row.status();
  if (!*row) return std::optional<absl::Time>();
  return std::optional<absl::Time>(absl::FromUnixMicros(q->ColumnInt(0)));
}

absl::StatusOr<bool> RunHistory::HadRealSync(const std::string& source_id) {
  absl::StatusOr<SqliteStatement> q = db_.Prepare(
      "SELECT 1 FROM runs WHERE source_id = ? AND dry_run = 0 AND state = ?"
      " AND trigger IN (?, ?, ?, ?) LIMIT 1");
  if (!q.ok()) return q.status();
  q->Bind(1, source_id)
      .Bind(2, int64_t{v1::RUN_STATE_SUCCEEDED})
      .Bind(3, int64_t{v1::RUN_TRIGGER_SCHEDULE})
      .Bind(4, int64_t{v1::RUN_TRIGGER_MANUAL})
      .Bind(5, int64_t{v1::RUN_TRIGGER_RESUME})
      .Bind(6, int64_t{v1::RUN_TRIGGER_RERUN});
  return q->Step();
}

absl::StatusOr<bool> RunHistory::Empty() {
  absl::StatusOr<SqliteStatement> q = db_.Prepare("SELECT 1 FROM runs LIMIT 1");
  if (!q.ok()) return q.status();
  absl::StatusOr<bool> row = q->Step();
  if (!row.ok()) return row.status();
  return !*row;
}

absl::Status RunHistory::Prune(int keep) {
  // The pruned runs' skipped lists and plans go with them (by the index on
  // run_id, never a scan of every list).
  static constexpr char kPruned[] =
      " WHERE run_id IN (SELECT run_id FROM runs WHERE state NOT IN (?, ?) AND seq NOT IN"
      " (SELECT seq FROM runs ORDER BY seq DESC LIMIT ?))";
  for (const char* table : {"skipped", "plan_entries", "runs"}) {
    absl::StatusOr<SqliteStatement> q =
        db_.Prepare(absl::StrCat("DELETE FROM ", table, kPruned));
    if (!q.ok()) return q.status();
    absl::Status s = q->Bind(1, int64_t{v1::RUN_STATE_RUNNING})
                         .Bind(2, int64_t{v1::RUN_STATE_PENDING})
                         .Bind(3, int64_t{keep})
                         .Run();
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status RunHistory::RecordSkipped(const std::string& source_id, const std::string& run_id,
                                       const std::vector<RecordOutcome>& outcomes) {
  std::optional<SqliteStatement> insert;
  for (const RecordOutcome& o : outcomes) {
    if (o.skip_reason.empty()) continue;
    if (!insert.has_value()) {
      absl::StatusOr<SqliteStatement> q = db_.Prepare(
          "INSERT INTO skipped(run_id, source_id, location_id, version_id, last_updated_us,"
          " reason) VALUES(?, ?, ?, ?, ?, ?)");
      if (!q.ok()) return q.status();
      insert.emplace(*std::move(q));
    }
    insert->Reset();
    absl::Status s = insert->Bind(1, run_id)
                         .Bind(2, source_id)
                         .Bind(3, o.record.location_id())
                         .Bind(4, o.record.version_id())
                         .Bind(5, ToMicros(o.record.last_updated()))
                         .Bind(6, o.skip_reason)
                         .Run();
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<v1::SkippedRecord>> RunHistory::ListSkipped(
    const std::string& run_id, int page_size, const std::string& page_token,
    std::string* next_page_token) {
  absl::StatusOr<int64_t> after = ParsePageToken(page_token, "ListSkipped");
  if (!after.ok()) return after.status();
  absl::StatusOr<SqliteStatement> q = db_.Prepare(
      "SELECT seq, location_id, version_id, last_updated_us, reason FROM skipped"
      " WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT ?");
  if (!q.ok()) return q.status();
  q->Bind(1, run_id).Bind(2, *after).Bind(3, int64_t{page_size} + 1);
  return ReadKeysetPage<v1::SkippedRecord>(
      *q, page_size,
      [](const SqliteStatement& row) -> absl::StatusOr<v1::SkippedRecord> {
        v1::SkippedRecord r;
        r.set_location_id(row.ColumnText(1));
        r.set_version_id(row.ColumnText(2));
        *r.mutable_last_updated() = FromMicros(row.ColumnInt(3));
        r.set_reason(row.ColumnText(4));
        return r;
      },
      next_page_token);
}

}  // namespace mflsync::scheduler
