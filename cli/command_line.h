// The `mflsync` command line, parsed with CLI11 (Debian's libcli11-dev):
// the global options, each with its MFLSYNC_* environment fallback, and one
// command (a CLI11 subcommand, some with subcommands of their own) with its
// options and words. Every level answers -h/--help with a text generated
// from its options; `--opt=value` and `--opt value` both work; extra words,
// unknown options and missing arguments are refused with CLI11's message.
// What each command then does is cli/cli.cc's.
#ifndef MFLSYNC_CLI_COMMAND_LINE_H_
#define MFLSYNC_CLI_COMMAND_LINE_H_

#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace mflsync::cli {

// The options before (or after) the command that every command shares.
struct GlobalOptions {
  // --scheduler, $MFLSYNC_SCHEDULER_ADDRESS, or 127.0.0.1:50050.
  std::string scheduler;
  // The other services `health` checks, in order: name → address (--fetcher,
  // --mapper, --writer, --mediator, their $MFLSYNC_*_ADDRESS, or loopback).
  std::vector<std::pair<std::string, std::string>> peers;
  // Credentials (docs/security.md); empty when not given.
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  std::string token_file;
  // --local: times in the machine's zone (TZ) instead of UTC.
  bool local = false;
};

// The command and what it was given; a field a command does not take stays
// empty.
struct CommandOptions {
  // The command's words: "runs", "plan approve", "watermark set", ...
  std::string command;
  // Words (positional arguments).
  std::string run_id;
  std::string source;    // sync [SOURCE], watermark ... SOURCE
  std::string facility;  // history FACILITY
  std::string hf_code;   // link ID HF_CODE
  std::string time;      // watermark set SOURCE TIME
  std::string id;                    // one failure id, as given
  std::vector<std::string> ids;      // failure ids, as given
  std::vector<std::string> targets;  // health NAME=HOST:PORT
  // Options.
  std::string source_option;  // --source
  std::string state;          // --state open|resolved|dismissed
  std::string format = "text";
  std::string since;   // --since TIME
  std::string reason;  // --reason TEXT
  int limit = 0;       // --limit N; the command's default when not given
  bool full = false;
  bool dry_run = false;
  bool no_watch = false;
  bool all = false;
  bool stored = false;
  bool changes = false;
};

struct CommandLine {
  GlobalOptions global;
  CommandOptions command;
};

// What parsing `args` (without argv[0]) ended with: a command line to run,
// or an exit code: 0 after help or the version was written to `out`, 2 after
// a usage error was written to `err`.
struct ParsedCommandLine {
  std::optional<CommandLine> line;
  int exit_code = 0;
};
ParsedCommandLine ParseCommandLine(const std::vector<std::string>& args, std::ostream& out,
                                   std::ostream& err);

}  // namespace mflsync::cli

#endif  // MFLSYNC_CLI_COMMAND_LINE_H_
