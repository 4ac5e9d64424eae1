#include "scheduler/failure_queue.h"

#include <optional>

#include "absl/strings/str_cat.h"
#include "common/backoff.h"
#include "common/proto_time.h"
#include "scheduler/raw_record_json.h"
#include "scheduler/state_db.h"

namespace mflsync::scheduler {
namespace {

constexpr int64_t kFailureOpen = v1::FAILURE_STATE_OPEN;
constexpr int64_t kFailureResolved = v1::FAILURE_STATE_RESOLVED;
constexpr int64_t kFailureDismissed = v1::FAILURE_STATE_DISMISSED;

constexpr char kFailureColumns[] =
    "failure_id, source_id, location_id, version_id, stage, state, reason, attempts,"
    " transient, created_us, updated_us, run_id, resolution, next_attempt_us, raw_json,"
    " record";
constexpr int kStateColumn = 5;
constexpr int kRecordColumn = 15;

// ------------------------------------------------------- recording a batch

// Whether a record in `state` resolves its Location's open entry.
bool ResolvesFailure(JournalState state) {
  return state == JournalState::kWritten || state == JournalState::kUnchanged ||
         state == JournalState::kStale;
}

// How a resolved entry was resolved: by which outcome, version and run.
std::string Resolution(const RecordOutcome& o, const std::string& run_id) {
  const std::string& version = o.record.version_id();
  return absl::StrCat(
      o.state == JournalState::kWritten     ? "written to openIMIS"
      : o.state == JournalState::kUnchanged ? "openIMIS already held it"
                                            : "superseded: openIMIS holds a newer version",
      " (version ", version.empty() ? "-" : version, ", run ", run_id, ")");
}

// A parked record's attempt as its entry records it.
struct Attempt {
  int64_t number = 0;
  std::string reason;
  std::optional<int64_t> next_attempt_us;  // none: waits for an administrator
};

// The retry rule: a transient failure is retried automatically after an
// exponential backoff until its attempts reach max_attempts; then, like a
// permanent one, it waits for an administrator.
Attempt NextAttempt(const RetryPolicy& retry, const RecordOutcome& o, int64_t attempts_before,
                    int64_t now_us) {
  Attempt a;
  a.number = attempts_before + 1;
  a.reason = o.reason;
  const bool schedule_retry = o.transient && a.number < retry.max_attempts;
  if (o.transient && !schedule_retry) {
    absl::StrAppend(&a.reason, " (automatic retries stopped after ", a.number,
                    " attempts; retry it by hand)");
  }
  if (schedule_retry) {
    const absl::Duration backoff =
        ExponentialBackoff(retry.initial_backoff, retry.max_backoff, a.number);
    a.next_attempt_us = now_us + absl::ToInt64Microseconds(backoff);
  }
  return a;
}

void BindOptional(SqliteStatement& q, int index, std::optional<int64_t> value) {
  if (value.has_value()) {
    q.Bind(index, *value);
  } else {
    q.BindNull(index);
  }
}

// The entry a parked record updates; failure_id 0 when it opens a new one.
struct OpenEntry {
  int64_t failure_id = 0;
  int64_t attempts = 0;
};

// The failure-queue side of one committed batch: statements prepared once,
// then one Record per outcome.
class BatchRecorder {
 public:
  static absl::StatusOr<BatchRecorder> Prepare(SqliteDb& db, const RetryPolicy& retry,
                                               const std::string& source_id,
                                               const std::string& run_id, absl::Time now);

  absl::Status Record(const RecordOutcome& o) {
    if (ResolvesFailure(o.state)) return Resolve(o);
    if (o.state == JournalState::kParked) return Park(o);
    return absl::OkStatus();
  }

 private:
  struct Statements {
    SqliteStatement find_open;
    SqliteStatement find_by_id;
    SqliteStatement update;
    SqliteStatement insert;
    SqliteStatement resolve;
  };
  BatchRecorder(Statements q, const RetryPolicy& retry, const std::string& source_id,
                const std::string& run_id, absl::Time now)
      : q_(std::move(q)),
        retry_(retry),
        source_id_(source_id),
        run_id_(run_id),
        now_us_(absl::ToUnixMicros(now)) {}

  absl::Status Resolve(const RecordOutcome& o);
  absl::Status Park(const RecordOutcome& o);
  absl::StatusOr<OpenEntry> FindEntry(const RecordOutcome& o);
  absl::Status UpdateEntry(int64_t failure_id, const RecordOutcome& o, const Attempt& a);
  absl::Status InsertEntry(const RecordOutcome& o, const Attempt& a);

  Statements q_;
  const RetryPolicy& retry_;
  const std::string& source_id_;
  const std::string& run_id_;
  const int64_t now_us_;
};

absl::StatusOr<BatchRecorder> BatchRecorder::Prepare(SqliteDb& db, const RetryPolicy& retry,
                                                     const std::string& source_id,
                                                     const std::string& run_id,
                                                     absl::Time now) {
  absl::StatusOr<SqliteStatement> find_open = db.Prepare(
      "SELECT failure_id, attempts FROM failures"
      " WHERE source_id = ? AND location_id = ? AND state = ? ORDER BY failure_id LIMIT 1");
  absl::StatusOr<SqliteStatement> find_by_id = db.Prepare(
      "SELECT failure_id, attempts FROM failures WHERE failure_id = ? AND state = ?");
  absl::StatusOr<SqliteStatement> update = db.Prepare(
      "UPDATE failures SET version_id = ?, last_updated_us = ?, stage = ?, reason = ?,"
      " attempts = ?, transient = ?, updated_us = ?, next_attempt_us = ?, run_id = ?,"
      " raw_json = ?, record = ? WHERE failure_id = ?");
  absl::StatusOr<SqliteStatement> insert = db.Prepare(
      "INSERT INTO failures(source_id, location_id, version_id, last_updated_us, stage,"
      " state, reason, attempts, transient, created_us, updated_us, next_attempt_us,"
      " run_id, raw_json, record) VALUES(?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?)");
  absl::StatusOr<SqliteStatement> resolve = db.Prepare(
      "UPDATE failures SET state = ?, resolution = ?, updated_us = ?, next_attempt_us = NULL"
      " WHERE source_id = ? AND location_id = ? AND state = ? AND last_updated_us <= ?");
  for (auto* q : {&find_open, &find_by_id, &update, &insert, &resolve}) {
    if (!q->ok()) return q->status();
  }
  return BatchRecorder(Statements{*std::move(find_open), *std::move(find_by_id),
                                  *std::move(update), *std::move(insert),
                                  *std::move(resolve)},
                       retry, source_id, run_id, now);
}

// Resolves the Location's open entries up to the outcome's version.
absl::Status BatchRecorder::Resolve(const RecordOutcome& o) {
  q_.resolve.Reset();
  return q_.resolve.Bind(1, kFailureResolved)
      .Bind(2, Resolution(o, run_id_))
      .Bind(3, now_us_)
      .Bind(4, source_id_)
      .Bind(5, o.record.location_id())
      .Bind(6, kFailureOpen)
      .Bind(7, ToMicros(o.record.last_updated()))
      .Run();
}

// Opens an entry for the parked record, or updates the one it belongs to.
absl::Status BatchRecorder::Park(const RecordOutcome& o) {
  absl::StatusOr<OpenEntry> entry = FindEntry(o);
  if (!entry.ok()) return entry.status();
  const Attempt attempt = NextAttempt(retry_, o, entry->attempts, now_us_);
  if (entry->failure_id != 0) return UpdateEntry(entry->failure_id, o, attempt);
  return InsertEntry(o, attempt);
}

// The open entry the record was retried from, else its Location's.
absl::StatusOr<OpenEntry> BatchRecorder::FindEntry(const RecordOutcome& o) {
  SqliteStatement& find = o.failure_id != 0 ? q_.find_by_id : q_.find_open;
  find.Reset();
  if (o.failure_id != 0) {
    find.Bind(1, o.failure_id).Bind(2, kFailureOpen);
  } else {
    find.Bind(1, source_id_).Bind(2, o.record.location_id()).Bind(3, kFailureOpen);
  }
  absl::StatusOr<bool> row = find.Step();
  if (!row.ok()) return row.status();
  OpenEntry entry;
  if (*row) {
    entry.failure_id = find.ColumnInt(0);
    entry.attempts = find.ColumnInt(1);
  }
  find.Reset();
  return entry;
}

absl::Status BatchRecorder::UpdateEntry(int64_t failure_id, const RecordOutcome& o,
                                        const Attempt& a) {
  const v1::SourceRecord& r = o.record;
  SqliteStatement& q = q_.update;
  q.Reset();
  q.Bind(1, r.version_id())
      .Bind(2, ToMicros(r.last_updated()))
      .Bind(3, int64_t{o.stage})
      .Bind(4, a.reason)
      .Bind(5, a.number)
      .Bind(6, int64_t{o.transient ? 1 : 0})
      .Bind(7, now_us_);
  BindOptional(q, 8, a.next_attempt_us);
  return q.Bind(9, run_id_)
      .Bind(10, RawRecordJson(r))
      .BindBlob(11, r.SerializeAsString())
      .Bind(12, failure_id)
      .Run();
}

absl::Status BatchRecorder::InsertEntry(const RecordOutcome& o, const Attempt& a) {
  const v1::SourceRecord& r = o.record;
  SqliteStatement& q = q_.insert;
  q.Reset();
  q.Bind(1, source_id_)
      .Bind(2, r.location_id())
      .Bind(3, r.version_id())
      .Bind(4, ToMicros(r.last_updated()))
      .Bind(5, int64_t{o.stage})
      .Bind(6, kFailureOpen)
      .Bind(7, a.reason)
      .Bind(8, int64_t{o.transient ? 1 : 0})
      .Bind(9, now_us_)
      .Bind(10, now_us_);
  BindOptional(q, 11, a.next_attempt_us);
  return q.Bind(12, run_id_)
      .Bind(13, RawRecordJson(r))
      .BindBlob(14, r.SerializeAsString())
      .Run();
}

// ------------------------------------------------------------- reading

v1::Failure FailureFromRow(const SqliteStatement& q, bool with_raw) {
  v1::Failure f;
  f.set_failure_id(q.ColumnInt(0));
  f.set_source_id(q.ColumnText(1));
  f.set_location_id(q.ColumnText(2));
  f.set_version_id(q.ColumnText(3));
  f.set_stage(static_cast<v1::FailureStage>(q.ColumnInt(4)));
  f.set_state(static_cast<v1::FailureState>(q.ColumnInt(kStateColumn)));
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

// The entry of the current row with its stored record.
absl::StatusOr<std::pair<v1::Failure, v1::SourceRecord>> FailureAndRecordFromRow(
    const SqliteStatement& q) {
  v1::Failure f = FailureFromRow(q, false);
  v1::SourceRecord record;
  if (!record.ParseFromString(q.ColumnText(kRecordColumn))) {
    return absl::DataLossError(absl::StrCat("failure-queue entry ", f.failure_id(),
                                            " has a corrupt stored record"));
  }
  return std::make_pair(std::move(f), std::move(record));
}

// FAILED_PRECONDITION for entry `id`, found in `state` (not open).
absl::Status NotOpenError(int64_t id, int64_t state) {
  return absl::FailedPreconditionError(
      absl::StrCat("failure-queue entry ", id, " is ",
                   state == kFailureResolved ? "resolved" : "dismissed",
                   "; only open entries can be retried"));
}

}  // namespace

absl::Status FailureQueue::Record(const std::string& source_id, const std::string& run_id,
                                  const std::vector<RecordOutcome>& outcomes,
                                  absl::Time now) {
  absl::StatusOr<BatchRecorder> recorder =
      BatchRecorder::Prepare(db_, retry_, source_id, run_id, now);
  if (!recorder.ok()) return recorder.status();
  for (const RecordOutcome& o : outcomes) {
    absl::Status s = recorder->Record(o);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<v1::Failure>> FailureQueue::List(const std::string& source_id,
                                                            v1::FailureState state,
                                                            int page_size,
                                                            const std::string& page_token,
                                                            std::string* next_page_token) {
  absl::StatusOr<int64_t> after = ParsePageToken(page_token, "ListFailures");
  if (!after.ok()) return after.status();
  if (state == v1::FAILURE_STATE_UNSPECIFIED) state = v1::FAILURE_STATE_OPEN;
  absl::StatusOr<SqliteStatement> q = db_.Prepare(absl::StrCat(
      "SELECT ", kFailureColumns,
      " FROM failures WHERE (? = '' OR source_id = ?) AND state = ? AND failure_id > ?"
      " ORDER BY failure_id LIMIT ?"));
  if (!q.ok()) return q.status();
  q->Bind(1, source_id)
      .Bind(2, source_id)
      .Bind(3, int64_t{state})
      .Bind(4, *after)
      .Bind(5, int64_t{page_size} + 1);
  return ReadKeysetPage<v1::Failure>(
      *q, page_size,
      [](const SqliteStatement& row) -> absl::StatusOr<v1::Failure> {
        return FailureFromRow(row, false);
      },
      next_page_token);
}

absl::StatusOr<NewFailures> FailureQueue::CreatedBy(const std::string& run_id,
                                                    absl::Time run_started, int limit) {
  absl::StatusOr<SqliteStatement> q = db_.Prepare(absl::StrCat(
      "SELECT ", kFailureColumns, ", COUNT(*) OVER () FROM failures"
      " WHERE run_id = ? AND created_us >= ? ORDER BY failure_id LIMIT ?"));
  if (!q.ok()) return q.status();
  q->Bind(1, run_id).Bind(2, absl::ToUnixMicros(run_started)).Bind(3, int64_t{limit});
  NewFailures out;
  while (true) {
    absl::StatusOr<bool> row = q->Step();
    if (!row.ok()) return row.status();
    if (!*row) return out;
    out.count = q->ColumnInt(kRecordColumn + 1);
    out.first.push_back(FailureFromRow(*q, false));
  }
}

absl::StatusOr<v1::Failure> FailureQueue::Get(int64_t failure_id) {
  absl::StatusOr<SqliteStatement> q = db_.Prepare(
      absl::StrCat("SELECT ", kFailureColumns, " FROM failures WHERE failure_id = ?"));
  if (!q.ok()) return q.status();
  q->Bind(1, failure_id);
  absl::StatusOr<bool> row = q->Step();
  if (!row.ok()) return row.status();
  if (!*row) {
    return absl::NotFoundError(
        absl::StrCat("failure-queue entry ", failure_id, " does not exist"));
  }
  return FailureFromRow(*q, true);
}

absl::StatusOr<std::vector<std::pair<v1::Failure, v1::SourceRecord>>> FailureQueue::ToRetry(
    const std::vector<int64_t>& ids, const std::string& source_id) {
  return ids.empty() ? AllOpen(source_id) : OpenByIds(ids);
}

absl::StatusOr<std::vector<FailureQueue::FailureAndRecord>> FailureQueue::AllOpen(
    const std::string& source_id) {
  absl::StatusOr<SqliteStatement> q = db_.Prepare(absl::StrCat(
      "SELECT ", kFailureColumns,
      " FROM failures WHERE (? = '' OR source_id = ?) AND state = ? ORDER BY failure_id"));
  if (!q.ok()) return q.status();
  q->Bind(1, source_id).Bind(2, source_id).Bind(3, kFailureOpen);
  std::vector<FailureAndRecord> out;
  while (true) {
    absl::StatusOr<bool> row = q->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    absl::StatusOr<FailureAndRecord> entry = FailureAndRecordFromRow(*q);
    if (!entry.ok()) return entry.status();
    out.push_back(*std::move(entry));
  }
  return out;
}

absl::StatusOr<std::vector<FailureQueue::FailureAndRecord>> FailureQueue::OpenByIds(
    const std::vector<int64_t>& ids) {
  absl::StatusOr<SqliteStatement> q = db_.Prepare(
      absl::StrCat("SELECT ", kFailureColumns, " FROM failures WHERE failure_id = ?"));
  if (!q.ok()) return q.status();
  std::vector<FailureAndRecord> out;
  for (int64_t id : ids) {
    q->Reset();
    q->Bind(1, id);
    absl::StatusOr<bool> row = q->Step();
    if (!row.ok()) return row.status();
    if (!*row) {
      return absl::NotFoundError(absl::StrCat("failure-queue entry ", id, " does not exist"));
    }
    const int64_t state = q->ColumnInt(kStateColumn);
    if (state != kFailureOpen) return NotOpenError(id, state);
    absl::StatusOr<FailureAndRecord> entry = FailureAndRecordFromRow(*q);
    if (!entry.ok()) return entry.status();
    out.push_back(*std::move(entry));
  }
  return out;
}

absl::StatusOr<std::map<std::string, int64_t>> FailureQueue::OpenIds(
    const std::string& source_id, const std::vector<std::string>& location_ids) {
  absl::StatusOr<SqliteStatement> q = db_.Prepare(
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

absl::StatusOr<std::map<std::string, int64_t>> FailureQueue::CountOpen() {
  absl::StatusOr<SqliteStatement> q = db_.Prepare(
      "SELECT source_id, COUNT(*) FROM failures WHERE state = ? GROUP BY source_id");
  if (!q.ok()) return q.status();
  q->Bind(1, kFailureOpen);
  std::map<std::string, int64_t> out;
  while (true) {
    absl::StatusOr<bool> row = q->Step();
    if (!row.ok()) return row.status();
    if (!*row) return out;
    out[q->ColumnText(0)] = q->ColumnInt(1);
  }
}

absl::StatusOr<std::map<std::string, std::vector<int64_t>>> FailureQueue::DueRetries(
    absl::Time now) {
  absl::StatusOr<SqliteStatement> q = db_.Prepare(
      "SELECT source_id, failure_id FROM failures WHERE state = ?"
      " AND next_attempt_us IS NOT NULL AND next_attempt_us <= ? ORDER BY failure_id");
  if (!q.ok()) return q.status();
  q->Bind(1, kFailureOpen).Bind(2, absl::ToUnixMicros(now));
  std::map<std::string, std::vector<int64_t>> out;
  while (true) {
    absl::StatusOr<bool> row = q->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    out[q->ColumnText(0)].push_back(q->ColumnInt(1));
  }
  return out;
}

absl::StatusOr<int> FailureQueue::Dismiss(const std::vector<int64_t>& ids,
                                          const std::string& reason, absl::Time now) {
  absl::StatusOr<SqliteStatement> exists =
      db_.Prepare("SELECT state FROM failures WHERE failure_id = ?");
  if (!exists.ok()) return exists.status();
  absl::StatusOr<SqliteStatement> upd = db_.Prepare(
      "UPDATE failures SET state = ?, resolution = ?, updated_us = ?, next_attempt_us = NULL"
      " WHERE failure_id = ? AND state = ?");
  if (!upd.ok()) return upd.status();
  const std::string resolution =
      reason.empty() ? "dismissed by an administrator"
                     : absl::StrCat("dismissed by an administrator: ", reason);
  int changed = 0;
  for (int64_t id : ids) {
    exists->Reset();
    exists->Bind(1, id);
    absl::StatusOr<bool> row = exists->Step();
    if (!row.ok()) return row.status();
    if (!*row) {
      return absl::NotFoundError(absl::StrCat("failure-queue entry ", id,
                                              " does not exist; nothing was dismissed"));
    }
    upd->Reset();
    absl::Status s = upd->Bind(1, kFailureDismissed)
                         .Bind(2, resolution)
                         .Bind(3, absl::ToUnixMicros(now))
                         .Bind(4, id)
                         .Bind(5, kFailureOpen)
                         .Run();
    if (!s.ok()) return s;
    changed += db_.Changes();
  }
  return changed;
}

absl::StatusOr<int> FailureQueue::Reopen(const std::vector<int64_t>& ids, absl::Time now) {
  absl::StatusOr<SqliteStatement> upd = db_.Prepare(
      "UPDATE failures SET state = ?, resolution = '', updated_us = ?, next_attempt_us = NULL"
      " WHERE failure_id = ?");
  if (!upd.ok()) return upd.status();
  for (int64_t id : ids) {
    if (absl::Status s = CheckReopenable(id); !s.ok()) return s;
    upd->Reset();
    absl::Status s =
        upd->Bind(1, kFailureOpen).Bind(2, absl::ToUnixMicros(now)).Bind(3, id).Run();
    if (!s.ok()) return s;
  }
  return static_cast<int>(ids.size());
}

absl::Status FailureQueue::CheckReopenable(int64_t id) {
  absl::StatusOr<v1::Failure> f = Get(id);
  if (!f.ok()) {
    if (absl::IsNotFound(f.status()))
      return absl::NotFoundError(absl::StrCat("failure-queue entry ", id,
                                              " does not exist; nothing was reopened"));
    return f.status();
  }
  if (f->state() != v1::FAILURE_STATE_DISMISSED) {
    return absl::FailedPreconditionError(absl::StrCat(
        "failure-queue entry ", id, " is ",
        f->state() == v1::FAILURE_STATE_OPEN ? "open" : "resolved",
        "; only dismissed entries can be reopened (nothing was reopened)"));
  }
  absl::StatusOr<std::map<std::string, int64_t>> open =
      OpenIds(f->source_id(), {f->location_id()});
  if (!open.ok()) return open.status();
  if (!open->empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "Location ", f->location_id(), " of entry ", id, " has open entry ",
        open->begin()->second, " already; work on that one (nothing was reopened)"));
  }
  return absl::OkStatus();
}

}  // namespace mflsync::scheduler
