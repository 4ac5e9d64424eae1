// How `mflsync run ID --changes` and `mflsync history FACILITY` show the
// change history: text for people (one line per write, newest first, each
// changed field old -> new), JSON and CSV (RFC 4180) for export. A write is
// shown as a dry run's plan entry is (cli/plan_format.h), after when, which
// run and which kind of run.
#ifndef MFLSYNC_CLI_CHANGE_FORMAT_H_
#define MFLSYNC_CLI_CHANGE_FORMAT_H_

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "mflsync/v1/scheduler.pb.h"

namespace mflsync::cli {

// `title` first ("changes of run run-000007"), then one line per change or
// "(none)"; times in `zone` (cli/run_text.h TimeText).
std::string ChangeHistoryText(const std::string& title,
                              const std::vector<mflsync::v1::FacilityChange>& changes,
                              const absl::TimeZone& zone);
// A JSON array of objects: change_id, recorded_at, run_id, source_id,
// trigger, then the entry's fields (cli/plan_format.h EntryJson).
std::string ChangeHistoryJson(const std::vector<mflsync::v1::FacilityChange>& changes);
// A header row, then one row per changed field; CRLF line ends.
std::string ChangeHistoryCsv(const std::vector<mflsync::v1::FacilityChange>& changes);

}  // namespace mflsync::cli

#endif  // MFLSYNC_CLI_CHANGE_FORMAT_H_
