#include "cli/plan_format.h"

#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "cli/run_text.h"

namespace mflsync::cli {
namespace {

namespace v1 = ::mflsync::v1;

std::string ActionName(v1::PlanAction a) { return Lower(v1::PlanAction_Name(a), "PLAN_ACTION_"); }

std::string StageName(v1::FailureStage s) {
  if (s == v1::FAILURE_STAGE_UNSPECIFIED) return "";
  return Lower(v1::FailureStage_Name(s), "FAILURE_STAGE_");
}

std::string CountsLine(const v1::PlanCounts& c) {
  return absl::StrFormat(
      "creates %d, updates %d, deactivations %d, no-ops %d, rejected %d, skipped %d, stale %d",
      c.creates(), c.updates(), c.deactivations(), c.noops(), c.rejected(), c.skipped(),
      c.stale());
}

std::string ChangesText(const v1::PlanEntry& e) {
  std::vector<std::string> parts;
  for (const v1::FieldChange& c : e.changes())
    parts.push_back(absl::StrCat(c.field(), " '", c.old_value(), "' -> '", c.new_value(), "'"));
  return absl::StrJoin(parts, "; ");
}

}  // namespace

std::string Lower(const std::string& enum_name, absl::string_view prefix) {
  return absl::AsciiStrToLower(absl::StripPrefix(enum_name, prefix));
}

std::string Instant(const google::protobuf::Timestamp& ts) {
  if (ts.seconds() == 0 && ts.nanos() == 0) return "";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixSeconds(ts.seconds()),
                          absl::UTCTimeZone());
}

std::string EntryLine(const v1::PlanEntry& e) {
  std::string line =
      absl::StrFormat("%-10s %-10s %-36s %s", absl::AsciiStrToUpper(ActionName(e.action())),
                      e.code().empty() ? "-" : e.code(), e.uuid().empty() ? "-" : e.uuid(),
                      absl::StrCat(e.location_id(), "/", e.version_id()));
  if (!e.name().empty()) absl::StrAppend(&line, "  '", e.name(), "'");
  if (e.changes_size() > 0) absl::StrAppend(&line, ": ", ChangesText(e));
  if (e.action() == v1::PLAN_ACTION_REJECT)
    absl::StrAppend(&line, ": ", StageName(e.stage()), ": ", e.reason());
  return line;
}

nlohmann::json EntryJson(const v1::PlanEntry& e) {
  nlohmann::json changes = nlohmann::json::array();
  for (const v1::FieldChange& c : e.changes())
    changes.push_back({{"field", c.field()}, {"old", c.old_value()}, {"new", c.new_value()}});
  nlohmann::json j = {{"location_id", e.location_id()}, {"version_id", e.version_id()},
                      {"last_updated", Instant(e.last_updated())},
                      {"action", ActionName(e.action())}, {"code", e.code()},
                      {"uuid", e.uuid()}, {"name", e.name()}, {"changes", changes}};
  if (e.action() == v1::PLAN_ACTION_REJECT) j["stage"] = StageName(e.stage());
  if (!e.reason().empty()) j["reason"] = e.reason();
  return j;
}

void AddCsvRow(std::string& out, const std::vector<std::string>& fields) {
  std::vector<std::string> quoted;
  quoted.reserve(fields.size());
  for (const std::string& f : fields) quoted.push_back(CsvField(f));
  absl::StrAppend(&out, absl::StrJoin(quoted, ","), "\r\n");
}

const std::vector<std::string>& EntryCsvHeader() {
  static const auto* const header = new std::vector<std::string>{
      "location_id", "version_id", "last_updated", "action", "code", "uuid", "name",
      "field", "old_value", "new_value", "stage", "reason"};
  return *header;
}

void AddEntryCsvRows(std::string& out, const std::vector<std::string>& lead,
                     const v1::PlanEntry& e) {
  std::vector<std::string> head = lead;
  head.insert(head.end(), {e.location_id(), e.version_id(), Instant(e.last_updated()),
                           ActionName(e.action()), e.code(), e.uuid(), e.name()});
  const std::string stage = StageName(e.stage());
  if (e.changes_size() == 0) {
    std::vector<std::string> row = head;
    row.insert(row.end(), {"", "", "", stage, e.reason()});
    AddCsvRow(out, row);
  }
  for (const v1::FieldChange& c : e.changes()) {
    std::vector<std::string> row = head;
    row.insert(row.end(), {c.field(), c.old_value(), c.new_value(), stage, e.reason()});
    AddCsvRow(out, row);
  }
}

std::string CsvField(absl::string_view field) {
  if (field.find_first_of(",\"\r\n") == absl::string_view::npos) return std::string(field);
  std::string out = "\"";
  for (char c : field) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

namespace {

// An approval as JSON: times in UTC, expires_at null when it never does.
nlohmann::json ApprovalJson(const v1::PlanApproval& a) {
  return {{"approved_at", Instant(a.approved_at())},
          {"approved_by", a.approved_by()},
          {"reason", a.reason()},
          {"expires_at", a.has_expires_at() ? nlohmann::json(Instant(a.expires_at()))
                                            : nlohmann::json(nullptr)}};
}

}  // namespace

std::string ApprovalText(const v1::PlanApproval& approval, const absl::TimeZone& zone,
                         absl::Time now) {
  std::string out = absl::StrCat(
      "at ", TimeText(approval.approved_at(), zone), " by ",
      approval.approved_by().empty() ? "(not recorded)" : approval.approved_by());
  if (!approval.has_expires_at()) return absl::StrCat(out, "; never expires");
  const bool expired = absl::FromUnixSeconds(approval.expires_at().seconds()) <= now;
  return absl::StrCat(out, expired ? "; expired " : "; expires ",
                      TimeText(approval.expires_at(), zone));
}

std::string PlanText(const v1::GetPlanResponse& plan, const absl::TimeZone& zone,
                     absl::Time now) {
  const v1::Run& run = plan.run();
  std::string out = absl::StrCat(
      "plan of dry run ", run.run_id(), "  source ", run.source_id(), "  ",
      Lower(v1::RunState_Name(run.state()), "RUN_STATE_"), "\n  ", CountsLine(plan.counts()),
      "\n");
  if (plan.has_approval()) {
    absl::StrAppend(&out, "  approved ", ApprovalText(plan.approval(), zone, now), "\n");
    if (!plan.approval().reason().empty())
      absl::StrAppend(&out, "  reason: ", plan.approval().reason(), "\n");
  } else if (run.state() == v1::RUN_STATE_SUCCEEDED) {
    absl::StrAppend(&out, "  not approved (mflsync plan approve ", run.run_id(), ")\n");
  }
  for (const v1::PlanEntry& e : plan.entries()) absl::StrAppend(&out, EntryLine(e), "\n");
  return out;
}

std::string PlanJson(const v1::GetPlanResponse& plan) {
  const v1::PlanCounts& c = plan.counts();
  nlohmann::json entries = nlohmann::json::array();
  for (const v1::PlanEntry& e : plan.entries()) entries.push_back(EntryJson(e));
  nlohmann::json j = {
      {"run_id", plan.run().run_id()},
      {"source_id", plan.run().source_id()},
      {"state", Lower(v1::RunState_Name(plan.run().state()), "RUN_STATE_")},
      {"approved_at", plan.has_approval() ? nlohmann::json(Instant(plan.approval().approved_at()))
                                          : nlohmann::json(nullptr)},
      {"approval", plan.has_approval() ? ApprovalJson(plan.approval()) : nlohmann::json(nullptr)},
      {"counts", {{"creates", c.creates()}, {"updates", c.updates()},
                  {"deactivations", c.deactivations()}, {"noops", c.noops()},
                  {"rejected", c.rejected()}, {"skipped", c.skipped()}, {"stale", c.stale()}}},
      {"entries", entries}};
  return j.dump(2) + "\n";
}

std::string PlanCsv(const v1::GetPlanResponse& plan) {
  std::string out;
  AddCsvRow(out, EntryCsvHeader());
  for (const v1::PlanEntry& e : plan.entries()) AddEntryCsvRows(out, {}, e);
  return out;
}

}  // namespace mflsync::cli
