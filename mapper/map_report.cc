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

int main(int argc, char** argv) {
  std::string mapping_path, ndjson_path;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--mapping" && i + 1 < argc) mapping_path = argv[++i];
    else if (a == "--ndjson" && i + 1 < argc) ndjson_path = argv[++i];
    else if (a == "--json") json = true;
    else {
      std::cerr << "usage: mflsync-map-report --mapping FILE.json --ndjson MFL.ndjson [--json]\n";
      return 2;
    }
  }
  if (mapping_path.empty() || ndjson_path.empty()) {
    std::cerr << "usage: mflsync-map-report --mapping FILE.json --ndjson MFL.ndjson [--json]\n";
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
  size_t mapped = 0;
  std::map<std::string, int> records_by_rule;           // records breaking the rule
  std::map<std::string, std::map<std::string, int>> values_by_rule;
  std::map<std::string, int> levels, care_types, legal_forms;
  for (const auto& record : *records) {
    mflsync::v1::MappedRecord r = mapper.Map(record);
    if (r.rejections_size() == 0) {
      ++mapped;
      ++levels[std::string(mflsync::mapper::LevelLetter(r.facility().level()))];
      ++care_types[std::string(mflsync::mapper::CareTypeLetter(r.facility().care_type()))];
      ++legal_forms[r.facility().legal_form()];
      continue;
    }
    std::map<std::string, bool> seen;
    for (const auto& rej : r.rejections()) {
      if (!seen[rej.rule()]) ++records_by_rule[rej.rule()];
      seen[rej.rule()] = true;
      ++values_by_rule[rej.rule()][rej.value()];
    }
  }
  size_t total = records->size();
  double pct = total ? 100.0 * mapped / total : 0.0;
  nlohmann::json out = {{"mapping", mapping_path}, {"records", total}, {"mapped", mapped},
                        {"rejected", total - mapped}, {"mapped_percent", pct},
                        {"levels", levels}, {"care_types", care_types},
                        {"legal_forms", legal_forms}};
  for (const auto& [rule, n] : records_by_rule) {
    std::vector<std::pair<int, std::string>> vals;
    for (const auto& [v, c] : values_by_rule[rule]) vals.emplace_back(-c, v);
    std::sort(vals.begin(), vals.end());
    nlohmann::json top = nlohmann::json::array();
    for (size_t i = 0; i < vals.size() && i < 8; ++i)
      top.push_back({{"value", vals[i].second}, {"count", -vals[i].first}});
    out["rejections_by_rule"][rule] = {{"records", n}, {"top_values", top}};
  }
  if (json) {
    std::cout << out.dump(1) << "\n";
    return 0;
  }
  std::cout << absl::StrFormat("records %d, mapped %d (%.2f%%), rejected %d\n", total, mapped,
                               pct, total - mapped);
  for (const auto& [rule, n] : records_by_rule) {
    std::cout << absl::StrFormat("  %-40s %6d records;", rule, n);
    for (const auto& v : out["rejections_by_rule"][rule]["top_values"])
      std::cout << " '" << v["value"].get<std::string>() << "' x" << v["count"].get<int>();
    std::cout << "\n";
  }
  std::cout << "levels " << nlohmann::json(levels).dump() << ", care types "
            << nlohmann::json(care_types).dump() << ", legal forms "
            << nlohmann::json(legal_forms).dump() << "\n";
  return 0;
}
