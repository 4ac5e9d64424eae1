// mflsync-map-report: maps every facility of an MFL FHIR NDJSON export with a
// mapping file and prints how many map and the rejections counted by rule
// (with the most frequent values), for the issue notes and for implementers
// tuning their mapping.
#include <algorithm>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/str_format.h"
#include "mapper/mapper.h"
#include "mapper/mapping.h"
#include "mapper/ndjson_records.h"

namespace {

constexpr char kUsage[] =
    "usage: mflsync-map-report --mapping FILE.json --ndjson MFL.ndjson [--json]\n";

// What the mapping made of the records: how many mapped, with which level,
// care type and legal form; the rules the others broke, with their values.
struct Tally {
  size_t mapped = 0;
  std::map<std::string, int> records_by_rule;  // records breaking the rule
  std::map<std::string, std::map<std::string, int>> values_by_rule;
  std::map<std::string, int> levels, care_types, legal_forms;

  void Add(const mflsync::v1::MappedRecord& r) {
    if (r.rejections_size() == 0) {
      ++mapped;
      ++levels[std::string(mflsync::mapper::LevelLetter(r.facility().level()))];
      ++care_types[std::string(mflsync::mapper::CareTypeLetter(r.facility().care_type()))];
      ++legal_forms[r.facility().legal_form()];
      return;
    }
    std::map<std::string, bool> seen;
    for (const auto& rej : r.rejections()) {
      if (!seen[rej.rule()]) ++records_by_rule[rej.rule()];
      seen[rej.rule()] = true;
      ++values_by_rule[rej.rule()][rej.value()];
    }
  }
};

// The report as JSON: totals, then per rule its record count and its eight
// most frequent values.
nlohmann::json Report(const Tally& t, size_t total, const std::string& mapping_path) {
  double pct = total ? 100.0 * t.mapped / total : 0.0;
  nlohmann::json out = {{"mapping", mapping_path}, {"records", total}, {"mapped", t.mapped},
                        {"rejected", total - t.mapped}, {"mapped_percent", pct},
                        {"levels", t.levels}, {"care_types", t.care_types},
                        {"legal_forms", t.legal_forms}};
  for (const auto& [rule, n] : t.records_by_rule) {
    std::vector<std::pair<int, std::string>> vals;
    for (const auto& [v, c] : t.values_by_rule.at(rule)) vals.emplace_back(-c, v);
    std::sort(vals.begin(), vals.end());
    nlohmann::json top = nlohmann::json::array();
    for (size_t i = 0; i < vals.size() && i < 8; ++i)
      top.push_back({{"value", vals[i].second}, {"count", -vals[i].first}});
    out["rejections_by_rule"][rule] = {{"records", n}, {"top_values", top}};
  }
  return out;
}

void PrintText(const nlohmann::json& report) {
  std::cout << absl::StrFormat("records %d, mapped %d (%.2f%%), rejected %d\n",
                               report["records"].get<size_t>(), report["mapped"].get<size_t>(),
                               report["mapped_percent"].get<double>(),
                               report["rejected"].get<size_t>());
  if (report.contains("rejections_by_rule")) {
    for (const auto& [rule, entry] : report["rejections_by_rule"].items()) {
      std::cout << absl::StrFormat("  %-40s %6d records;", rule, entry["records"].get<int>());
      for (const auto& v : entry["top_values"])
        std::cout << " '" << v["value"].get<std::string>() << "' x" << v["count"].get<int>();
      std::cout << "\n";
    }
  }
  std::cout << "levels " << report["levels"].dump() << ", care types "
            << report["care_types"].dump() << ", legal forms " << report["legal_forms"].dump()
            << "\n";
}

}  // namespace

int main(int argc, char** argv) {
  std::string mapping_path, ndjson_path;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--mapping" && i + 1 < argc) mapping_path = argv[++i];
    else if (a == "--ndjson" && i + 1 < argc) ndjson_path = argv[++i];
    else if (a == "--json") json = true;
    else mapping_path.clear(), ndjson_path.clear(), i = argc;  // unknown: usage
  }
  if (mapping_path.empty() || ndjson_path.empty()) {
    std::cerr << kUsage;
    return 2;
  }
  auto mapping = mflsync::mapper::Mapping::LoadFile(mapping_path);
  if (!mapping.ok()) {
    std::cerr << "mflsync-map-report: " << mapping.status().message() << "\n";
    return 2;
  }
  auto records = mflsync::mapper::LoadNdjsonRecords(ndjson_path, "report");
  if (!records.ok()) {
    std::cerr << "mflsync-map-report: " << records.status().message() << "\n";
    return 2;
  }
  mflsync::mapper::Mapper mapper(&*mapping);
  Tally tally;
  for (const auto& record : *records) tally.Add(mapper.Map(record));
  const nlohmann::json report = Report(tally, records->size(), mapping_path);
  if (json) {
    std::cout << report.dump(1) << "\n";
  } else {
    PrintText(report);
  }
  return 0;
}
