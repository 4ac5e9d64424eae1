// The `mflsync` command for people: trigger and watch syncs, list runs,
// work through the failure queue, and check every service's health.
// Logic is a plain class so tests can run it in-process.
#ifndef MFLSYNC_CLI_CLI_H_
#define MFLSYNC_CLI_CLI_H_

#include <ostream>
#include <string>
#include <vector>

namespace mflsync::cli {

// Runs one command line (without argv[0]); writes to `out`/`err`; returns
// the exit code: 0 success, 1 the call failed, 2 bad usage.
int RunCli(const std::vector<std::string>& args, std::ostream& out,
           std::ostream& err, bool interactive);

}  // namespace mflsync::cli

#endif  // MFLSYNC_CLI_CLI_H_
