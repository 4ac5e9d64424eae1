// How `mflsync plan RUN` shows a dry run's plan: text for people (the
// counts, then one line per create, update, deactivation and rejection),
// JSON and CSV (RFC 4180) for export. The entry-level pieces also show the
// change history's writes (cli/change_format.h).
#ifndef MFLSYNC_CLI_PLAN_FORMAT_H_
#define MFLSYNC_CLI_PLAN_FORMAT_H_

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "mflsync/v1/scheduler.pb.h"

namespace mflsync::cli {

// `plan` is a GetPlanResponse holding every entry of the plan (all pages);
// times in `zone` (cli/run_text.h TimeText); an approval is shown as
// expired when its expires_at is before `now`.
std::string PlanText(const mflsync::v1::GetPlanResponse& plan, const absl::TimeZone& zone,
                     absl::Time now = absl::Now());
// "at TIME by WHO; expires TIME" (or "; expired TIME", "; never expires"),
// times in `zone`.
std::string ApprovalText(const mflsync::v1::PlanApproval& approval, const absl::TimeZone& zone,
                         absl::Time now = absl::Now());
// One JSON object: run_id, source_id, state, approved_at and approval
// (approved_at, approved_by, reason, expires_at; null when not approved),
// counts, entries (action in lower case, changes as field, old,
// new).
std::string PlanJson(const mflsync::v1::GetPlanResponse& plan);
// A header row, then one row per changed field of an update or
// deactivation and one row per other entry; CRLF line ends.
std::string PlanCsv(const mflsync::v1::GetPlanResponse& plan);

// One entry as a line: what, which facility, which MFL version, and how
// (each changed field, old -> new; a rejection's stage and reason).
std::string EntryLine(const mflsync::v1::PlanEntry& e);
// One entry as a JSON object (action in lower case, changes as field, old,
// new).
nlohmann::json EntryJson(const mflsync::v1::PlanEntry& e);
// The CSV columns of an entry, and its rows (one per changed field, or one)
// appended to `out`, each after the `lead` columns.
const std::vector<std::string>& EntryCsvHeader();
void AddEntryCsvRows(std::string& out, const std::vector<std::string>& lead,
                     const mflsync::v1::PlanEntry& e);
// One CSV row (CRLF).
void AddCsvRow(std::string& out, const std::vector<std::string>& fields);
// RFC 3339 in UTC, for export (JSON, CSV); "" when unset.
std::string Instant(const google::protobuf::Timestamp& ts);
// An enum value's name as a word: ("RUN_TRIGGER_PUSH", "RUN_TRIGGER_") →
// "push".
std::string Lower(const std::string& enum_name, absl::string_view prefix);

// `field` as one RFC 4180 CSV field: quoted (with quotes doubled) when it
// holds a comma, a double quote, CR or LF.
std::string CsvField(absl::string_view field);

}  // namespace mflsync::cli

#endif  // MFLSYNC_CLI_PLAN_FORMAT_H_
