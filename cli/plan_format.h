// How `mflsync plan RUN` shows a dry run's plan: text for people (the
// counts, then one line per create, update, deactivation and rejection),
// JSON and CSV (RFC 4180) for export.
#ifndef MFLSYNC_CLI_PLAN_FORMAT_H_
#define MFLSYNC_CLI_PLAN_FORMAT_H_

#include <string>

#include "absl/strings/string_view.h"
#include "mflsync/v1/scheduler.pb.h"

namespace mflsync::cli {

// `plan` is a GetPlanResponse holding every entry of the plan (all pages).
std::string PlanText(const mflsync::v1::GetPlanResponse& plan);
// One JSON object: run_id, source_id, state, approved_at (null when not
// approved), counts, entries (action in lower case, changes as field, old,
// new).
std::string PlanJson(const mflsync::v1::GetPlanResponse& plan);
// A header row, then one row per changed field of an update or
// deactivation and one row per other entry; CRLF line ends.
std::string PlanCsv(const mflsync::v1::GetPlanResponse& plan);

// `field` as one RFC 4180 CSV field: quoted (with quotes doubled) when it
// holds a comma, a double quote, CR or LF.
std::string CsvField(absl::string_view field);

}  // namespace mflsync::cli

#endif  // MFLSYNC_CLI_PLAN_FORMAT_H_
