// How `mflsync sources` shows the scheduler's sources (ListSourceSchedules):
// per source its schedule and time zone, the next scheduled run, the
// watermark and the last run, times in the CLI's zone (cli/run_text.h).
#ifndef MFLSYNC_CLI_SOURCES_FORMAT_H_
#define MFLSYNC_CLI_SOURCES_FORMAT_H_

#include <string>

#include "absl/time/time.h"
#include "mflsync/v1/scheduler.pb.h"

namespace mflsync::cli {

// A block of lines per source, by name; a line saying so when there is none.
std::string SourcesText(const mflsync::v1::ListSourceSchedulesResponse& sources,
                        const absl::TimeZone& zone);

}  // namespace mflsync::cli

#endif  // MFLSYNC_CLI_SOURCES_FORMAT_H_
