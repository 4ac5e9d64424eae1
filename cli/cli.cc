#include "cli/cli.h"

#include <cstdlib>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/match.h"
#include "absl/strings/ascii.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cli/change_format.h"
#include "cli/plan_format.h"
#include "cli/sources_format.h"
#include "common/fhir.h"
#include "common/health_probe.h"
#include "common/proto_time.h"
#include "common/read_file.h"
#include "common/grpc_channel.h"
#include "common/service_main.h"
#include "common/status_util.h"
#include "mflsync/v1/scheduler.grpc.pb.h"
#include "mflsync/v1/status.grpc.pb.h"

namespace mflsync::cli {
namespace {

namespace v1 = ::mflsync::v1;

constexpr char kUsage[] = R"(Usage: mflsync [--scheduler HOST:PORT] [CREDENTIALS] COMMAND [ARGS]
       mflsync [--scheduler|--fetcher|--mapper|--writer|--mediator HOST:PORT ...] health
       mflsync --version | --help | -h      (COMMAND --help: this text too)

Commands:
  health [NAME=HOST:PORT ...]   check the health service of every service
  sync [SOURCE] [--source S] [--full] [--dry-run] [--no-watch]
                                start a sync and show its progress; --full
                                fetches every facility and reads openIMIS in
                                full (the writer's index verified, drift
                                repaired); --dry-run fetches, maps and plans
                                like a real run but writes nothing and moves
                                no watermark
  plan RUN_ID [--format text|json|csv] [--all]
                                a dry run's plan: the counts, then each create,
                                update (field: old -> new), deactivation and
                                rejection (--all: no-ops, skipped, stale too)
  plan approve RUN_ID [--reason TEXT]
                                approve a dry run's plan (a source with
                                require_plan_approval needs one before its
                                first real run; it expires after the source's
                                plan_approval_ttl)
  watch [RUN_ID]                follow a run (the newest when omitted)
  cancel RUN_ID                 cancel a run in progress (nothing is lost)
  runs [--source S] [--limit N] list runs, newest first
  sources                       each source's schedule and time zone, next
                                run (UTC), watermark and last run
  run RUN_ID                    show one run
  run RUN_ID --changes [--format text|json|csv]
                                what the run wrote to openIMIS: each create,
                                update (field: old -> new) and deactivation
  history FACILITY [--since TIME] [--limit N] [--format text|json|csv]
                                what happened to a facility (MFL Location id
                                or HF code) across runs, newest first
  skipped RUN_ID [--limit N]    list the Locations the run skipped as not facilities
  failures [--source S] [--state open|resolved|dismissed] [--limit N]
                                list the failure queue
  failure ID                    show one entry with its raw FHIR, and what
                                operators did with it (who, why)
  retry ID... | retry --all [--source S] [--stored] [--reason TEXT] [--no-watch]
                                retry entries now with the MFL's current
                                version of each Location (--stored: the copy
                                kept with the entry) and show the retry run
  dismiss ID... --reason TEXT   dismiss entries
  reopen ID... [--reason TEXT]  open dismissed entries again
  link ID HF_CODE --reason TEXT [--no-watch]
                                a likely duplicate is the openIMIS facility
                                HF_CODE: write it (and later versions) there
  accept ID --reason TEXT [--no-watch]
                                a likely duplicate is a facility of its own:
                                create it despite the name match
  watermark show [SOURCE]       where the next incremental run starts, and the
                                operator changes made to it
  watermark set SOURCE TIME --reason TEXT
                                move it (TIME: a FHIR instant, not after now)
  watermark reset SOURCE --reason TEXT
                                clear it: the next run fetches everything

The scheduler address defaults to $MFLSYNC_SCHEDULER_ADDRESS or 127.0.0.1:50050.
`health` without arguments checks the five services: the scheduler at that
address, the others at --fetcher, --mapper, --writer, --mediator, else
$MFLSYNC_{FETCHER,MAPPER,WRITER,MEDIATOR}_ADDRESS, else their default loopback
ports. A service is SERVING while every dependency it checks answers
(docs/operations.md); for one that is not, `health` prints each failed
dependency and its cause (with a viewer token) and exits 1.
`mflsync --version` prints the version. Options take their value as the next
word or after '=' (--limit 5 or --limit=5); words a command does not take are
refused.

Credentials (docs/security.md); each option has an environment variable:
  --token-file FILE   bearer token ($MFLSYNC_TOKEN_FILE, or the token itself
                      in $MFLSYNC_TOKEN); a viewer may list, show and watch,
                      an operator may also sync, cancel, retry, dismiss,
                      approve plans and move watermarks
  --ca-file PEM       the suite's CA: speak TLS to the services ($MFLSYNC_CA_FILE)
  --cert PEM --key PEM
                      a client certificate instead of, or with, a token
                      ($MFLSYNC_CERT_FILE, $MFLSYNC_KEY_FILE)
The loopback stack (scripts/stack.sh) writes them into its data folder:
  export MFLSYNC_CA_FILE=data/grpc/ca.pem MFLSYNC_TOKEN_FILE=data/grpc/operator.token
)";

std::string EnvOr(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : fallback;
}

std::string TimeText(const google::protobuf::Timestamp& ts) {
  if (ts.seconds() == 0 && ts.nanos() == 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S",
                          absl::FromUnixSeconds(ts.seconds()), absl::UTCTimeZone());
}

std::string StateName(v1::RunState s) {
  std::string name = v1::RunState_Name(s);
  return absl::AsciiStrToLower(absl::StripPrefix(name, "RUN_STATE_"));
}

std::string TriggerName(v1::RunTrigger t) {
  std::string name = v1::RunTrigger_Name(t);
  return absl::AsciiStrToLower(absl::StripPrefix(name, "RUN_TRIGGER_"));
}

std::string DurationText(int64_t millis) {
  if (millis < 1000) return absl::StrCat(millis, "ms");
  if (millis < 60000) return absl::StrFormat("%.1fs", millis / 1000.0);
  return absl::StrFormat("%dm%02ds", millis / 60000, (millis / 1000) % 60);
}

// The one-line summary the demo prints per run.
std::string SummaryText(const v1::Run& r) {
  const v1::RunCounts& c = r.counts();
  return absl::StrFormat(
      "created %d, updated %d, unchanged %d, rejected %d, failed %d, duration %s",
      c.created(), c.updated(), c.unchanged(), c.rejected(), c.failed(),
      DurationText(r.duration_millis()));
}

std::string CountsText(const v1::RunCounts& c) {
  return absl::StrFormat(
      "fetched %d, created %d, updated %d, unchanged %d, rejected %d, failed %d, skipped %d, "
      "stale %d",
      c.fetched(), c.created(), c.updated(), c.unchanged(), c.rejected(),
      c.failed(), c.skipped(), c.stale());
}

// The TRIGGER column of `mflsync runs`: "dry-run" for a dry run.
std::string KindName(const v1::Run& r) {
  return r.dry_run() ? "dry-run" : TriggerName(r.trigger());
}

void PrintRun(const v1::Run& run, std::ostream& out) {
  out << "run " << run.run_id() << "  source " << run.source_id() << "  "
      << StateName(run.state()) << "  (" << TriggerName(run.trigger())
      << (run.full() ? ", full" : "") << (run.dry_run() ? ", dry run" : "") << ")\n"
      << "  started  " << TimeText(run.started_at()) << "  finished "
      << TimeText(run.finished_at()) << "\n"
      << "  since    " << TimeText(run.since()) << "  watermark "
      << TimeText(run.watermark()) << "\n"
      << "  fetched " << run.counts().fetched() << ", skipped (not facilities) "
      << run.counts().skipped()
      << (run.counts().skipped() > 0 ? absl::StrCat(" (mflsync skipped ", run.run_id(), ")")
                                     : std::string())
      << "\n";
  if (run.counts().stale() > 0)
    out << "  stale    " << run.counts().stale()
        << " (older than, or the same as, the version already in openIMIS: not written)\n";
  if (run.counts().future() > 0)
    out << "  future-dated " << run.counts().future()
        << " (lastUpdated after the MFL's own time: written, fetched again until then)\n";
  if (run.dry_run()) {
    out << "  planned: " << SummaryText(run) << "\n"
        << "  dry run: nothing written, no watermark moved; the plan: mflsync plan "
        << run.run_id() << "\n";
  } else {
    out << "  summary: " << SummaryText(run) << "\n";
  }
  for (const v1::StageTiming& st : run.stages())
    out << "  stage " << st.stage() << ": " << st.millis() << " ms\n";
  for (const std::string& w : run.warnings()) out << "  MFL said: " << w << "\n";
  if (!run.error().empty()) out << "  error: " << run.error() << "\n";
  if (run.has_rerun_at())
    out << "  runs again by itself at " << TimeText(run.rerun_at()) << " (rerun.*)\n";
}

class Cli {
 public:
  Cli(std::ostream& out, std::ostream& err, bool interactive)
      : out_(out), err_(err), interactive_(interactive) {}

  int Run(std::vector<std::string> args) {
    scheduler_ = EnvOr("MFLSYNC_SCHEDULER_ADDRESS", "127.0.0.1:50050");
    peer_addresses_ = {{"fetcher", EnvOr("MFLSYNC_FETCHER_ADDRESS", "127.0.0.1:50051")},
                       {"mapper", EnvOr("MFLSYNC_MAPPER_ADDRESS", "127.0.0.1:50052")},
                       {"writer", EnvOr("MFLSYNC_WRITER_ADDRESS", "127.0.0.1:50053")},
                       {"mediator", EnvOr("MFLSYNC_MEDIATOR_ADDRESS", "127.0.0.1:50055")}};
    security_.ca_file = EnvOr("MFLSYNC_CA_FILE", "");
    security_.cert_file = EnvOr("MFLSYNC_CERT_FILE", "");
    security_.key_file = EnvOr("MFLSYNC_KEY_FILE", "");
    security_.token = EnvOr("MFLSYNC_TOKEN", "");
    std::string token_file = EnvOr("MFLSYNC_TOKEN_FILE", "");
    args = SplitOptionValues(std::move(args));
    while (!args.empty() && absl::StartsWith(args[0], "-")) {
      if (args[0] == "--help" || args[0] == "-h") {
        out_ << kUsage;
        return 0;
      }
      if (args[0] == "--version") {
        out_ << "mflsync " << kMflsyncVersion << "\n";
        return 0;
      }
      if (args.size() < 2) return Usage(absl::StrCat(args[0], " needs a value"));
      if (args[0] == "--scheduler") scheduler_ = args[1];
      else if (args[0] == "--ca-file") security_.ca_file = args[1];
      else if (args[0] == "--cert") security_.cert_file = args[1];
      else if (args[0] == "--key") security_.key_file = args[1];
      else if (args[0] == "--token-file") token_file = args[1];
      else if (!SetPeerAddress(args[0], args[1]))
        return Usage(absl::StrCat("unknown option ", args[0]));
      args.erase(args.begin(), args.begin() + 2);
    }
    if (security_.cert_file.empty() != security_.key_file.empty())
      return Usage("--cert and --key go together");
    if (!token_file.empty() && !ReadToken(token_file)) return 2;
    if (token_file.empty() && !CheckToken("MFLSYNC_TOKEN")) return 2;
    if (args.empty()) return Usage("no command given");
    std::string command = args[0];
    args.erase(args.begin());
    if (command == "help" || AsksForHelp(args)) {
      out_ << kUsage;
      return 0;
    }
    if (command == "health") return Health(args);
    if (command == "sync") return Sync(args);
    if (command == "watch") {
      if (args.size() > 1) return Usage("watch takes at most one RUN_ID");
      return Watch(args.empty() ? "" : args[0]);
    }
    if (command == "cancel") return CancelRun(args);
    if (command == "runs") return Runs(args);
    if (command == "run") return ShowRun(args);
    if (command == "skipped") return Skipped(args);
    if (command == "plan") return Plan(args);
    if (command == "failures") return Failures(args);
    if (command == "failure") return ShowFailure(args);
    if (command == "retry") return Retry(args);
    if (command == "dismiss") return Dismiss(args);
    if (command == "reopen") return Reopen(args);
    if (command == "link" || command == "accept") return Decide(command, args);
    if (command == "history") return History(args);
    if (command == "watermark") return Watermark(args);
    if (command == "sources") return Sources(args);
    return Usage(absl::StrCat("unknown command '", command, "'"));
  }

 private:
  // --fetcher, --mapper, --writer or --mediator ADDRESS: sets that
  // service's address for `health`; false for any other option.
  bool SetPeerAddress(const std::string& option, const std::string& value) {
    for (auto& [name, address] : peer_addresses_) {
      if (option == absl::StrCat("--", name)) {
        address = value;
        return true;
      }
    }
    return false;
  }

  // "--option=value" as "--option" "value", so that both forms work.
  static std::vector<std::string> SplitOptionValues(std::vector<std::string> args) {
    std::vector<std::string> out;
    for (std::string& a : args) {
      const size_t eq = a.find('=');
      if (absl::StartsWith(a, "--") && eq != std::string::npos) {
        out.push_back(a.substr(0, eq));
        out.push_back(a.substr(eq + 1));
      } else {
        out.push_back(std::move(a));
      }
    }
    return out;
  }

  // `mflsync COMMAND ... --help` (or -h).
  static bool AsksForHelp(const std::vector<std::string>& args) {
    return std::find(args.begin(), args.end(), "--help") != args.end() ||
           std::find(args.begin(), args.end(), "-h") != args.end();
  }

  // A command that takes options only refuses other words.
  int NoWords(absl::string_view command, const std::vector<std::string>& rest) {
    return Usage(absl::StrCat(command, " takes options only, not '", rest[0], "'"));
  }

  int Usage(absl::string_view why) {
    err_ << "mflsync: " << why << "\n\n" << kUsage;
    return 2;
  }

  int Fail(const grpc::Status& s, absl::string_view what) {
    err_ << "mflsync: " << what << " (scheduler at " << scheduler_ << "): "
         << absl::StatusCodeToString(FromGrpcStatus(s).code()) << ": "
         << s.error_message() << "\n";
    return 1;
  }

  std::unique_ptr<v1::SchedulerService::Stub> Stub() {
    return v1::SchedulerService::NewStub(MakeChannel(scheduler_, security_));
  }

  // The token of `path` (surrounding whitespace dropped) into security_.
  bool ReadToken(const std::string& path) {
    absl::StatusOr<std::string> text = ReadTextFile(path);
    std::string token(absl::StripAsciiWhitespace(text.ok() ? *text : ""));
    if (token.empty()) {
      err_ << "mflsync: token file " << path << " cannot be read or is empty\n";
      return false;
    }
    security_.token = token;
    return CheckToken(absl::StrCat("token file ", path));
  }

  // A token goes into a header: no space or control character.
  bool CheckToken(absl::string_view origin) {
    for (char c : security_.token) {
      if (static_cast<unsigned char>(c) < 0x21 || c == 0x7f) {
        err_ << "mflsync: " << origin
             << " holds a space or control character inside the token\n";
        return false;
      }
    }
    return true;
  }

  void SetDeadline(grpc::ClientContext& ctx, int seconds = 30) {
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
  }

  // Parses "--flag value" options into `opts`; the rest go to `positional`.
  bool ParseOptions(const std::vector<std::string>& args,
                    const std::vector<std::string>& valued,
                    const std::vector<std::string>& flags,
                    std::map<std::string, std::string>* opts,
                    std::vector<std::string>* positional) {
    for (size_t i = 0; i < args.size(); ++i) {
      const std::string& a = args[i];
      if (!absl::StartsWith(a, "--")) {
        positional->push_back(a);
        continue;
      }
      if (std::find(flags.begin(), flags.end(), a) != flags.end()) {
        (*opts)[a] = "true";
      } else if (std::find(valued.begin(), valued.end(), a) != valued.end()) {
        if (i + 1 >= args.size()) {
          Usage(absl::StrCat(a, " needs a value"));
          return false;
        }
        (*opts)[a] = args[++i];
      } else {
        Usage(absl::StrCat("unknown option ", a));
        return false;
      }
    }
    return true;
  }

  bool ParseLimit(const std::map<std::string, std::string>& opts, int* limit) {
    auto it = opts.find("--limit");
    if (it == opts.end()) return true;
    if (!absl::SimpleAtoi(it->second, limit) || *limit < 1 || *limit > 1000) {
      Usage("--limit must be a number from 1 to 1000");
      return false;
    }
    return true;
  }

  // The services `health` checks: NAME=HOST:PORT arguments, else all five
  // at their flags, environment or default addresses.
  bool HealthTargets(const std::vector<std::string>& args,
                     std::vector<std::pair<std::string, std::string>>* targets) {
    if (args.empty()) {
      targets->emplace_back("scheduler", scheduler_);  // --scheduler or its default
      for (const auto& [name, address] : peer_addresses_) targets->emplace_back(name, address);
    }
    for (const std::string& a : args) {
      const size_t eq = a.find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == a.size()) {
        Usage(absl::StrCat("health takes NAME=HOST:PORT, not '", a, "'"));
        return false;
      }
      targets->emplace_back(a.substr(0, eq), a.substr(eq + 1));
    }
    return true;
  }

  // Prints why a service is not serving: each failed dependency check from
  // its StatusService (a viewer's call), or why that cannot be shown.
  void PrintHealthCauses(const std::string& address) {
    v1::GetStatusResponse status;
    grpc::ClientContext ctx;
    SetDeadline(ctx, 5);
    grpc::Status rpc = v1::StatusService::NewStub(MakeChannel(address, security_))
                           ->GetStatus(&ctx, v1::GetStatusRequest(), &status);
    if (!rpc.ok()) {
      out_ << "           cause not shown: GetStatus: " << rpc.error_message()
           << " (a viewer token shows it: --token-file)\n";
      return;
    }
    for (const v1::DependencyStatus& d : status.dependencies()) {
      if (!d.ok()) out_ << "           " << d.name() << ": " << d.cause() << "\n";
    }
  }

  int Health(const std::vector<std::string>& args) {
    std::vector<std::pair<std::string, std::string>> targets;
    if (!HealthTargets(args, &targets)) return 2;
    int bad = 0;
    for (const auto& [name, address] : targets) {
      absl::StatusOr<std::string> state =
          CheckHealth(MakeChannel(address, security_), "", absl::Seconds(5));
      if (state.ok()) {
        out_ << absl::StrFormat("%-10s %-22s %s\n", name, address, *state);
        if (*state == "SERVING") continue;
        PrintHealthCauses(address);
      } else {
        out_ << absl::StrFormat("%-10s %-22s DOWN (%s)\n", name, address,
                                state.status().message());
      }
      ++bad;
    }
    return bad == 0 ? 0 : 1;
  }

  int Sync(const std::vector<std::string>& args) {
    std::map<std::string, std::string> opts;
    std::vector<std::string> rest;
    if (!ParseOptions(args, {"--source"}, {"--full", "--dry-run", "--no-watch"}, &opts, &rest))
      return 2;
    if (rest.size() > 1 || (rest.size() == 1 && opts.count("--source")))
      return Usage("sync takes one SOURCE, or --source S");
    v1::TriggerSyncRequest req;
    req.set_source_id(rest.empty() ? opts["--source"] : rest[0]);
    req.set_full(opts.count("--full") > 0);
    req.set_dry_run(opts.count("--dry-run") > 0);
    v1::TriggerSyncResponse resp;
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    grpc::Status s = Stub()->TriggerSync(&ctx, req, &resp);
    if (!s.ok()) return Fail(s, "sync");
    out_ << (resp.already_running() ? "already running: run "
             : resp.run().dry_run() ? "started dry run "
                                    : "started run ")
         << resp.run().run_id() << "\n";
    if (opts.count("--no-watch")) return 0;
    return Watch(resp.run().run_id());
  }

  int Watch(const std::string& run_id) {
    v1::WatchRunRequest req;
    req.set_run_id(run_id);
    grpc::ClientContext ctx;
    std::unique_ptr<grpc::ClientReader<v1::WatchRunResponse>> reader =
        Stub()->WatchRun(&ctx, req);
    v1::WatchRunResponse update;
    v1::Run last;
    bool any = false;
    absl::Time last_line = absl::InfinitePast();
    while (reader->Read(&update)) {
      last = update.run();
      any = true;
      std::string line = absl::StrFormat(
          "%s %-9s %s", last.run_id(), StateName(last.state()), CountsText(last.counts()));
      if (interactive_) {
        out_ << "\r\33[2K" << line << std::flush;
      } else if (last.state() != v1::RUN_STATE_RUNNING ||
                 absl::Now() - last_line >= absl::Seconds(2)) {
        // Logs and pipes get a line every 2 s at most, plus the last one.
        out_ << line << "\n";
        last_line = absl::Now();
      }
    }
    if (interactive_ && any) out_ << "\n";
    grpc::Status s = reader->Finish();
    if (!s.ok()) return Fail(s, "watch");
    if (any) PrintRun(last, out_);
    return any && last.state() == v1::RUN_STATE_SUCCEEDED ? 0 : 1;
  }

  int Runs(const std::vector<std::string>& args) {
    std::map<std::string, std::string> opts;
    std::vector<std::string> rest;
    if (!ParseOptions(args, {"--source", "--limit"}, {}, &opts, &rest)) return 2;
    if (!rest.empty()) return NoWords("runs", rest);
    int limit = 20;
    if (!ParseLimit(opts, &limit)) return 2;
    v1::ListRunsRequest req;
    req.set_source_id(opts["--source"]);
    req.set_page_size(limit);
    v1::ListRunsResponse resp;
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    grpc::Status s = Stub()->ListRuns(&ctx, req, &resp);
    if (!s.ok()) return Fail(s, "runs");
    out_ << absl::StrFormat("%-12s %-10s %-9s %-10s %-19s %8s %8s %9s %8s %7s %9s\n", "RUN",
                            "SOURCE", "TRIGGER", "STATE", "STARTED", "CREATED", "UPDATED",
                            "UNCHANGED", "REJECTED", "FAILED", "DURATION");
    for (const v1::Run& r : resp.runs()) {
      const v1::RunCounts& c = r.counts();
      out_ << absl::StrFormat("%-12s %-10s %-9s %-10s %-19s %8d %8d %9d %8d %7d %9s\n",
                              r.run_id(), r.source_id(), KindName(r),
                              StateName(r.state()), TimeText(r.started_at()), c.created(),
                              c.updated(), c.unchanged(), c.rejected(), c.failed(),
                              DurationText(r.duration_millis()));
    }
    return 0;
  }

  // `mflsync sources`; its text is cli/sources_format.h's.
  int Sources(const std::vector<std::string>& args) {
    if (!args.empty()) return NoWords("sources", args);
    v1::ListSourceSchedulesResponse resp;
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    grpc::Status s = Stub()->ListSourceSchedules(&ctx, {}, &resp);
    if (!s.ok()) return Fail(s, "sources");
    out_ << SourcesText(resp);
    return 0;
  }

  int CancelRun(const std::vector<std::string>& args) {
    if (args.size() != 1) return Usage("cancel takes one RUN_ID");
    v1::CancelRunRequest req;
    req.set_run_id(args[0]);
    v1::CancelRunResponse resp;
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    grpc::Status s = Stub()->CancelRun(&ctx, req, &resp);
    if (!s.ok()) return Fail(s, "cancel");
    out_ << "cancelling run " << resp.run().run_id() << "\n";
    return 0;
  }

  int Watermark(const std::vector<std::string>& args) {
    std::map<std::string, std::string> opts;
    std::vector<std::string> rest;
    if (!ParseOptions(args, {"--reason"}, {}, &opts, &rest)) return 2;
    if (rest.empty()) return Usage("watermark takes show, set or reset");
    const std::string action = rest[0];
    if (action == "show") {
      if (rest.size() > 2) return Usage("watermark show takes at most one SOURCE");
      return ShowWatermark(rest.size() == 2 ? rest[1] : "");
    }
    if (action != "set" && action != "reset") return Usage("watermark takes show, set or reset");
    const size_t want = action == "set" ? 3 : 2;
    if (rest.size() != want)
      return Usage(action == "set" ? "watermark set takes SOURCE TIME"
                                   : "watermark reset takes SOURCE");
    if (opts["--reason"].empty()) return Usage("watermark set and reset need --reason TEXT");
    v1::SetWatermarkRequest req;
    req.set_source_id(rest[1]);
    req.set_reason(opts["--reason"]);
    if (action == "set") {
      absl::StatusOr<absl::Time> t = ParseFhirInstant(rest[2]);
      if (!t.ok()) return Usage(t.status().message());
      *req.mutable_watermark() = ToTimestamp(*t);
    }
    v1::SetWatermarkResponse resp;
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    grpc::Status s = Stub()->SetWatermark(&ctx, req, &resp);
    if (!s.ok()) return Fail(s, "watermark");
    out_ << "watermark of " << rest[1] << ": " << TimeText(resp.change().previous()) << " -> "
         << TimeText(resp.change().watermark()) << "\n";
    return 0;
  }

  int ShowWatermark(const std::string& source) {
    v1::GetWatermarkRequest req;
    req.set_source_id(source);
    v1::GetWatermarkResponse resp;
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    grpc::Status s = Stub()->GetWatermark(&ctx, req, &resp);
    if (!s.ok()) return Fail(s, "watermark");
    out_ << "source " << resp.source_id() << "  watermark "
         << (resp.has_watermark() ? TimeText(resp.watermark()) : "none (the next run fetches "
                                                                  "everything)")
         << "\n";
    for (const v1::WatermarkChange& c : resp.changes())
      out_ << "  " << TimeText(c.changed_at()) << "  " << TimeText(c.previous()) << " -> "
           << TimeText(c.watermark()) << "  " << c.reason() << "\n";
    return 0;
  }

  int ShowRun(const std::vector<std::string>& args) {
    std::map<std::string, std::string> opts;
    std::vector<std::string> rest;
    if (!ParseOptions(args, {"--format"}, {"--changes"}, &opts, &rest)) return 2;
    if (rest.size() != 1) return Usage("run takes one RUN_ID");
    if (opts.count("--changes")) {
      v1::ListChangesRequest changes;
      changes.set_run_id(rest[0]);
      return Changes(changes, absl::StrCat("changes written by run ", rest[0]), opts, 0);
    }
    if (opts.count("--format")) return Usage("--format goes with --changes");
    v1::GetRunRequest req;
    req.set_run_id(rest[0]);
    v1::GetRunResponse resp;
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    grpc::Status s = Stub()->GetRun(&ctx, req, &resp);
    if (!s.ok()) return Fail(s, "run");
    PrintRun(resp.run(), out_);
    return 0;
  }

  int Skipped(const std::vector<std::string>& args) {
    std::map<std::string, std::string> opts;
    std::vector<std::string> rest;
    if (!ParseOptions(args, {"--limit"}, {}, &opts, &rest)) return 2;
    if (rest.size() != 1) return Usage("skipped takes one RUN_ID");
    int limit = 100;
    if (!ParseLimit(opts, &limit)) return 2;
    v1::ListSkippedRequest req;
    req.set_run_id(rest[0]);
    req.set_page_size(limit);
    v1::ListSkippedResponse resp;
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    grpc::Status s = Stub()->ListSkipped(&ctx, req, &resp);
    if (!s.ok()) return Fail(s, "skipped");
    out_ << absl::StrFormat("%-24s %-8s %-24s %s\n", "LOCATION", "VERSION", "LAST UPDATED",
                            "WHY");
    for (const v1::SkippedRecord& r : resp.records()) {
      out_ << absl::StrFormat("%-24s %-8s %-24s %s\n", r.location_id(), r.version_id(),
                              TimeText(r.last_updated()), r.reason());
    }
    if (!resp.next_page_token().empty())
      out_ << "(more: raise --limit, at most 1000)\n";
    return 0;
  }

  // `plan RUN_ID [--format F] [--all]` or `plan approve RUN_ID`.
  int Plan(const std::vector<std::string>& args) {
    std::map<std::string, std::string> opts;
    std::vector<std::string> rest;
    if (!ParseOptions(args, {"--format", "--reason"}, {"--all"}, &opts, &rest)) return 2;
    if (!rest.empty() && rest[0] == "approve") {
      const std::string reason = opts["--reason"];
      opts.erase("--reason");
      if (rest.size() != 2 || !opts.empty())
        return Usage("plan approve takes one RUN_ID [--reason TEXT]");
      return ApprovePlan(rest[1], reason);
    }
    if (opts.count("--reason")) return Usage("--reason is for plan approve");
    if (rest.size() != 1) return Usage("plan takes one RUN_ID");
    const std::string format = opts.count("--format") ? opts["--format"] : "text";
    if (format != "text" && format != "json" && format != "csv")
      return Usage("--format must be text, json or csv");
    v1::GetPlanResponse plan;
    if (int code = FetchPlan(rest[0], opts.count("--all") > 0, &plan); code != 0) return code;
    if (format == "json") out_ << PlanJson(plan);
    else if (format == "csv") out_ << PlanCsv(plan);
    else out_ << PlanText(plan);
    return 0;
  }

  // Every page of a dry run's plan into `plan`; an exit code.
  int FetchPlan(const std::string& run_id, bool all, v1::GetPlanResponse* plan) {
    v1::GetPlanRequest req;
    req.set_run_id(run_id);
    req.set_all(all);
    req.set_page_size(1000);
    do {
      v1::GetPlanResponse page;
      grpc::ClientContext ctx;
      SetDeadline(ctx);
      grpc::Status s = Stub()->GetPlan(&ctx, req, &page);
      if (!s.ok()) return Fail(s, "plan");
      for (v1::PlanEntry& e : *page.mutable_entries()) *plan->add_entries() = std::move(e);
      page.clear_entries();
      *plan->mutable_run() = page.run();
      *plan->mutable_counts() = page.counts();
      if (page.has_approval()) *plan->mutable_approval() = page.approval();
      req.set_page_token(page.next_page_token());
    } while (!req.page_token().empty());
    return 0;
  }

  int ApprovePlan(const std::string& run_id, const std::string& reason) {
    v1::ApprovePlanRequest req;
    req.set_run_id(run_id);
    req.set_reason(reason);
    v1::ApprovePlanResponse resp;
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    grpc::Status s = Stub()->ApprovePlan(&ctx, req, &resp);
    if (!s.ok()) return Fail(s, "plan approve");
    out_ << "approved the plan of dry run " << resp.approval().run_id() << " (source "
         << resp.approval().source_id() << ") " << ApprovalText(resp.approval()) << "\n";
    return 0;
  }

  int Failures(const std::vector<std::string>& args) {
    std::map<std::string, std::string> opts;
    std::vector<std::string> rest;
    if (!ParseOptions(args, {"--source", "--state", "--limit"}, {}, &opts, &rest))
      return 2;
    if (!rest.empty()) return NoWords("failures", rest);
    int limit = 50;
    if (!ParseLimit(opts, &limit)) return 2;
    v1::ListFailuresRequest req;
    req.set_source_id(opts["--source"]);
    req.set_page_size(limit);
    if (opts.count("--state")) {
      const std::string& st = opts["--state"];
      if (st == "open") req.set_state(v1::FAILURE_STATE_OPEN);
      else if (st == "resolved") req.set_state(v1::FAILURE_STATE_RESOLVED);
      else if (st == "dismissed") req.set_state(v1::FAILURE_STATE_DISMISSED);
      else return Usage("--state must be open, resolved or dismissed");
    }
    v1::ListFailuresResponse resp;
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    grpc::Status s = Stub()->ListFailures(&ctx, req, &resp);
    if (!s.ok()) return Fail(s, "failures");
    out_ << absl::StrFormat("%-6s %-10s %-16s %-10s %-4s %s\n", "ID", "SOURCE",
                            "LOCATION", "STAGE", "TRY", "REASON");
    for (const v1::Failure& f : resp.failures()) {
      std::string stage = absl::AsciiStrToLower(
          absl::StripPrefix(v1::FailureStage_Name(f.stage()), "FAILURE_STAGE_"));
      out_ << absl::StrFormat("%-6d %-10s %-16s %-10s %-4d %s\n", f.failure_id(),
                              f.source_id(), f.location_id(), stage, f.attempts(),
                              f.reason());
    }
    return 0;
  }

  bool ParseIds(const std::vector<std::string>& ids, std::vector<int64_t>* out) {
    for (const std::string& id : ids) {
      int64_t v;
      if (!absl::SimpleAtoi(id, &v) || v <= 0) {
        Usage(absl::StrCat("'", id, "' is not a failure id"));
        return false;
      }
      out->push_back(v);
    }
    return true;
  }

  int ShowFailure(const std::vector<std::string>& args) {
    std::vector<int64_t> ids;
    if (args.size() != 1) return Usage("failure takes one ID");
    if (!ParseIds(args, &ids)) return 2;
    v1::GetFailureRequest req;
    req.set_failure_id(ids[0]);
    v1::GetFailureResponse resp;
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    grpc::Status s = Stub()->GetFailure(&ctx, req, &resp);
    if (!s.ok()) return Fail(s, "failure");
    const v1::Failure& f = resp.failure();
    out_ << "failure " << f.failure_id() << "  source " << f.source_id()
         << "  location " << f.location_id() << " (version " << f.version_id()
         << ")\n  stage " << v1::FailureStage_Name(f.stage()) << "  state "
         << v1::FailureState_Name(f.state()) << "  attempts " << f.attempts()
         << (f.transient() ? "  (transient)" : "") << "\n  run " << f.run_id()
         << "  first seen " << TimeText(f.created_at()) << "  last attempt "
         << TimeText(f.updated_at()) << "  next automatic retry "
         << TimeText(f.next_attempt_at()) << "\n  reason: " << f.reason() << "\n";
    if (!f.resolution().empty()) out_ << "  resolution: " << f.resolution() << "\n";
    PrintDecisions(f);
    out_ << "  raw FHIR:\n" << f.raw_json() << "\n";
    return 0;
  }

  int Retry(const std::vector<std::string>& args) {
    std::map<std::string, std::string> opts;
    std::vector<std::string> rest;
    if (!ParseOptions(args, {"--source", "--reason"}, {"--all", "--no-watch", "--stored"}, &opts,
                      &rest))
      return 2;
    v1::RetryFailuresRequest req;
    req.set_stored(opts.count("--stored") > 0);
    req.set_reason(opts["--reason"]);
    std::vector<int64_t> ids;
    if (!ParseIds(rest, &ids)) return 2;
    if (ids.empty() && !opts.count("--all")) return Usage("retry takes IDs or --all");
    if (!ids.empty() && opts.count("--all")) return Usage("retry takes IDs or --all, not both");
    for (int64_t id : ids) req.add_failure_ids(id);
    req.set_all(opts.count("--all") > 0);
    req.set_source_id(opts["--source"]);
    v1::RetryFailuresResponse resp;
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    grpc::Status s = Stub()->RetryFailures(&ctx, req, &resp);
    if (!s.ok()) return Fail(s, "retry");
    out_ << "retry run " << resp.run().run_id() << " started\n";
    if (opts.count("--no-watch")) return 0;
    return Watch(resp.run().run_id());
  }

  int Dismiss(const std::vector<std::string>& args) {
    std::map<std::string, std::string> opts;
    std::vector<std::string> rest;
    if (!ParseOptions(args, {"--reason"}, {}, &opts, &rest)) return 2;
    std::vector<int64_t> ids;
    if (!ParseIds(rest, &ids)) return 2;
    if (ids.empty()) return Usage("dismiss takes one or more IDs");
    if (opts["--reason"].empty()) return Usage("dismiss needs --reason TEXT");
    v1::DismissFailuresRequest req;
    for (int64_t id : ids) req.add_failure_ids(id);
    req.set_reason(opts["--reason"]);
    v1::DismissFailuresResponse resp;
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    grpc::Status s = Stub()->DismissFailures(&ctx, req, &resp);
    if (!s.ok()) return Fail(s, "dismiss");
    out_ << "dismissed " << resp.dismissed() << " entries\n";
    return 0;
  }

  // Every page of the changes `req` selects (at most `limit`, 0: all),
  // shown as opts["--format"] says; an exit code.
  int Changes(v1::ListChangesRequest req, const std::string& title,
              std::map<std::string, std::string>& opts, int limit) {
    const std::string format = opts.count("--format") ? opts["--format"] : "text";
    if (format != "text" && format != "json" && format != "csv")
      return Usage("--format must be text, json or csv");
    std::vector<v1::FacilityChange> changes;
    do {
      req.set_page_size(limit > 0 ? limit - static_cast<int>(changes.size()) : 1000);
      v1::ListChangesResponse page;
      grpc::ClientContext ctx;
      SetDeadline(ctx);
      grpc::Status s = Stub()->ListChanges(&ctx, req, &page);
      if (!s.ok()) return Fail(s, "changes");
      for (v1::FacilityChange& c : *page.mutable_changes()) changes.push_back(std::move(c));
      req.set_page_token(page.next_page_token());
    } while (!req.page_token().empty() &&
             (limit == 0 || static_cast<int>(changes.size()) < limit));
    if (format == "json") out_ << ChangeHistoryJson(changes);
    else if (format == "csv") out_ << ChangeHistoryCsv(changes);
    else out_ << ChangeHistoryText(title, changes);
    return 0;
  }

  // `history FACILITY [--since TIME] [--limit N] [--format F]`.
  int History(const std::vector<std::string>& args) {
    std::map<std::string, std::string> opts;
    std::vector<std::string> rest;
    if (!ParseOptions(args, {"--since", "--limit", "--format"}, {}, &opts, &rest)) return 2;
    if (rest.size() != 1) return Usage("history takes one FACILITY (MFL Location id or HF code)");
    int limit = 100;
    if (!ParseLimit(opts, &limit)) return 2;
    v1::ListChangesRequest req;
    req.set_facility(rest[0]);
    if (opts.count("--since")) {
      absl::StatusOr<absl::Time> t = ParseFhirInstant(opts["--since"]);
      if (!t.ok()) return Usage(t.status().message());
      *req.mutable_since() = ToTimestamp(*t);
    }
    return Changes(req, absl::StrCat("history of facility ", rest[0], " (newest first)"), opts,
                   limit);
  }

  int Reopen(const std::vector<std::string>& args) {
    std::map<std::string, std::string> opts;
    std::vector<std::string> rest;
    if (!ParseOptions(args, {"--reason"}, {}, &opts, &rest)) return 2;
    std::vector<int64_t> ids;
    if (!ParseIds(rest, &ids)) return 2;
    if (ids.empty()) return Usage("reopen takes one or more IDs");
    v1::ReopenFailuresRequest req;
    for (int64_t id : ids) req.add_failure_ids(id);
    req.set_reason(opts["--reason"]);
    v1::ReopenFailuresResponse resp;
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    grpc::Status s = Stub()->ReopenFailures(&ctx, req, &resp);
    if (!s.ok()) return Fail(s, "reopen");
    out_ << "reopened " << resp.reopened() << " entries\n";
    return 0;
  }

  // `link ID HF_CODE --reason TEXT` or `accept ID --reason TEXT`, then the
  // retry run it started.
  int Decide(const std::string& command, const std::vector<std::string>& args) {
    std::map<std::string, std::string> opts;
    std::vector<std::string> rest;
    if (!ParseOptions(args, {"--reason"}, {"--no-watch"}, &opts, &rest)) return 2;
    const bool link = command == "link";
    if (rest.size() != (link ? 2u : 1u))
      return Usage(link ? "link takes ID HF_CODE" : "accept takes one ID");
    std::vector<int64_t> ids;
    if (!ParseIds({rest[0]}, &ids)) return 2;
    if (opts["--reason"].empty()) return Usage(absl::StrCat(command, " needs --reason TEXT"));
    v1::LinkFailureResponse resp;  // an acceptance's answer has the same fields
    grpc::Status s = SendDecision(link, ids[0], link ? rest[1] : "", opts["--reason"], &resp);
    if (!s.ok()) return Fail(s, command);
    out_ << DecisionText(resp.link()) << "\n";
    if (!resp.retry_error().empty()) {
      out_ << "the retry could not start now (" << resp.retry_error()
           << "); the decision applies to the next retry or sync\n";
      return 0;
    }
    out_ << "retry run " << resp.run().run_id() << " started\n";
    if (opts.count("--no-watch")) return 0;
    return Watch(resp.run().run_id());
  }

  // LinkFailure (`link`) or AcceptFailure; the answer into `out`.
  grpc::Status SendDecision(bool link, int64_t id, const std::string& hf_code,
                            const std::string& reason, v1::LinkFailureResponse* out) {
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    if (link) {
      v1::LinkFailureRequest req;
      req.set_failure_id(id);
      req.set_hf_code(hf_code);
      req.set_reason(reason);
      return Stub()->LinkFailure(&ctx, req, out);
    }
    v1::AcceptFailureRequest req;
    req.set_failure_id(id);
    req.set_reason(reason);
    v1::AcceptFailureResponse resp;
    grpc::Status s = Stub()->AcceptFailure(&ctx, req, &resp);
    *out->mutable_link() = resp.link();
    *out->mutable_run() = resp.run();
    out->set_retry_error(resp.retry_error());
    return s;
  }

  static std::string DecisionText(const v1::FacilityLink& l) {
    return l.accept_namesake()
               ? absl::StrCat("Location ", l.location_id(),
                              " is accepted as a facility of its own despite its namesake")
               : absl::StrCat("Location ", l.location_id(), " is linked to openIMIS HF code ",
                              l.hf_code());
  }

  // The entry's link and the operators' actions on it.
  void PrintDecisions(const v1::Failure& f) {
    if (f.has_link()) {
      out_ << "  " << DecisionText(f.link()) << " (by " << f.link().actor() << ", "
           << TimeText(f.link().decided_at()) << ": " << f.link().reason() << ")\n";
    }
    if (f.actions().empty()) return;
    out_ << "  actions:\n";
    for (const v1::FailureAction& a : f.actions()) {
      out_ << "    " << TimeText(a.acted_at()) << "  "
           << absl::AsciiStrToLower(
                  absl::StripPrefix(v1::FailureActionKind_Name(a.kind()), "FAILURE_ACTION_KIND_"))
           << " by " << a.actor();
      if (!a.reason().empty()) out_ << ": " << a.reason();
      if (!a.detail().empty()) out_ << " (" << a.detail() << ")";
      out_ << "\n";
    }
  }

  std::ostream& out_;
  std::ostream& err_;
  bool interactive_;
  std::string scheduler_;
  // The other services `health` checks, in order: name → address.
  std::vector<std::pair<std::string, std::string>> peer_addresses_;
  ClientSecurity security_;
};

}  // namespace

int RunCli(const std::vector<std::string>& args, std::ostream& out,
           std::ostream& err, bool interactive) {
  return Cli(out, err, interactive).Run(args);
}

}  // namespace mflsync::cli
