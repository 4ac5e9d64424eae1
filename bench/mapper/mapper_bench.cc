// mapper_bench: how many MFL records per second the mapper validates and maps
// (MapFacilities' work, one thread), and how many facilities per second the
// writer's WritePlanner plans against an index holding half of them. Input: an MFL NDJSON export (--ndjson, e.g. the converted Kenya
// MFL) or, by default, N synthetic Kenya-shaped records built in-process.
//
//   mapper_bench [--mapping FILE] [--ndjson FILE | --records N] [--rounds R]
#include <chrono>
#include <fstream>
#include <set>
#include <iostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "mapper/mapper.h"
#include "mapper/mapping.h"
#include "mapper/ndjson_records.h"
#include "writer/facility_index.h"
#include "writer/write_planner.h"

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

// Kenya-shaped records whose partOf keys come from the mapping's own table.
std::vector<mflsync::v1::SourceRecord> Synthetic(const std::string& mapping_path, int n) {
  std::ifstream in(mapping_path);
  json doc = json::parse(in, nullptr, false);
  std::vector<std::string> part_of;
  for (const auto& d : doc["areas"]["districts"])
    for (const auto& p : d["part_of"]) part_of.push_back(p.get<std::string>());
  const char* types[] = {"Dispensary", "Medical Clinic", "Basic Health Centre",
                         "Primary care hospitals", "Medical Center", "DISPENSARY"};
  const char* owners[] = {"Ministry of Health", "Private Practice", "Faith Based Organization",
                          "Non-Governmental Organizations"};
  std::vector<mflsync::v1::SourceRecord> out;
  for (int i = 0; i < n; ++i) {
    std::string code = std::to_string(10000 + i);
    json loc = {
        {"resourceType", "Location"},
        {"id", "fac-" + code},
        {"meta", {{"versionId", "1"}, {"lastUpdated", "2014-03-01T10:00:00.000Z"}}},
        {"extension", json::array({{{"url", "https://mflsync.example/fhir/StructureDefinition/facility-services"},
                                    {"valueCode", i % 3 ? "OPD" : "IPD"}}})},
        {"identifier", json::array({{{"system", "https://kmhfl.health.go.ke/facility-code"},
                                     {"value", code}}})},
        {"status", i % 10 ? "active" : "inactive"},
        {"name", absl::StrCat("Facility ", code, " Health Services")},
        {"mode", "instance"},
        {"type", json::array({{{"coding", json::array({{{"system", "https://kmhfl.health.go.ke/facility-type"},
                                                        {"code", types[i % 6]},
                                                        {"display", types[i % 6]}}})},
                               {"text", types[i % 6]}}})},
        {"address", {{"city", "Ward"}, {"district", "Sub-county"}, {"state", "County"}, {"country", "KE"}}},
        {"physicalType", {{"coding", json::array({{{"system", "http://terminology.hl7.org/CodeSystem/location-physical-type"},
                                                   {"code", "si"}}})}}},
        {"managingOrganization", {{"reference", "Organization/owner-" + std::to_string(i % 4)}}},
        {"partOf", {{"reference", part_of[i % part_of.size()]}}}};
    json org = {{"resourceType", "Organization"},
                {"id", "owner-" + std::to_string(i % 4)},
                {"type", json::array({{{"coding", json::array({{{"system", "https://kmhfl.health.go.ke/owner-type"},
                                                                {"code", owners[i % 4]}}})}}})},
                {"name", owners[i % 4]}};
    mflsync::v1::SourceRecord r;
    r.set_location_id("fac-" + code);
    r.set_location_json(loc.dump());
    r.set_organization_json(org.dump());
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mapping_path, ndjson;
  int n = 20000, rounds = 3;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--mapping" && i + 1 < argc) mapping_path = argv[++i];
    else if (a == "--ndjson" && i + 1 < argc) ndjson = argv[++i];
    else if (a == "--records" && i + 1 < argc) n = std::stoi(argv[++i]);
    else if (a == "--rounds" && i + 1 < argc) rounds = std::stoi(argv[++i]);
    else {
      std::cerr << "usage: mapper_bench [--mapping FILE] [--ndjson FILE | --records N] "
                   "[--rounds R]\n";
      return 2;
    }
  }
  if (mapping_path.empty())
    mapping_path = std::string(MFLSYNC_SOURCE_DIR) +
                   (ndjson.empty() ? "/mapper/mappings/synthetic.json"
                                   : "/mapper/mappings/kenya.json");
  auto mapping = mflsync::mapper::Mapping::LoadFile(mapping_path);
  if (!mapping.ok()) {
    std::cerr << mapping.status().message() << "\n";
    return 1;
  }
  std::vector<mflsync::v1::SourceRecord> records;
  if (!ndjson.empty()) {
    auto loaded = mflsync::mapper::LoadNdjsonRecords(ndjson, "bench");
    if (!loaded.ok()) {
      std::cerr << loaded.status().message() << "\n";
      return 1;
    }
    records = std::move(*loaded);
  } else {
    records = Synthetic(mapping_path, n);
  }
  mflsync::mapper::Mapper mapper(&*mapping);
  mflsync::v1::MapFacilitiesRequest request;
  for (auto& r : records) *request.add_records() = r;

  double best_map = 0;
  mflsync::v1::MapFacilitiesResponse mapped;
  for (int round = 0; round < rounds; ++round) {
    auto t0 = Clock::now();
    mapped = mapper.MapBatch(request);
    double s = std::chrono::duration<double>(Clock::now() - t0).count();
    best_map = std::max(best_map, records.size() / s);
  }
  int ok = 0;
  mflsync::v1::PlanWritesRequest plan;
  mflsync::writer::IndexSnapshot snapshot;
  std::set<std::string> districts;
  for (const auto& r : mapped.results()) {
    if (!r.has_facility()) continue;
    ++ok;
    *plan.add_records() = r;
    districts.insert(r.facility().district_code());
    // Half of them already in openIMIS, identical: exercises NOOP and UPDATE.
    if (ok % 2 == 0) {
      mflsync::v1::HealthFacility e = r.facility();
      e.set_uuid(absl::StrCat("uuid-", ok));
      e.set_district_uuid("uuid-" + e.district_code());
      e.clear_district_code();
      e.clear_national_id();
      if (ok % 4 == 0) e.set_name(e.name() + " (old)");
      snapshot.facilities.push_back(std::move(e));
    }
  }
  for (const auto& d : districts) {
    mflsync::writer::Area area;
    area.code = d;
    area.uuid = "uuid-" + d;
    area.type = "D";
    snapshot.areas.push_back(area);
  }
  mflsync::writer::FacilityIndex index;
  index.Replace(std::move(snapshot), absl::Now());
  mflsync::writer::WritePlanner planner(&index);
  double best_rec = 0;
  for (int round = 0; round < rounds; ++round) {
    auto t0 = Clock::now();
    auto resp = planner.Plan(plan);
    double s = std::chrono::duration<double>(Clock::now() - t0).count();
    best_rec = std::max(best_rec, plan.records_size() / s);
  }
  std::cout << absl::StrFormat(
      "input %s: %d records (%d mapped), mapping %s\n"
      "map (validate + map, 1 thread, best of %d): %.0f records/s\n"
      "plan (writer's WritePlanner over its index, 1 thread, best of %d): %.0f facilities/s\n",
      ndjson.empty() ? "synthetic in-process" : ndjson, records.size(), ok, mapping_path,
      rounds, best_map, rounds, best_rec);
  return 0;
}
