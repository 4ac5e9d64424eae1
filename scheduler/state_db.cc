#include "scheduler/state_db.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace mflsync::scheduler {
namespace {

// The SQL of each migration. Existing databases ran it: never edit one.
constexpr char kRunsWatermarksJournal[] =
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
    "CREATE INDEX journal_by_time ON journal(source_id, last_updated_us);";

constexpr char kFailureQueue[] =
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
    "CREATE INDEX failures_due ON failures(state, next_attempt_us);";

constexpr char kWatermarkChanges[] =
    "CREATE TABLE watermark_changes ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " source_id TEXT NOT NULL,"
    " changed_us INTEGER NOT NULL,"
    " previous_us INTEGER,"
    " watermark_us INTEGER,"
    " reason TEXT NOT NULL);"
    "CREATE INDEX watermark_changes_by_source ON watermark_changes(source_id, seq);";

constexpr char kNewestVersions[] =
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
    " WHERE state IN (1, 2) GROUP BY source_id, location_id;";

constexpr char kSkipped[] =
    "CREATE TABLE skipped ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " run_id TEXT NOT NULL,"
    " source_id TEXT NOT NULL,"
    " location_id TEXT NOT NULL,"
    " version_id TEXT NOT NULL,"
    " last_updated_us INTEGER NOT NULL,"
    " reason TEXT NOT NULL);"
    "CREATE INDEX skipped_by_run ON skipped(run_id, seq);";

// A dry run's planned outcome of each record (entry: a PlanEntry), the
// operators' approvals of plans, and which runs are dry runs (the schedule,
// reruns and the first-real-run check leave them out).
constexpr char kPlans[] =
    "CREATE TABLE plan_entries ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " run_id TEXT NOT NULL,"
    " location_id TEXT NOT NULL,"
    " version_id TEXT NOT NULL,"
    " last_updated_us INTEGER NOT NULL,"
    " action INTEGER NOT NULL,"
    " entry BLOB NOT NULL,"
    " UNIQUE (run_id, location_id, version_id, last_updated_us));"
    "CREATE INDEX plan_entries_by_run ON plan_entries(run_id, seq);"
    "CREATE TABLE plan_approvals ("
    " run_id TEXT PRIMARY KEY,"
    " source_id TEXT NOT NULL,"
    " approved_us INTEGER NOT NULL);"
    "CREATE INDEX plan_approvals_by_source ON plan_approvals(source_id);"
    "ALTER TABLE runs ADD COLUMN dry_run INTEGER NOT NULL DEFAULT 0;";

// The change history (a FacilityChange per write), operators' actions on
// failure-queue entries, and their links and acceptances of likely
// duplicates.
constexpr char kChangesActionsLinks[] =
    "CREATE TABLE changes ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " run_id TEXT NOT NULL,"
    " source_id TEXT NOT NULL,"
    " location_id TEXT NOT NULL,"
    " code TEXT NOT NULL,"
    " recorded_us INTEGER NOT NULL,"
    " change BLOB NOT NULL);"
    "CREATE INDEX changes_by_run ON changes(run_id, seq);"
    "CREATE INDEX changes_by_location ON changes(location_id, seq);"
    "CREATE INDEX changes_by_code ON changes(code, seq);"
    "CREATE INDEX changes_by_time ON changes(recorded_us);"
    "CREATE TABLE failure_actions ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " failure_id INTEGER NOT NULL,"
    " kind INTEGER NOT NULL,"
    " actor TEXT NOT NULL,"
    " reason TEXT NOT NULL,"
    " acted_us INTEGER NOT NULL,"
    " detail TEXT NOT NULL);"
    "CREATE INDEX failure_actions_by_failure ON failure_actions(failure_id, seq);"
    "CREATE TABLE facility_links ("
    " source_id TEXT NOT NULL,"
    " location_id TEXT NOT NULL,"
    " hf_code TEXT NOT NULL,"
    " accept_namesake INTEGER NOT NULL,"
    " actor TEXT NOT NULL,"
    " reason TEXT NOT NULL,"
    " decided_us INTEGER NOT NULL,"
    " PRIMARY KEY (source_id, location_id)"
    ") WITHOUT ROWID;";

// Who approved a plan and why (approvals before it: empty).
constexpr char kApprovalActors[] =
    "ALTER TABLE plan_approvals ADD COLUMN actor TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE plan_approvals ADD COLUMN reason TEXT NOT NULL DEFAULT '';";

}  // namespace

const std::vector<SqliteMigration>& StateMigrations() {
  static const auto* kMigrations = new std::vector<SqliteMigration>{
      {1, "runs, watermarks and the record journal", kRunsWatermarksJournal},
      {2, "failure queue", kFailureQueue},
      {3, "operator changes of watermarks", kWatermarkChanges},
      {4, "the newest version of each Location in openIMIS (newest version wins)",
       kNewestVersions},
      {5, "the Locations each run skipped as not facilities", kSkipped},
      {6, "dry runs and their plans, and the approvals of plans", kPlans},
      {7, "the change history, operators' failure-queue actions and facility links",
       kChangesActionsLinks},
      {8, "who approved a plan and why", kApprovalActors},
  };
  return *kMigrations;
}

absl::StatusOr<std::unique_ptr<SqliteDb>> OpenStateDb(const std::string& path) {
  absl::StatusOr<std::unique_ptr<SqliteDb>> db = SqliteDb::Open(path);
  if (!db.ok()) return db.status();
  absl::Status s = (*db)->Migrate(StateMigrations());
  if (!s.ok()) return s;
  return db;
}

absl::StatusOr<int64_t> ParsePageToken(const std::string& token, const char* what) {
  if (token.empty()) return int64_t{0};
  int64_t v = 0;
  if (!absl::SimpleAtoi(token, &v) || v < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " page_token '", token.substr(0, 40),
                     "' is not a token this server issued"));
  }
  return v;
}

}  // namespace mflsync::scheduler
