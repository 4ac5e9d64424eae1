#include "cli/cli.h"

#include <cstdlib>
#include <optional>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/ascii.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cli/change_format.h"
#include "cli/command_line.h"
#include "cli/plan_format.h"
#include "cli/run_text.h"
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

std::string EnvOr(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : fallback;
}

std::string StateName(v1::RunState s) {
  std::string name = v1::RunState_Name(s);
  return absl::AsciiStrToLower(absl::StripPrefix(name, "RUN_STATE_"));
}

std::string TriggerName(v1::RunTrigger t) {
  std::string name = v1::RunTrigger_Name(t);
  return absl::AsciiStrToLower(absl::StripPrefix(name, "RUN_TRIGGER_"));
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

// How far the run is: done of the MFL's total, and the time left.
std::string RunProgressText(const v1::Run& r) {
  return ProgressText(DoneRecords(r.counts()),
                      r.has_mfl_total() ? std::optional<int64_t>(r.mfl_total()) : std::nullopt,
                      absl::Milliseconds(r.duration_millis()));
}

// The TRIGGER column of `mflsync runs`: "dry-run" for a dry run.
std::string KindName(const v1::Run& r) {
  return r.dry_run() ? "dry-run" : TriggerName(r.trigger());
}

void PrintRun(const v1::Run& run, const absl::TimeZone& zone, std::ostream& out) {
  out << "run " << run.run_id() << "  source " << run.source_id() << "  "
      << StateName(run.state()) << "  (" << TriggerName(run.trigger())
      << (run.full() ? ", full" : "") << (run.dry_run() ? ", dry run" : "") << ")\n"
      << "  started  " << TimeText(run.started_at(), zone) << "  finished "
      << TimeText(run.finished_at(), zone) << "\n"
      << "  since    " << TimeText(run.since(), zone) << "  watermark "
      << TimeText(run.watermark(), zone) << "\n"
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
  out << StagesText(run);
  for (const std::string& w : run.warnings()) out << "  MFL said: " << w << "\n";
  if (!run.error().empty()) out << "  error: " << run.error() << "\n";
  if (run.has_rerun_at())
    out << "  runs again by itself at " << TimeText(run.rerun_at(), zone) << " (rerun.*)\n";
}

class Cli {
 public:
  Cli(std::ostream& out, std::ostream& err, bool interactive)
      : out_(out), err_(err), interactive_(interactive) {}

  int Run(const std::vector<std::string>& args) {
    ParsedCommandLine parsed = ParseCommandLine(args, out_, err_);
    if (!parsed.line.has_value()) return parsed.exit_code;
    const GlobalOptions& g = parsed.line->global;
    scheduler_ = g.scheduler;
    peer_addresses_ = g.peers;
    zone_ = g.local ? absl::LocalTimeZone() : absl::UTCTimeZone();
    security_.ca_file = g.ca_file;
    security_.cert_file = g.cert_file;
    security_.key_file = g.key_file;
    security_.token = EnvOr("MFLSYNC_TOKEN", "");
    if (!g.token_file.empty() && !ReadToken(g.token_file)) return 2;
    if (g.token_file.empty() && !CheckToken("MFLSYNC_TOKEN")) return 2;
    command_ = parsed.line->command.command;
    return Dispatch(parsed.line->command);
  }

 private:
  // Runs the command `o.command` names (ParseCommandLine knows no other).
  int Dispatch(const CommandOptions& o) {
    const std::string& c = o.command;
    if (c == "health") return Health(o.targets);
    if (c == "sync") return Sync(o);
    if (c == "watch") return Watch(o.run_id);
    if (c == "cancel") return CancelRun(o.run_id);
    if (c == "runs") return Runs(o);
    if (c == "sources") return Sources();
    if (c == "run") return ShowRun(o);
    if (c == "skipped") return Skipped(o);
    if (c == "plan") return Plan(o);
    if (c == "plan approve") return ApprovePlan(o.run_id, o.reason);
    if (c == "failures") return Failures(o);
    if (c == "failure") return ShowFailure({o.id});
    if (c == "retry") return Retry(o);
    if (c == "dismiss") return Dismiss(o);
    if (c == "reopen") return Reopen(o);
    if (c == "link" || c == "accept") return Decide(c, o);
    if (c == "history") return History(o);
    if (c == "watermark show") return ShowWatermark(o.source);
    if (c == "watermark set" || c == "watermark reset") return Watermark(o);
    return Usage(absl::StrCat("no handler for the command '", c, "'"));
  }

  // A usage error the parser cannot see (a word that is not an id, ...):
  // exit code 2, as the parser's own.
  int Usage(absl::string_view why) {
    err_ << "mflsync " << command_ << ": " << why << "\nRun 'mflsync " << command_
         << " --help' for more information.\n";
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

  int Sync(const CommandOptions& o) {
    v1::TriggerSyncRequest req;
    req.set_source_id(o.source.empty() ? o.source_option : o.source);
    req.set_full(o.full);
    req.set_dry_run(o.dry_run);
    v1::TriggerSyncResponse resp;
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    grpc::Status s = Stub()->TriggerSync(&ctx, req, &resp);
    if (!s.ok()) return Fail(s, "sync");
    out_ << (resp.already_running() ? "already running: run "
             : resp.run().dry_run() ? "started dry run "
                                    : "started run ")
         << resp.run().run_id() << "\n";
    if (o.no_watch) return 0;
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
      std::string line = absl::StrFormat("%s %-9s %s; %s", last.run_id(),
                                         StateName(last.state()), RunProgressText(last),
                                         CountsText(last.counts()));
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
    if (any) PrintRun(last, zone_, out_);
    return any && last.state() == v1::RUN_STATE_SUCCEEDED ? 0 : 1;
  }

  int Runs(const CommandOptions& o) {
    v1::ListRunsRequest req;
    req.set_source_id(o.source_option);
    req.set_page_size(o.limit);
    v1::ListRunsResponse resp;
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    grpc::Status s = Stub()->ListRuns(&ctx, req, &resp);
    if (!s.ok()) return Fail(s, "runs");
    const int time_width = static_cast<int>(TimeText(absl::UnixEpoch(), zone_).size());
    out_ << absl::StrFormat("%-12s %-10s %-9s %-10s %-*s %8s %8s %9s %8s %7s %9s\n", "RUN",
                            "SOURCE", "TRIGGER", "STATE", time_width, "STARTED", "CREATED",
                            "UPDATED", "UNCHANGED", "REJECTED", "FAILED", "DURATION");
    for (const v1::Run& r : resp.runs()) {
      const v1::RunCounts& c = r.counts();
      out_ << absl::StrFormat("%-12s %-10s %-9s %-10s %-*s %8d %8d %9d %8d %7d %9s\n",
                              r.run_id(), r.source_id(), KindName(r), StateName(r.state()),
                              time_width, TimeText(r.started_at(), zone_), c.created(),
                              c.updated(), c.unchanged(), c.rejected(), c.failed(),
                              DurationText(r.duration_millis()));
    }
    return 0;
  }

  // `mflsync sources`; its text is cli/sources_format.h's.
  int Sources() {
    v1::ListSourceSchedulesResponse resp;
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    grpc::Status s = Stub()->ListSourceSchedules(&ctx, {}, &resp);
    if (!s.ok()) return Fail(s, "sources");
    out_ << SourcesText(resp, zone_);
    return 0;
  }

  int CancelRun(const std::string& run_id) {
    v1::CancelRunRequest req;
    req.set_run_id(run_id);
    v1::CancelRunResponse resp;
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    grpc::Status s = Stub()->CancelRun(&ctx, req, &resp);
    if (!s.ok()) return Fail(s, "cancel");
    out_ << "cancelling run " << resp.run().run_id() << "\n";
    return 0;
  }

  // `watermark set SOURCE TIME --reason TEXT` or `watermark reset SOURCE --reason TEXT`.
  int Watermark(const CommandOptions& o) {
    v1::SetWatermarkRequest req;
    req.set_source_id(o.source);
    req.set_reason(o.reason);
    if (o.command == "watermark set") {
      absl::StatusOr<absl::Time> t = ParseFhirInstant(o.time);
      if (!t.ok()) return Usage(t.status().message());
      *req.mutable_watermark() = ToTimestamp(*t);
    }
    v1::SetWatermarkResponse resp;
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    grpc::Status s = Stub()->SetWatermark(&ctx, req, &resp);
    if (!s.ok()) return Fail(s, "watermark");
    out_ << "watermark of " << o.source << ": " << TimeText(resp.change().previous(), zone_) << " -> "
         << TimeText(resp.change().watermark(), zone_) << "\n";
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
         << (resp.has_watermark() ? TimeText(resp.watermark(), zone_) : "none (the next run fetches "
                                                                  "everything)")
         << "\n";
    for (const v1::WatermarkChange& c : resp.changes())
      out_ << "  " << TimeText(c.changed_at(), zone_) << "  " << TimeText(c.previous(), zone_) << " -> "
           << TimeText(c.watermark(), zone_) << "  " << c.reason() << "\n";
    return 0;
  }

  int ShowRun(const CommandOptions& o) {
    if (o.changes) {
      v1::ListChangesRequest changes;
      changes.set_run_id(o.run_id);
      return Changes(changes, absl::StrCat("changes written by run ", o.run_id), o.format, 0);
    }
    v1::GetRunRequest req;
    req.set_run_id(o.run_id);
    v1::GetRunResponse resp;
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    grpc::Status s = Stub()->GetRun(&ctx, req, &resp);
    if (!s.ok()) return Fail(s, "run");
    PrintRun(resp.run(), zone_, out_);
    return 0;
  }

  int Skipped(const CommandOptions& o) {
    v1::ListSkippedRequest req;
    req.set_run_id(o.run_id);
    req.set_page_size(o.limit);
    v1::ListSkippedResponse resp;
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    grpc::Status s = Stub()->ListSkipped(&ctx, req, &resp);
    if (!s.ok()) return Fail(s, "skipped");
    out_ << absl::StrFormat("%-24s %-8s %-24s %s\n", "LOCATION", "VERSION", "LAST UPDATED",
                            "WHY");
    for (const v1::SkippedRecord& r : resp.records()) {
      out_ << absl::StrFormat("%-24s %-8s %-24s %s\n", r.location_id(), r.version_id(),
                              TimeText(r.last_updated(), zone_), r.reason());
    }
    if (!resp.next_page_token().empty())
      out_ << "(more: raise --limit, at most 1000)\n";
    return 0;
  }

  // `plan RUN_ID [--format F] [--all]`.
  int Plan(const CommandOptions& o) {
    if (o.run_id.empty()) return Usage("RUN_ID is required (or: plan approve RUN_ID)");
    v1::GetPlanResponse plan;
    if (int code = FetchPlan(o.run_id, o.all, &plan); code != 0) return code;
    if (o.format == "json") out_ << PlanJson(plan);
    else if (o.format == "csv") out_ << PlanCsv(plan);
    else out_ << PlanText(plan, zone_);
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
         << resp.approval().source_id() << ") " << ApprovalText(resp.approval(), zone_)
         << "\n";
    return 0;
  }

  int Failures(const CommandOptions& o) {
    v1::ListFailuresRequest req;
    req.set_source_id(o.source_option);
    req.set_page_size(o.limit);
    if (o.state == "open") req.set_state(v1::FAILURE_STATE_OPEN);
    else if (o.state == "resolved") req.set_state(v1::FAILURE_STATE_RESOLVED);
    else if (o.state == "dismissed") req.set_state(v1::FAILURE_STATE_DISMISSED);
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
         << "  first seen " << TimeText(f.created_at(), zone_) << "  last attempt "
         << TimeText(f.updated_at(), zone_) << "  next automatic retry "
         << TimeText(f.next_attempt_at(), zone_) << "\n  reason: " << f.reason() << "\n";
    if (!f.resolution().empty()) out_ << "  resolution: " << f.resolution() << "\n";
    PrintDecisions(f);
    out_ << "  raw FHIR:\n" << f.raw_json() << "\n";
    return 0;
  }

  int Retry(const CommandOptions& o) {
    v1::RetryFailuresRequest req;
    req.set_stored(o.stored);
    req.set_reason(o.reason);
    std::vector<int64_t> ids;
    if (!ParseIds(o.ids, &ids)) return 2;
    if (ids.empty() && !o.all) return Usage("retry takes IDs or --all");
    for (int64_t id : ids) req.add_failure_ids(id);
    req.set_all(o.all);
    req.set_source_id(o.source_option);
    v1::RetryFailuresResponse resp;
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    grpc::Status s = Stub()->RetryFailures(&ctx, req, &resp);
    if (!s.ok()) return Fail(s, "retry");
    out_ << "retry run " << resp.run().run_id() << " started\n";
    if (o.no_watch) return 0;
    return Watch(resp.run().run_id());
  }

  int Dismiss(const CommandOptions& o) {
    std::vector<int64_t> ids;
    if (!ParseIds(o.ids, &ids)) return 2;
    v1::DismissFailuresRequest req;
    for (int64_t id : ids) req.add_failure_ids(id);
    req.set_reason(o.reason);
    v1::DismissFailuresResponse resp;
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    grpc::Status s = Stub()->DismissFailures(&ctx, req, &resp);
    if (!s.ok()) return Fail(s, "dismiss");
    out_ << "dismissed " << resp.dismissed() << " entries\n";
    return 0;
  }

  // Every page of the changes `req` selects (at most `limit`, 0: all),
  // shown as `format` (text, json or csv) says; an exit code.
  int Changes(v1::ListChangesRequest req, const std::string& title, const std::string& format,
              int limit) {
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
    else out_ << ChangeHistoryText(title, changes, zone_);
    return 0;
  }

  // `history FACILITY [--since TIME] [--limit N] [--format F]`.
  int History(const CommandOptions& o) {
    v1::ListChangesRequest req;
    req.set_facility(o.facility);
    if (!o.since.empty()) {
      absl::StatusOr<absl::Time> t = ParseFhirInstant(o.since);
      if (!t.ok()) return Usage(t.status().message());
      *req.mutable_since() = ToTimestamp(*t);
    }
    return Changes(req, absl::StrCat("history of facility ", o.facility, " (newest first)"),
                   o.format, o.limit);
  }

  int Reopen(const CommandOptions& o) {
    std::vector<int64_t> ids;
    if (!ParseIds(o.ids, &ids)) return 2;
    v1::ReopenFailuresRequest req;
    for (int64_t id : ids) req.add_failure_ids(id);
    req.set_reason(o.reason);
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
  int Decide(const std::string& command, const CommandOptions& o) {
    const bool link = command == "link";
    std::vector<int64_t> ids;
    if (!ParseIds({o.id}, &ids)) return 2;
    v1::LinkFailureResponse resp;  // an acceptance's answer has the same fields
    grpc::Status s = SendDecision(link, ids[0], o.hf_code, o.reason, &resp);
    if (!s.ok()) return Fail(s, command);
    out_ << DecisionText(resp.link()) << "\n";
    if (!resp.retry_error().empty()) {
      out_ << "the retry could not start now (" << resp.retry_error()
           << "); the decision applies to the next retry or sync\n";
      return 0;
    }
    out_ << "retry run " << resp.run().run_id() << " started\n";
    if (o.no_watch) return 0;
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
           << TimeText(f.link().decided_at(), zone_) << ": " << f.link().reason() << ")\n";
    }
    if (f.actions().empty()) return;
    out_ << "  actions:\n";
    for (const v1::FailureAction& a : f.actions()) {
      out_ << "    " << TimeText(a.acted_at(), zone_) << "  "
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
  std::string command_;  // "runs", "plan approve", ...: for usage errors
  absl::TimeZone zone_ = absl::UTCTimeZone();  // where times are shown (--local)
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
