#include "cli/command_line.h"

#include <algorithm>

#include <CLI/CLI.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/service_main.h"

namespace mflsync::cli {
namespace {

constexpr char kFooter[] = R"(
Run 'mflsync COMMAND --help' for a command's options and words.

The scheduler address is --scheduler, else $MFLSYNC_SCHEDULER_ADDRESS, else
127.0.0.1:50050. `health` without arguments checks the five services: the
scheduler there, the others at --fetcher, --mapper, --writer, --mediator,
else $MFLSYNC_{FETCHER,MAPPER,WRITER,MEDIATOR}_ADDRESS, else their default
loopback ports. Times are shown in UTC ("2026-12-07 14:31:08Z"), or with
--local in the zone of $TZ (or the machine's) with its offset.

Credentials (docs/security.md): a bearer token (--token-file, or the token
itself in $MFLSYNC_TOKEN); a viewer may list, show and watch, an operator
may also sync, cancel, retry, dismiss, approve plans and move watermarks.
The loopback stack (scripts/stack.sh) writes them into its data folder:
  export MFLSYNC_CA_FILE=data/grpc/ca.pem MFLSYNC_TOKEN_FILE=data/grpc/operator.token
)";

// A --reason (or other text) that must say something.
const CLI::Validator& NonEmpty() {
  static const CLI::Validator* const kNonEmpty = new CLI::Validator(
      [](std::string& s) { return s.empty() ? std::string("must not be empty") : std::string(); },
      "", "NonEmpty");
  return *kNonEmpty;
}

void AddGlobalOptions(CLI::App& app, GlobalOptions& g) {
  g.scheduler = "127.0.0.1:50050";
  app.add_option("--scheduler", g.scheduler, "the scheduler's address")
      ->envname("MFLSYNC_SCHEDULER_ADDRESS")
      ->type_name("HOST:PORT")
      ->capture_default_str();
  g.peers = {{"fetcher", "127.0.0.1:50051"},
             {"mapper", "127.0.0.1:50052"},
             {"writer", "127.0.0.1:50053"},
             {"mediator", "127.0.0.1:50055"}};
  for (auto& [name, address] : g.peers) {
    app.add_option(absl::StrCat("--", name), address, absl::StrCat("the ", name, "'s address"))
        ->envname(absl::StrCat("MFLSYNC_", absl::AsciiStrToUpper(name), "_ADDRESS"))
        ->type_name("HOST:PORT")
        ->capture_default_str()
        ->group("Other services (health)");
  }
  const std::string credentials = "Credentials";
  app.add_option("--token-file", g.token_file, "a file holding a bearer token")
      ->envname("MFLSYNC_TOKEN_FILE")
      ->type_name("FILE")
      ->group(credentials);
  app.add_option("--ca-file", g.ca_file, "the suite's CA: speak TLS to the services")
      ->envname("MFLSYNC_CA_FILE")
      ->type_name("PEM")
      ->group(credentials);
  CLI::Option* cert =
      app.add_option("--cert", g.cert_file, "a client certificate, instead of or with a token")
          ->envname("MFLSYNC_CERT_FILE")
          ->type_name("PEM")
          ->group(credentials);
  CLI::Option* key = app.add_option("--key", g.key_file, "the client certificate's key")
                         ->envname("MFLSYNC_KEY_FILE")
                         ->type_name("PEM")
                         ->group(credentials);
  cert->needs(key);
  key->needs(cert);
  app.add_flag("--local", g.local, "show times in the local zone (TZ) with its offset, not UTC");
  app.set_version_flag("--version", absl::StrCat("mflsync ", kMflsyncVersion),
                       "print the version and exit");
}

// --limit N (1 to 1000), `def` when not given.
void AddLimit(CLI::App* sub, CommandOptions& o, int def, const std::string& what) {
  sub->preparse_callback([&o, def](std::size_t) { o.limit = def; });
  sub->add_option("--limit", o.limit, absl::StrCat("at most N ", what))
      ->type_name("N")
      ->check(CLI::Range(1, 1000))
      ->default_str(absl::StrCat(def));
}

// --format text|json|csv.
void AddFormat(CLI::App* sub, CommandOptions& o) {
  sub->add_option("--format", o.format, "text for people, json or csv for export")
      ->check(CLI::IsMember({"text", "json", "csv"}))
      ->capture_default_str();
}

void AddReason(CLI::App* sub, CommandOptions& o, bool required) {
  CLI::Option* reason = sub->add_option("--reason", o.reason, "why (kept with the action)")
                            ->type_name("TEXT")
                            ->check(NonEmpty());
  if (required) reason->required();
}

void AddNoWatch(CLI::App* sub, CommandOptions& o) {
  sub->add_flag("--no-watch", o.no_watch, "print the run's id and return; do not follow it");
}

void AddRunCommands(CLI::App& app, CommandOptions& o) {
  CLI::App* sync = app.add_subcommand("sync", "start a sync and show its progress");
  CLI::Option* source = sync->add_option("SOURCE", o.source, "the source (the only one when "
                                                             "omitted)");
  sync->add_option("--source", o.source_option, "the source, as an option")
      ->type_name("S")
      ->excludes(source);
  sync->add_flag("--full", o.full,
                 "fetch every facility and read openIMIS in full (the writer's index verified, "
                 "drift repaired)");
  sync->add_flag("--dry-run", o.dry_run,
                 "fetch, map and plan like a real run, but write nothing and move no watermark "
                 "(mflsync plan RUN_ID shows the plan)");
  AddNoWatch(sync, o);
  app.add_subcommand("watch", "follow a run: its progress, then its summary")
      ->add_option("RUN_ID", o.run_id, "the run (the newest when omitted)");
  app.add_subcommand("cancel", "cancel a run in progress (nothing is lost)")
      ->add_option("RUN_ID", o.run_id, "the run")
      ->required();
  CLI::App* runs = app.add_subcommand("runs", "list runs, newest first");
  runs->add_option("--source", o.source_option, "only this source's runs")->type_name("S");
  AddLimit(runs, o, 20, "runs");
  app.add_subcommand("sources", "each source's schedule and time zone, next run, watermark "
                                "and last run");
  CLI::App* run = app.add_subcommand(
      "run", "show one run; with --changes, what it wrote to openIMIS: each create, update "
             "(field: old -> new) and deactivation");
  run->add_option("RUN_ID", o.run_id, "the run")->required();
  CLI::Option* changes = run->add_flag("--changes", o.changes, "what the run wrote");
  AddFormat(run, o);
  run->get_option("--format")->needs(changes);
  CLI::App* skipped =
      app.add_subcommand("skipped", "list the Locations a run skipped as not facilities");
  skipped->add_option("RUN_ID", o.run_id, "the run")->required();
  AddLimit(skipped, o, 100, "Locations");
}

void AddPlanCommands(CLI::App& app, CommandOptions& o) {
  CLI::App* plan = app.add_subcommand(
      "plan", "a dry run's plan: the counts, then each create, update (field: old -> new), "
              "deactivation and rejection");
  plan->add_option("RUN_ID", o.run_id, "the dry run");
  AddFormat(plan, o);
  plan->add_flag("--all", o.all, "list no-ops, skipped and stale records too");
  CLI::App* approve = plan->add_subcommand(
      "approve", "approve a dry run's plan (a source with require_plan_approval needs one "
                 "before its first real run; it expires after the source's plan_approval_ttl)");
  approve->add_option("RUN_ID", o.run_id, "the dry run")->required();
  AddReason(approve, o, false);
}

void AddFailureCommands(CLI::App& app, CommandOptions& o) {
  CLI::App* failures = app.add_subcommand("failures", "list the failure queue");
  failures->add_option("--source", o.source_option, "only this source's entries")
      ->type_name("S");
  failures->add_option("--state", o.state, "only entries in this state")
      ->check(CLI::IsMember({"open", "resolved", "dismissed"}));
  AddLimit(failures, o, 50, "entries");
  app.add_subcommand("failure", "show one entry with its raw FHIR, and what operators did "
                                "with it (who, why)")
      ->add_option("ID", o.id, "the entry")
      ->required();
  CLI::App* retry = app.add_subcommand(
      "retry", "retry entries now with the MFL's current version of each Location, and show "
               "the retry run");
  CLI::Option* ids = retry->add_option("ID", o.ids, "the entries");
  retry->add_flag("--all", o.all, "every open entry (of --source)")->excludes(ids);
  retry->add_option("--source", o.source_option, "with --all: only this source's entries")
      ->type_name("S");
  retry->add_flag("--stored", o.stored, "replay the copy kept with each entry instead");
  AddReason(retry, o, false);
  AddNoWatch(retry, o);
  CLI::App* dismiss = app.add_subcommand("dismiss", "dismiss entries");
  dismiss->add_option("ID", o.ids, "the entries")->required();
  AddReason(dismiss, o, true);
  CLI::App* reopen = app.add_subcommand("reopen", "open dismissed entries again");
  reopen->add_option("ID", o.ids, "the entries")->required();
  AddReason(reopen, o, false);
  CLI::App* link = app.add_subcommand(
      "link", "a likely duplicate is the openIMIS facility HF_CODE: write it (and later "
              "versions) there");
  link->add_option("ID", o.id, "the entry")->required();
  link->add_option("HF_CODE", o.hf_code, "the openIMIS facility")->required();
  AddReason(link, o, true);
  AddNoWatch(link, o);
  CLI::App* accept = app.add_subcommand(
      "accept", "a likely duplicate is a facility of its own: create it despite the name match");
  accept->add_option("ID", o.id, "the entry")->required();
  AddReason(accept, o, true);
  AddNoWatch(accept, o);
}

void AddHistoryAndWatermark(CLI::App& app, CommandOptions& o) {
  CLI::App* history = app.add_subcommand(
      "history", "what happened to a facility across runs, newest first");
  history->add_option("FACILITY", o.facility, "its MFL Location id or HF code")->required();
  history->add_option("--since", o.since, "only changes from then on")->type_name("TIME");
  AddLimit(history, o, 100, "changes");
  AddFormat(history, o);
  CLI::App* watermark = app.add_subcommand(
      "watermark", "where a source's next incremental run starts, and operators' changes to it");
  watermark->require_subcommand(1);
  watermark->add_subcommand("show", "the watermark and the operator changes made to it")
      ->add_option("SOURCE", o.source, "the source (the only one when omitted)");
  CLI::App* set = watermark->add_subcommand("set", "move the watermark of SOURCE to TIME");
  set->add_option("SOURCE", o.source, "the source")->required();
  set->add_option("TIME", o.time, "a FHIR instant, not after now")->required();
  AddReason(set, o, true);
  CLI::App* reset =
      watermark->add_subcommand("reset", "clear it: the next run fetches everything");
  reset->add_option("SOURCE", o.source, "the source")->required();
  AddReason(reset, o, true);
}

void AddHealth(CLI::App& app, CommandOptions& o) {
  app.add_subcommand("health",
                     "check every service's health; for one not serving, print each failed "
                     "dependency and its cause (with a viewer token); exit 1 when any is not "
                     "serving")
      ->add_option("TARGET", o.targets,
                   "NAME=HOST:PORT: check these instead of the five services")
      ->type_name("NAME=HOST:PORT");
}

// "plan approve" for `mflsync plan approve ...`: the chosen command's words.
std::string ChosenCommand(const CLI::App& app) {
  std::string name;
  const CLI::App* level = &app;
  while (!level->get_subcommands().empty()) {
    level = level->get_subcommands().front();
    absl::StrAppend(&name, name.empty() ? "" : " ", level->get_name());
  }
  return name;
}

// CLI11's message, named after the command, and where to read more. A word
// that is no command is refused as the extra word it is (CLI11 checks for a
// missing command first).
std::string FailureMessage(const CLI::App* app, const CLI::Error& e) {
  std::string command = ChosenCommand(*app);
  std::string what = e.what();
  if (command.empty() && !app->remaining().empty())
    what = CLI::ExtrasError(app->remaining()).what();
  if (!command.empty()) command = absl::StrCat(" ", command);
  return absl::StrCat("mflsync", command, ": ", what, "\nRun 'mflsync", command,
                      " --help' for more information.\n");
}

}  // namespace

ParsedCommandLine ParseCommandLine(const std::vector<std::string>& args, std::ostream& out,
                                   std::ostream& err) {
  CommandLine line;
  CLI::App app("mflsync: sync openIMIS health facilities with the Master Facility List",
               "mflsync");
  app.require_subcommand(1);
  app.fallthrough();  // global options also after the command
  app.failure_message(FailureMessage);
  AddGlobalOptions(app, line.global);
  AddHealth(app, line.command);
  AddRunCommands(app, line.command);
  AddPlanCommands(app, line.command);
  AddFailureCommands(app, line.command);
  AddHistoryAndWatermark(app, line.command);
  app.footer(kFooter);  // after the commands: a subcommand would inherit it
  std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 parses from the back
  try {
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e, out, err);
    return {std::nullopt, code == 0 ? 0 : 2};
  }
  line.command.command = ChosenCommand(app);
  return {std::move(line), 0};
}

}  // namespace mflsync::cli
