#include "scheduler/state_store.h"

#include <algorithm>
#include <filesystem>
#include <system_error>

#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/backoff.h"
#include "common/utf8.h"

namespace mflsync::scheduler {
namespace {

constexpr int64_t kFailureOpen = v1::FAILURE_STATE_OPEN;
constexpr int64_t kFailureResolved = v1::FAILURE_STATE_RESOLVED;
constexpr int64_t kFailureDismissed = v1::FAILURE_STATE_DISMISSED;

int64_t NowMicros(absl::Time t) { return absl::ToUnixMicros(t); }

absl::StatusOr<int64_t> ParseToken(const std::string& token, const char* what) {
  if (token.empty()) return int64_t{0};
  int64_t v = 0;
  if (!absl::SimpleAtoi(token, &v) || v < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " page_token '", token.substr(0, 40),
                     "' is not a token this server issued"));
  }
  return v;
}

nlohmann::json JsonOrText(const std::string& text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return text;
  return j;
}

// A page entry the fetcher could not use: the entry as the MFL sent it
// (bounded by the fetcher) and the fetcher's rejections.
std::string RawDefectJson(const v1::SourceRecord& record, nlohmann::json out) {
  out["entry"] = JsonOrText(record.location_json());
  nlohmann::json rejections = nlohmann::json::array();
  for (const v1::Rejection& r : record.fetch_rejections()) {
    rejections.push_back({{"fhir_path", r.fhir_path()},
                          {"rule", r.rule()},
                          {"value", r.value()},
                          {"message", r.message()}});
  }
  out["fetch_rejections"] = rejections;
  return out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

std::string RawRecordJson(const v1::SourceRecord& record) {
  std::string text = FullRawRecordJson(record);
  if (text.size() <= kMaxRawJson) return text;
  const size_t size = text.size();
  return absl::StrCat(SafeUtf8(text, kMaxRawJson), "\n...(cut: ", size,
                      " bytes in all; the whole record is kept for retries)");
}

std::string FullRawRecordJson(const v1::SourceRecord& record) {
  nlohmann::json out = nlohmann::json::object();
  out["source_id"] = record.source_id();
  out["location_id"] = record.location_id();
  out["version_id"] = record.version_id();
  out["deleted"] = record.deleted();
  if (record.fetch_rejections_size() > 0) return RawDefectJson(record, std::move(out));
  if (!record.location_json().empty()) out["location"] = JsonOrText(record.location_json());
  if (!record.organization_json().empty()) {
    out["organization"] = JsonOrText(record.organization_json());
  }
  nlohmann::json endpoints = nlohmann::json::array();
  for (const std::string& e : record.endpoint_json()) endpoints.push_back(JsonOrText(e));
  out["endpoints"] = endpoints;
  nlohmann::json unresolved = nlohmann::json::array();
  for (const std::string& u : record.unresolved_references()) unresolved.push_back(u);
  out["unresolved_references"] = unresolved;
  return out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
}

const std::vector<SqliteMigration>& StateStore::Migrations() {
  static const auto* kMigrations = new std::vector<SqliteMigration>{
      {1, "runs, watermarks and the record journal",
       "CREATE TABLE runs ("
       " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
       " run_id TEXT NOT NULL UNIQUE,"
       " source_id TEXT NOT NULL,"
       " trigger INTEGER NOT NULL,"
       " state INTEGER NOT NULL,"
       " started_us INTEGER NOT NULL,"
       " proto BLOB NOT NULL);"
       "CREATE INDEX runs_by_source ON runs(source_id, seq);"
       "CREATE TABLE watermarks ("
       " source_id TEXT PRIMARY KEY,"
       " watermark_us INTEGER NOT NULL,"
       " updated_us INTEGER NOT NULL);"
       "CREATE TABLE journal ("
       " source_id TEXT NOT NULL,"
       " location_id TEXT NOT NULL,"
       " version_id TEXT NOT NULL,"
       " last_updated_us INTEGER NOT NULL,"
       " state INTEGER NOT NULL,"
       " run_id TEXT NOT NULL,"
       " updated_us INTEGER NOT NULL,"
       " PRIMARY KEY (source_id, location_id, version_id, last_updated_us)"
       ") WITHOUT ROWID;"
       "CREATE INDEX journal_by_time ON journal(source_id, last_updated_us);"},
      {2, "failure queue",
       "CREATE TABLE failures ("
       " failure_id INTEGER PRIMARY KEY AUTOINCREMENT,"
       " source_id TEXT NOT NULL,"
       " location_id TEXT NOT NULL,"
       " version_id TEXT NOT NULL,"
       " last_updated_us INTEGER NOT NULL,"
       " stage INTEGER NOT NULL,"
       " state INTEGER NOT NULL,"
       " reason TEXT NOT NULL,"
       " attempts INTEGER NOT NULL,"
       " transient INTEGER NOT NULL,"
       " created_us INTEGER NOT NULL,"
       " updated_us INTEGER NOT NULL,"
       " next_attempt_us INTEGER,"
       " run_id TEXT NOT NULL,"
       " raw_json TEXT NOT NULL,"
       " record BLOB NOT NULL,"
       " resolution TEXT NOT NULL DEFAULT '');"
       "CREATE INDEX failures_by_location ON failures(source_id, location_id, state);"
       "CREATE INDEX failures_due ON failures(state, next_attempt_us);"},
      {3, "operator changes of watermarks",
       "CREATE TABLE watermark_changes ("
       " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
       " source_id TEXT NOT NULL,"
       " changed_us INTEGER NOT NULL,"
       " previous_us INTEGER,"
       " watermark_us INTEGER,"
       " reason TEXT NOT NULL);"
       "CREATE INDEX watermark_changes_by_source ON watermark_changes(source_id, seq);"},
      {4, "the newest version of each Location in openIMIS (newest version wins)",
       "CREATE TABLE versions ("
       " source_id TEXT NOT NULL,"
       " location_id TEXT NOT NULL,"
       " version_id TEXT NOT NULL,"
       " last_updated_us INTEGER NOT NULL,"
       " PRIMARY KEY (source_id, location_id)"
       ") WITHOUT ROWID;"
       // From what the journal still holds (SQLite takes the bare columns
       // from the row of the MAX).
       "INSERT INTO versions(source_id, location_id, version_id, last_updated_us)"
       " SELECT source_id, location_id, version_id, MAX(last_updated_us) FROM journal"
       " WHERE state IN (1, 2) GROUP BY source_id, location_id;"},
      {5, "the Locations each run skipped as not facilities",
       "CREATE TABLE skipped ("
       " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
       " run_id TEXT NOT NULL,"
       " source_id TEXT NOT NULL,"
       " location_id TEXT NOT NULL,"
       " version_id TEXT NOT NULL,"
       " last_updated_us INTEGER NOT NULL,"
       " reason TEXT NOT NULL);"
       "CREATE INDEX skipped_by_run ON skipped(run_id, seq);"},
  };
  return *kMigrations;
}

absl::StatusOr<std::unique_ptr<StateStore>> StateStore::Open(const std::string& path,
                                                             RetryPolicy retry) {
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    if (ec) {
      return absl::FailedPreconditionError(absl::StrCat(
          "state database folder ", parent.string(), " cannot be created: ", ec.message()));
    }
  }
  absl::StatusOr<std::unique_ptr<SqliteDb>> db = SqliteDb::Open(path);
  if (!db.ok()) return db.status();
  absl::Status s = (*db)->Migrate(Migrations());
  if (!s.ok()) return s;
  return std::unique_ptr<StateStore>(new StateStore(std::move(*db), retry));
}

absl::Status StateStore::LimitSize(int64_t max_bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  absl::StatusOr<SqliteStatement> size = db_->Prepare("PRAGMA page_size");
  if (!size.ok()) return size.status();
  absl::StatusOr<bool> row = size->Step();
  if (!row.ok()) return row.status();
  const int64_t page = *row ? std::max<int64_t>(512, size->ColumnInt(0)) : 4096;
  const int64_t pages = max_bytes > 0 ? std::max<int64_t>(1, max_bytes / page) : 1073741823;
  return db_->Exec(absl::StrCat("PRAGMA max_page_count = ", pages));
}

absl::Status StateStore::SetQueryOnly(bool on) {
  std::lock_guard<std::mutex> lock(mu_);
  return db_->Exec(on ? "PRAGMA query_only = ON" : "PRAGMA query_only = OFF");
}

absl::StatusOr<int> StateStore::SchemaVersion() {
  std::lock_guard<std::mutex> lock(mu_);
  return db_->SchemaVersion();
}

// ---------------------------------------------------------------- runs

absl::StatusOr<v1::Run> StateStore::CreateRun(const std::string& source_id,
                                              v1::RunTrigger trigger, bool full,
                                              std::optional<absl::Time> since,
                                              absl::Time now) {
  std::lock_guard<std::mutex> lock(mu_);
  absl::Status s = db_->Begin();
  if (!s.ok()) return s;
  absl::StatusOr<SqliteStatement> ins = db_->Prepare(
      "INSERT INTO runs(run_id, source_id, trigger, state, started_us, proto)"
      " VALUES('pending-' || hex(randomblob(8)), ?, ?, ?, ?, x'')");
  if (!ins.ok()) {
    db_->Rollback();
    return ins.status();
  }
  s = ins->Bind(1, source_id)
          .Bind(2, int64_t{trigger})
          .Bind(3, int64_t{v1::RUN_STATE_RUNNING})
          .Bind(4, NowMicros(now))
          .Run();
  if (!s.ok()) {
    db_->Rollback();
    return s;
  }
  int64_t seq = db_->LastInsertRowId();
  v1::Run run;
  run.set_run_id(absl::StrFormat("run-%06d", seq));
  run.set_source_id(source_id);
  run.set_trigger(trigger);
  run.set_state(v1::RUN_STATE_RUNNING);
  run.set_full(full);
  *run.mutable_started_at() = ToTimestamp(now);
  if (since.has_value()) *run.mutable_since() = ToTimestamp(*since);
  absl::StatusOr<SqliteStatement> upd =
      db_->Prepare("UPDATE runs SET run_id = ?, proto = ? WHERE seq = ?");
  s = upd.ok() ? upd->Bind(1, run.run_id())
                     .BindBlob(2, run.SerializeAsString())
                     .Bind(3, seq)
                     .Run()
               : upd.status();
  if (s.ok()) s = db_->Commit();
  if (!s.ok()) {
    db_->Rollback();
    return s;
  }
  return run;
}

absl::Status StateStore::UpdateRun(const v1::Run& run) {
  std::lock_guard<std::mutex> lock(mu_);
  absl::StatusOr<SqliteStatement> upd =
      db_->Prepare("UPDATE runs SET state = ?, proto = ? WHERE run_id = ?");
  if (!upd.ok()) return upd.status();
  absl::Status s = upd->Bind(1, int64_t{run.state()})
                       .BindBlob(2, run.SerializeAsString())
                       .Bind(3, run.run_id())
                       .Run();
  if (!s.ok()) return s;
  if (db_->Changes() == 0) {
    return absl::NotFoundError(absl::StrCat("run ", run.run_id(), " does not exist"));
  }
  return absl::OkStatus();
}

namespace {
absl::StatusOr<v1::Run> RunFromRow(SqliteStatement& q, int column) {
  v1::Run run;
  if (!run.ParseFromString(q.ColumnText(column))) {
    return absl::DataLossError("a run record in the state database is corrupt");
  }
  return run;
}
}  // namespace

absl::StatusOr<v1::Run> StateStore::GetRun(const std::string& run_id) {
  std::lock_guard<std::mutex> lock(mu_);
  absl::StatusOr<SqliteStatement> q = db_->Prepare("SELECT proto FROM runs WHERE run_id = ?");
  if (!q.ok()) return q.status();
  q->Bind(1, run_id);
  absl::StatusOr<bool> row = q->Step();
  if (!row.ok()) return row.status();
  if (!*row) return absl::NotFoundError(absl::StrCat("run '", run_id, "' does not exist"));
  return RunFromRow(*q, 0);
}

absl::StatusOr<v1::Run> StateStore::NewestRun(const std::string& source_id) {
  std::lock_guard<std::mutex> lock(mu_);
  absl::StatusOr<SqliteStatement> q = db_->Prepare(
      "SELECT proto FROM runs WHERE (? = '' OR source_id = ?) ORDER BY seq DESC LIMIT 1");
  if (!q.ok()) return q.status();
  q->Bind(1, source_id).Bind(2, source_id);
  absl::StatusOr<bool> row = q->Step();
  if (!row.ok()) return row.status();
  if (!*row) return absl::NotFoundError("there is no run yet");
  return RunFromRow(*q, 0);
}

absl::StatusOr<std::vector<v1::Run>> StateStore::ListRuns(const std::string& source_id,
                                                          int page_size,
                                                          const std::string& page_token,
                                                          std::string* next_page_token) {
  absl::StatusOr<int64_t> before = ParseToken(page_token, "ListRuns");
  if (!before.ok()) return before.status();
  std::lock_guard<std::mutex> lock(mu_);
  absl::StatusOr<SqliteStatement> q = db_->Prepare(
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

absl::StatusOr<std::vector<v1::Run>> StateStore::CloseInterruptedRuns(
    const std::string& error, absl::Time now) {
  std::vector<v1::Run> closed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    absl::StatusOr<SqliteStatement> q = db_->Prepare(
        "SELECT proto FROM runs WHERE state IN (?, ?) ORDER BY seq");
    if (!q.ok()) return q.status();
    q->Bind(1, int64_t{v1::RUN_STATE_RUNNING}).Bind(2, int64_t{v1::RUN_STATE_PENDING});
    while (true) {
      absl::StatusOr<bool> row = q->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      absl::StatusOr<v1::Run> run = RunFromRow(*q, 0);
      if (!run.ok()) return run.status();
      closed.push_back(*std::move(run));
    }
  }
  for (v1::Run& run : closed) {
    run.set_state(v1::RUN_STATE_FAILED);
    run.set_error(error);
    *run.mutable_finished_at() = ToTimestamp(now);
    absl::Status s = UpdateRun(run);
    if (!s.ok()) return s;
  }
  return closed;
}

absl::StatusOr<std::optional<absl::Time>> StateStore::LastSyncStart(
    const std::string& source_id) {
  std::lock_guard<std::mutex> lock(mu_);
  absl::StatusOr<SqliteStatement> q = db_->Prepare(
      "SELECT started_us FROM runs WHERE source_id = ? AND trigger IN (?, ?, ?)"
      " ORDER BY seq DESC LIMIT 1");
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

absl::Status StateStore::PruneRuns(int keep) {
  std::lock_guard<std::mutex> lock(mu_);
  absl::Status s = db_->Begin();
  if (s.ok()) s = PruneRunsLocked(keep);
  if (s.ok()) s = db_->Commit();
  if (!s.ok()) db_->Rollback();
  return s;
}

absl::Status StateStore::PruneRunsLocked(int keep) {
  // The pruned runs' skipped lists go with them (by the index on run_id,
  // never a scan of every list).
  static constexpr char kPruned[] =
      " WHERE run_id IN (SELECT run_id FROM runs WHERE state NOT IN (?, ?) AND seq NOT IN"
      " (SELECT seq FROM runs ORDER BY seq DESC LIMIT ?))";
  for (const char* table : {"skipped", "runs"}) {
    absl::StatusOr<SqliteStatement> q =
        db_->Prepare(absl::StrCat("DELETE FROM ", table, kPruned));
    if (!q.ok()) return q.status();
    absl::Status s = q->Bind(1, int64_t{v1::RUN_STATE_RUNNING})
                         .Bind(2, int64_t{v1::RUN_STATE_PENDING})
                         .Bind(3, int64_t{keep})
                         .Run();
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status StateStore::RecordSkippedLocked(const std::string& source_id,
                                             const std::string& run_id,
                                             const std::vector<RecordOutcome>& outcomes) {
  std::optional<SqliteStatement> insert;
  for (const RecordOutcome& o : outcomes) {
    if (o.skip_reason.empty()) continue;
    if (!insert.has_value()) {
      absl::StatusOr<SqliteStatement> q = db_->Prepare(
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

absl::StatusOr<std::vector<v1::SkippedRecord>> StateStore::ListSkipped(
    const std::string& run_id, int page_size, const std::string& page_token,
    std::string* next_page_token) {
  absl::StatusOr<int64_t> after = ParseToken(page_token, "ListSkipped");
  if (!after.ok()) return after.status();
  std::lock_guard<std::mutex> lock(mu_);
  absl::StatusOr<SqliteStatement> q = db_->Prepare(
      "SELECT seq, location_id, version_id, last_updated_us, reason FROM skipped"
      " WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT ?");
  if (!q.ok()) return q.status();
  q->Bind(1, run_id).Bind(2, *after).Bind(3, int64_t{page_size} + 1);
  std::vector<v1::SkippedRecord> out;
  next_page_token->clear();
  int64_t last_seq = 0;
  while (true) {
    absl::StatusOr<bool> row = q->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    if (static_cast<int>(out.size()) == page_size) {
      *next_page_token = absl::StrCat(last_seq);
      break;
    }
    last_seq = q->ColumnInt(0);
    v1::SkippedRecord& r = out.emplace_back();
    r.set_location_id(q->ColumnText(1));
    r.set_version_id(q->ColumnText(2));
    *r.mutable_last_updated() = FromMicros(q->ColumnInt(3));
    r.set_reason(q->ColumnText(4));
  }
  return out;
}

// ------------------------------------------------------ watermark, journal

absl::StatusOr<std::optional<absl::Time>> StateStore::GetWatermark(
    const std::string& source_id) {
  std::lock_guard<std::mutex> lock(mu_);
  return GetWatermarkLocked(source_id);
}

absl::StatusOr<std::optional<absl::Time>> StateStore::GetWatermarkLocked(
    const std::string& source_id) {
  absl::StatusOr<SqliteStatement> q =
      db_->Prepare("SELECT watermark_us FROM watermarks WHERE source_id = ?");
  if (!q.ok()) return q.status();
  q->Bind(1, source_id);
  absl::StatusOr<bool> row = q->Step();
  if (!row.ok()) return row.status();
  if (!*row) return std::optional<absl::Time>();
  return std::optional<absl::Time>(absl::FromUnixMicros(q->ColumnInt(0)));
}

absl::StatusOr<v1::WatermarkChange> StateStore::SetWatermark(
    const std::string& source_id, std::optional<absl::Time> watermark,
    const std::string& reason, absl::Time now) {
  std::lock_guard<std::mutex> lock(mu_);
  if (absl::Status s = db_->Begin(); !s.ok()) return s;
  // Read inside the transaction: the recorded previous value is the one replaced.
  absl::StatusOr<std::optional<absl::Time>> got = GetWatermarkLocked(source_id);
  absl::Status s = got.status();
  std::optional<absl::Time> previous = got.ok() ? *got : std::nullopt;
  if (s.ok()) s = WriteWatermarkLocked(source_id, watermark, now);
  if (s.ok()) s = RecordWatermarkChangeLocked(source_id, previous, watermark, reason, now);
  if (s.ok()) s = db_->Commit();
  if (!s.ok()) {
    db_->Rollback();
    return s;
  }
  v1::WatermarkChange change;
  *change.mutable_changed_at() = ToTimestamp(now);
  if (previous.has_value()) *change.mutable_previous() = ToTimestamp(*previous);
  if (watermark.has_value()) *change.mutable_watermark() = ToTimestamp(*watermark);
  change.set_reason(reason);
  return change;
}

absl::Status StateStore::WriteWatermarkLocked(const std::string& source_id,
                                              std::optional<absl::Time> watermark,
                                              absl::Time now) {
  if (!watermark.has_value()) {
    absl::StatusOr<SqliteStatement> del =
        db_->Prepare("DELETE FROM watermarks WHERE source_id = ?");
    if (!del.ok()) return del.status();
    return del->Bind(1, source_id).Run();
  }
  // Unlike a run's commit (which only moves it forward), an operator may move
  // it back.
  absl::StatusOr<SqliteStatement> put = db_->Prepare(
      "INSERT INTO watermarks(source_id, watermark_us, updated_us) VALUES(?, ?, ?)"
      " ON CONFLICT(source_id) DO UPDATE SET watermark_us = excluded.watermark_us,"
      " updated_us = excluded.updated_us");
  if (!put.ok()) return put.status();
  return put->Bind(1, source_id)
      .Bind(2, absl::ToUnixMicros(*watermark))
      .Bind(3, absl::ToUnixMicros(now))
      .Run();
}

absl::Status StateStore::RecordWatermarkChangeLocked(const std::string& source_id,
                                                     std::optional<absl::Time> previous,
                                                     std::optional<absl::Time> watermark,
                                                     const std::string& reason,
                                                     absl::Time now) {
  absl::StatusOr<SqliteStatement> ins = db_->Prepare(
      "INSERT INTO watermark_changes(source_id, changed_us, previous_us, watermark_us, reason)"
      " VALUES(?, ?, ?, ?, ?)");
  if (!ins.ok()) return ins.status();
  ins->Bind(1, source_id).Bind(2, absl::ToUnixMicros(now));
  if (previous.has_value()) ins->Bind(3, absl::ToUnixMicros(*previous)); else ins->BindNull(3);
  if (watermark.has_value()) ins->Bind(4, absl::ToUnixMicros(*watermark)); else ins->BindNull(4);
  return ins->Bind(5, reason).Run();
}

absl::StatusOr<std::vector<v1::WatermarkChange>> StateStore::WatermarkChanges(
    const std::string& source_id, int limit) {
  std::lock_guard<std::mutex> lock(mu_);
  absl::StatusOr<SqliteStatement> q = db_->Prepare(
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

absl::StatusOr<std::vector<v1::RecordKey>> StateStore::AlreadySeen(
    const std::string& source_id, absl::Time from, int limit) {
  std::lock_guard<std::mutex> lock(mu_);
  absl::StatusOr<SqliteStatement> q = db_->Prepare(
      "SELECT location_id, version_id, last_updated_us FROM journal"
      " WHERE source_id = ? AND last_updated_us >= ? AND state != ?"
      " ORDER BY last_updated_us DESC LIMIT ?");
  if (!q.ok()) return q.status();
  q->Bind(1, source_id)
      .Bind(2, absl::ToUnixMicros(from))
      .Bind(3, int64_t{static_cast<int>(JournalState::kInFlight)})
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

absl::Status StateStore::JournalInFlight(const std::string& source_id,
                                         const std::string& run_id,
                                         const std::vector<v1::SourceRecord>& records,
                                         absl::Time now) {
  std::lock_guard<std::mutex> lock(mu_);
  absl::Status s = db_->Begin();
  if (!s.ok()) return s;
  absl::StatusOr<SqliteStatement> q = db_->Prepare(
      "INSERT INTO journal(source_id, location_id, version_id, last_updated_us, state,"
      " run_id, updated_us) VALUES(?, ?, ?, ?, ?, ?, ?)"
      " ON CONFLICT(source_id, location_id, version_id, last_updated_us) DO UPDATE SET"
      " state = excluded.state, run_id = excluded.run_id, updated_us = excluded.updated_us");
  if (!q.ok()) {
    db_->Rollback();
    return q.status();
  }
  for (const v1::SourceRecord& r : records) {
    q->Reset();
    s = q->Bind(1, source_id)
            .Bind(2, r.location_id())
            .Bind(3, r.version_id())
            .Bind(4, ToMicros(r.last_updated()))
            .Bind(5, int64_t{static_cast<int>(JournalState::kInFlight)})
            .Bind(6, run_id)
            .Bind(7, NowMicros(now))
            .Run();
    if (!s.ok()) {
      db_->Rollback();
      return s;
    }
  }
  s = db_->Commit();
  if (!s.ok()) db_->Rollback();
  return s;
}

absl::Status StateStore::CommitBatch(const std::string& source_id,
                                     const std::string& run_id,
                                     const std::vector<RecordOutcome>& outcomes,
                                     std::optional<absl::Time> watermark,
                                     absl::Time now) {
  std::lock_guard<std::mutex> lock(mu_);
  absl::Status s = db_->Begin();
  if (!s.ok()) return s;
  s = CommitLocked(source_id, run_id, outcomes, watermark, now);
  if (s.ok()) s = RecordNewestVersionsLocked(source_id, outcomes);
  if (s.ok()) s = RecordSkippedLocked(source_id, run_id, outcomes);
  if (s.ok()) s = db_->Commit();
  if (!s.ok()) db_->Rollback();
  return s;
}

absl::Status StateStore::CommitLocked(const std::string& source_id,
                                      const std::string& run_id,
                                      const std::vector<RecordOutcome>& outcomes,
                                      std::optional<absl::Time> watermark,
                                      absl::Time now) {
  const int64_t now_us = NowMicros(now);
  absl::StatusOr<SqliteStatement> journal = db_->Prepare(
      "INSERT INTO journal(source_id, location_id, version_id, last_updated_us, state,"
      " run_id, updated_us) VALUES(?, ?, ?, ?, ?, ?, ?)"
      " ON CONFLICT(source_id, location_id, version_id, last_updated_us) DO UPDATE SET"
      " state = excluded.state, run_id = excluded.run_id, updated_us = excluded.updated_us");
  absl::StatusOr<SqliteStatement> find_open = db_->Prepare(
      "SELECT failure_id, attempts FROM failures"
      " WHERE source_id = ? AND location_id = ? AND state = ? ORDER BY failure_id LIMIT 1");
  absl::StatusOr<SqliteStatement> find_by_id = db_->Prepare(
      "SELECT failure_id, attempts FROM failures WHERE failure_id = ? AND state = ?");
  absl::StatusOr<SqliteStatement> update_failure = db_->Prepare(
      "UPDATE failures SET version_id = ?, last_updated_us = ?, stage = ?, reason = ?,"
      " attempts = ?, transient = ?, updated_us = ?, next_attempt_us = ?, run_id = ?,"
      " raw_json = ?, record = ? WHERE failure_id = ?");
  absl::StatusOr<SqliteStatement> insert_failure = db_->Prepare(
      "INSERT INTO failures(source_id, location_id, version_id, last_updated_us, stage,"
      " state, reason, attempts, transient, created_us, updated_us, next_attempt_us,"
      " run_id, raw_json, record) VALUES(?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?)");
  absl::StatusOr<SqliteStatement> resolve = db_->Prepare(
      "UPDATE failures SET state = ?, resolution = ?, updated_us = ?, next_attempt_us = NULL"
      " WHERE source_id = ? AND location_id = ? AND state = ? AND last_updated_us <= ?");
  for (auto* q : {&journal, &find_open, &find_by_id, &update_failure, &insert_failure,
                  &resolve}) {
    if (!q->ok()) return q->status();
  }
  for (const RecordOutcome& o : outcomes) {
    const v1::SourceRecord& r = o.record;
    const int64_t lu = ToMicros(r.last_updated());
    journal->Reset();
    absl::Status s = journal->Bind(1, source_id)
                         .Bind(2, r.location_id())
                         .Bind(3, r.version_id())
                         .Bind(4, lu)
                         .Bind(5, int64_t{static_cast<int>(o.state)})
                         .Bind(6, run_id)
                         .Bind(7, now_us)
                         .Run();
    if (!s.ok()) return s;
    if (o.state == JournalState::kWritten || o.state == JournalState::kUnchanged ||
        o.state == JournalState::kStale) {
      resolve->Reset();
      std::string how = absl::StrCat(
          o.state == JournalState::kWritten     ? "written to openIMIS"
          : o.state == JournalState::kUnchanged ? "openIMIS already held it"
                                                : "superseded: openIMIS holds a newer version",
          " (version ", r.version_id().empty() ? "-" : r.version_id(), ", run ", run_id, ")");
      s = resolve->Bind(1, kFailureResolved)
              .Bind(2, how)
              .Bind(3, now_us)
              .Bind(4, source_id)
              .Bind(5, r.location_id())
              .Bind(6, kFailureOpen)
              .Bind(7, lu)
              .Run();
      if (!s.ok()) return s;
      continue;
    }
    if (o.state != JournalState::kParked) continue;
    int64_t existing_id = 0;
    int64_t attempts = 0;
    SqliteStatement& find = o.failure_id != 0 ? *find_by_id : *find_open;
    find.Reset();
    if (o.failure_id != 0) {
      find.Bind(1, o.failure_id).Bind(2, kFailureOpen);
    } else {
      find.Bind(1, source_id).Bind(2, r.location_id()).Bind(3, kFailureOpen);
    }
    absl::StatusOr<bool> row = find.Step();
    if (!row.ok()) return row.status();
    if (*row) {
      existing_id = find.ColumnInt(0);
      attempts = find.ColumnInt(1);
    }
    find.Reset();
    const int64_t new_attempts = attempts + 1;
    std::string reason = o.reason;
    bool schedule_retry = o.transient && new_attempts < retry_.max_attempts;
    if (o.transient && !schedule_retry) {
      absl::StrAppend(&reason, " (automatic retries stopped after ", new_attempts,
                      " attempts; retry it by hand)");
    }
    const absl::Duration backoff =
        ExponentialBackoff(retry_.initial_backoff, retry_.max_backoff, new_attempts);
    const std::string raw = RawRecordJson(r);
    const std::string blob = r.SerializeAsString();
    if (existing_id != 0) {
      update_failure->Reset();
      update_failure->Bind(1, r.version_id())
          .Bind(2, lu)
          .Bind(3, int64_t{o.stage})
          .Bind(4, reason)
          .Bind(5, new_attempts)
          .Bind(6, int64_t{o.transient ? 1 : 0})
          .Bind(7, now_us);
      if (schedule_retry) {
        update_failure->Bind(8, now_us + absl::ToInt64Microseconds(backoff));
      } else {
        update_failure->BindNull(8);
      }
      s = update_failure->Bind(9, run_id)
              .Bind(10, raw)
              .BindBlob(11, blob)
              .Bind(12, existing_id)
              .Run();
    } else {
      insert_failure->Reset();
      insert_failure->Bind(1, source_id)
          .Bind(2, r.location_id())
          .Bind(3, r.version_id())
          .Bind(4, lu)
          .Bind(5, int64_t{o.stage})
          .Bind(6, kFailureOpen)
          .Bind(7, reason)
          .Bind(8, int64_t{o.transient ? 1 : 0})
          .Bind(9, now_us)
          .Bind(10, now_us);
      if (schedule_retry) {
        insert_failure->Bind(11, now_us + absl::ToInt64Microseconds(backoff));
      } else {
        insert_failure->BindNull(11);
      }
      s = insert_failure->Bind(12, run_id).Bind(13, raw).BindBlob(14, blob).Run();
    }
    if (!s.ok()) return s;
  }
  if (watermark.has_value()) {
    absl::StatusOr<SqliteStatement> wm = db_->Prepare(
        "INSERT INTO watermarks(source_id, watermark_us, updated_us) VALUES(?, ?, ?)"
        " ON CONFLICT(source_id) DO UPDATE SET"
        " watermark_us = MAX(watermark_us, excluded.watermark_us),"
        " updated_us = excluded.updated_us");
    if (!wm.ok()) return wm.status();
    absl::Status s = wm->Bind(1, source_id)
                         .Bind(2, absl::ToUnixMicros(*watermark))
                         .Bind(3, now_us)
                         .Run();
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status StateStore::RecordNewestVersionsLocked(const std::string& source_id,
                                                    const std::vector<RecordOutcome>& outcomes) {
  absl::StatusOr<SqliteStatement> q = db_->Prepare(
      "INSERT INTO versions(source_id, location_id, version_id, last_updated_us)"
      " VALUES(?, ?, ?, ?) ON CONFLICT(source_id, location_id) DO UPDATE SET"
      " version_id = excluded.version_id, last_updated_us = excluded.last_updated_us"
      " WHERE excluded.last_updated_us >= versions.last_updated_us");
  if (!q.ok()) return q.status();
  for (const RecordOutcome& o : outcomes) {
    if (o.state != JournalState::kWritten && o.state != JournalState::kUnchanged) continue;
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

absl::StatusOr<std::map<std::string, v1::RecordKey>> StateStore::NewestVersions(
    const std::string& source_id, const std::vector<std::string>& location_ids) {
  std::lock_guard<std::mutex> lock(mu_);
  absl::StatusOr<SqliteStatement> q = db_->Prepare(
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

absl::StatusOr<std::map<std::string, int64_t>> StateStore::OpenFailureIds(
    const std::string& source_id, const std::vector<std::string>& location_ids) {
  std::lock_guard<std::mutex> lock(mu_);
  absl::StatusOr<SqliteStatement> q = db_->Prepare(
      "SELECT failure_id FROM failures WHERE source_id = ? AND location_id = ? AND state = ?"
      " ORDER BY failure_id LIMIT 1");
  if (!q.ok()) return q.status();
  std::map<std::string, int64_t> out;
  for (const std::string& id : location_ids) {
    q->Reset();
    q->Bind(1, source_id).Bind(2, id).Bind(3, kFailureOpen);
    absl::StatusOr<bool> row = q->Step();
    if (!row.ok()) return row.status();
    if (*row) out.emplace(id, q->ColumnInt(0));
  }
  return out;
}

absl::Status StateStore::PruneJournal(const std::string& source_id, absl::Time before) {
  std::lock_guard<std::mutex> lock(mu_);
  absl::StatusOr<SqliteStatement> q = db_->Prepare(
      "DELETE FROM journal WHERE source_id = ? AND last_updated_us < ? AND state != ?");
  if (!q.ok()) return q.status();
  return q->Bind(1, source_id)
      .Bind(2, absl::ToUnixMicros(before))
      .Bind(3, int64_t{static_cast<int>(JournalState::kInFlight)})
      .Run();
}

absl::StatusOr<std::optional<JournalState>> StateStore::JournalStateOf(
    const std::string& source_id, const v1::RecordKey& key) {
  std::lock_guard<std::mutex> lock(mu_);
  absl::StatusOr<SqliteStatement> q = db_->Prepare(
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

// ------------------------------------------------------------ failures

namespace {
constexpr char kFailureColumns[] =
    "failure_id, source_id, location_id, version_id, stage, state, reason, attempts,"
    " transient, created_us, updated_us, run_id, resolution, next_attempt_us, raw_json,"
    " record";
}  // namespace

absl::StatusOr<v1::Failure> StateStore::ReadFailure(SqliteStatement& q,
                                                    bool with_raw) const {
  v1::Failure f;
  f.set_failure_id(q.ColumnInt(0));
  f.set_source_id(q.ColumnText(1));
  f.set_location_id(q.ColumnText(2));
  f.set_version_id(q.ColumnText(3));
  f.set_stage(static_cast<v1::FailureStage>(q.ColumnInt(4)));
  f.set_state(static_cast<v1::FailureState>(q.ColumnInt(5)));
  f.set_reason(q.ColumnText(6));
  f.set_attempts(static_cast<int32_t>(q.ColumnInt(7)));
  f.set_transient(q.ColumnInt(8) != 0);
  *f.mutable_created_at() = FromMicros(q.ColumnInt(9));
  *f.mutable_updated_at() = FromMicros(q.ColumnInt(10));
  f.set_run_id(q.ColumnText(11));
  f.set_resolution(q.ColumnText(12));
  if (!q.ColumnIsNull(13)) *f.mutable_next_attempt_at() = FromMicros(q.ColumnInt(13));
  if (with_raw) f.set_raw_json(q.ColumnText(14));
  return f;
}

absl::StatusOr<std::vector<v1::Failure>> StateStore::ListFailures(
    const std::string& source_id, v1::FailureState state, int page_size,
    const std::string& page_token, std::string* next_page_token) {
  absl::StatusOr<int64_t> after = ParseToken(page_token, "ListFailures");
  if (!after.ok()) return after.status();
  if (state == v1::FAILURE_STATE_UNSPECIFIED) state = v1::FAILURE_STATE_OPEN;
  std::lock_guard<std::mutex> lock(mu_);
  absl::StatusOr<SqliteStatement> q = db_->Prepare(absl::StrCat(
      "SELECT ", kFailureColumns,
      " FROM failures WHERE (? = '' OR source_id = ?) AND state = ? AND failure_id > ?"
      " ORDER BY failure_id LIMIT ?"));
  if (!q.ok()) return q.status();
  q->Bind(1, source_id)
      .Bind(2, source_id)
      .Bind(3, int64_t{state})
      .Bind(4, *after)
      .Bind(5, int64_t{page_size} + 1);
  std::vector<v1::Failure> out;
  next_page_token->clear();
  bool more = false;
  while (true) {
    absl::StatusOr<bool> row = q->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    if (static_cast<int>(out.size()) == page_size) {
      more = true;
      break;
    }
    absl::StatusOr<v1::Failure> f = ReadFailure(*q, false);
    if (!f.ok()) return f.status();
    out.push_back(*std::move(f));
  }
  if (more) *next_page_token = absl::StrCat(out.back().failure_id());
  return out;
}

absl::StatusOr<v1::Failure> StateStore::GetFailure(int64_t failure_id) {
  std::lock_guard<std::mutex> lock(mu_);
  absl::StatusOr<SqliteStatement> q = db_->Prepare(
      absl::StrCat("SELECT ", kFailureColumns, " FROM failures WHERE failure_id = ?"));
  if (!q.ok()) return q.status();
  q->Bind(1, failure_id);
  absl::StatusOr<bool> row = q->Step();
  if (!row.ok()) return row.status();
  if (!*row) {
    return absl::NotFoundError(
        absl::StrCat("failure-queue entry ", failure_id, " does not exist"));
  }
  return ReadFailure(*q, true);
}

absl::StatusOr<std::vector<std::pair<v1::Failure, v1::SourceRecord>>>
StateStore::FailuresToRetry(const std::vector<int64_t>& ids, const std::string& source_id) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::pair<v1::Failure, v1::SourceRecord>> out;
  auto read = [&](SqliteStatement& q) -> absl::Status {
    absl::StatusOr<v1::Failure> f = ReadFailure(q, false);
    if (!f.ok()) return f.status();
    v1::SourceRecord record;
    if (!record.ParseFromString(q.ColumnText(15))) {
      return absl::DataLossError(absl::StrCat("failure-queue entry ", f->failure_id(),
                                              " has a corrupt stored record"));
    }
    out.emplace_back(*std::move(f), std::move(record));
    return absl::OkStatus();
  };
  if (ids.empty()) {
    absl::StatusOr<SqliteStatement> q = db_->Prepare(absl::StrCat(
        "SELECT ", kFailureColumns,
        " FROM failures WHERE (? = '' OR source_id = ?) AND state = ? ORDER BY failure_id"));
    if (!q.ok()) return q.status();
    q->Bind(1, source_id).Bind(2, source_id).Bind(3, kFailureOpen);
    while (true) {
      absl::StatusOr<bool> row = q->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      absl::Status s = read(*q);
      if (!s.ok()) return s;
    }
    return out;
  }
  absl::StatusOr<SqliteStatement> q = db_->Prepare(
      absl::StrCat("SELECT ", kFailureColumns, " FROM failures WHERE failure_id = ?"));
  if (!q.ok()) return q.status();
  for (int64_t id : ids) {
    q->Reset();
    q->Bind(1, id);
    absl::StatusOr<bool> row = q->Step();
    if (!row.ok()) return row.status();
    if (!*row) {
      return absl::NotFoundError(absl::StrCat("failure-queue entry ", id, " does not exist"));
    }
    if (q->ColumnInt(5) != kFailureOpen) {
      return absl::FailedPreconditionError(absl::StrCat(
          "failure-queue entry ", id, " is ",
          q->ColumnInt(5) == kFailureResolved ? "resolved" : "dismissed",
          "; only open entries can be retried"));
    }
    absl::Status s = read(*q);
    if (!s.ok()) return s;
  }
  return out;
}

absl::StatusOr<std::map<std::string, std::vector<int64_t>>> StateStore::DueRetries(
    absl::Time now) {
  std::lock_guard<std::mutex> lock(mu_);
  absl::StatusOr<SqliteStatement> q = db_->Prepare(
      "SELECT source_id, failure_id FROM failures WHERE state = ?"
      " AND next_attempt_us IS NOT NULL AND next_attempt_us <= ? ORDER BY failure_id");
  if (!q.ok()) return q.status();
  q->Bind(1, kFailureOpen).Bind(2, NowMicros(now));
  std::map<std::string, std::vector<int64_t>> out;
  while (true) {
    absl::StatusOr<bool> row = q->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    out[q->ColumnText(0)].push_back(q->ColumnInt(1));
  }
  return out;
}

absl::StatusOr<int> StateStore::DismissFailures(const std::vector<int64_t>& ids,
                                                const std::string& reason,
                                                absl::Time now) {
  std::lock_guard<std::mutex> lock(mu_);
  absl::Status s = db_->Begin();
  if (!s.ok()) return s;
  absl::StatusOr<SqliteStatement> exists =
      db_->Prepare("SELECT state FROM failures WHERE failure_id = ?");
  absl::StatusOr<SqliteStatement> upd = db_->Prepare(
      "UPDATE failures SET state = ?, resolution = ?, updated_us = ?, next_attempt_us = NULL"
      " WHERE failure_id = ? AND state = ?");
  if (!exists.ok() || !upd.ok()) {
    db_->Rollback();
    return !exists.ok() ? exists.status() : upd.status();
  }
  int changed = 0;
  const std::string resolution =
      reason.empty() ? "dismissed by an administrator"
                     : absl::StrCat("dismissed by an administrator: ", reason);
  for (int64_t id : ids) {
    exists->Reset();
    exists->Bind(1, id);
    absl::StatusOr<bool> row = exists->Step();
    if (!row.ok() || !*row) {
      db_->Rollback();
      if (!row.ok()) return row.status();
      return absl::NotFoundError(absl::StrCat("failure-queue entry ", id,
                                              " does not exist; nothing was dismissed"));
    }
    upd->Reset();
    s = upd->Bind(1, kFailureDismissed)
            .Bind(2, resolution)
            .Bind(3, NowMicros(now))
            .Bind(4, id)
            .Bind(5, kFailureOpen)
            .Run();
    if (!s.ok()) {
      db_->Rollback();
      return s;
    }
    changed += db_->Changes();
  }
  s = db_->Commit();
  if (!s.ok()) {
    db_->Rollback();
    return s;
  }
  return changed;
}

}  // namespace mflsync::scheduler
