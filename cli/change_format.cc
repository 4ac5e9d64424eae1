#include "cli/change_format.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "cli/plan_format.h"
#include "cli/run_text.h"

namespace mflsync::cli {
namespace {

namespace v1 = ::mflsync::v1;

std::string TriggerWord(v1::RunTrigger t) {
  return Lower(v1::RunTrigger_Name(t), "RUN_TRIGGER_");
}

}  // namespace

std::string ChangeHistoryText(const std::string& title,
                              const std::vector<v1::FacilityChange>& changes,
                              const absl::TimeZone& zone) {
  std::string out = absl::StrCat(title, "\n");
  if (changes.empty()) absl::StrAppend(&out, "  (none)\n");
  for (const v1::FacilityChange& c : changes) {
    absl::StrAppend(&out, TimeText(c.recorded_at(), zone), "  ", c.run_id(), " (",
                    TriggerWord(c.trigger()), ")  ", EntryLine(c.entry()), "\n");
  }
  return out;
}

std::string ChangeHistoryJson(const std::vector<v1::FacilityChange>& changes) {
  nlohmann::json out = nlohmann::json::array();
  for (const v1::FacilityChange& c : changes) {
    nlohmann::json j = {{"change_id", c.change_id()},
                        {"recorded_at", Instant(c.recorded_at())},
                        {"run_id", c.run_id()},
                        {"source_id", c.source_id()},
                        {"trigger", TriggerWord(c.trigger())}};
    j.update(EntryJson(c.entry()));
    out.push_back(std::move(j));
  }
  return out.dump(2) + "\n";
}

std::string ChangeHistoryCsv(const std::vector<v1::FacilityChange>& changes) {
  std::string out;
  std::vector<std::string> header = {"change_id", "recorded_at", "run_id", "source_id",
                                     "trigger"};
  header.insert(header.end(), EntryCsvHeader().begin(), EntryCsvHeader().end());
  AddCsvRow(out, header);
  for (const v1::FacilityChange& c : changes) {
    AddEntryCsvRows(out,
                    {absl::StrCat(c.change_id()), Instant(c.recorded_at()), c.run_id(),
                     c.source_id(), TriggerWord(c.trigger())},
                    c.entry());
  }
  return out;
}

}  // namespace mflsync::cli
