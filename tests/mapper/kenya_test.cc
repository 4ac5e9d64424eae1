// The converted Kenya MFL (all 13,733 facilities) through the shipped Kenya
// mapping: every facility maps or is rejected with a reason, at least 95% map,
// and the remaining rejections are the known data defects. Also checks that
// the committed area tables are what testbed/mapping_tools generates.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "mapper/mapper.h"
#include "mapper/mapping.h"
#include "mapper/ndjson_records.h"
#include "writer/facility_index.h"
#include "writer/write_planner.h"

namespace mflsync::mapper {
namespace {

namespace fs = std::filesystem;

const std::string kSrc = MFLSYNC_SOURCE_DIR;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

int RunCommand(const std::string& cmd) {
  int rc = std::system((cmd + " 2>/dev/null").c_str());
  return rc;
}

class KenyaTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    csv_ = kSrc + "/../shared/data/kenya-mfl/mfl_2014-05-12.csv";
    if (!fs::exists(csv_)) return;
    dir_ = ::testing::TempDir() + "/mflsync-kenya-test";
    fs::create_directories(dir_);
    convert_rc_ = RunCommand(absl::StrCat("python3 ", kSrc, "/testbed/data_tools/kenya_mfl_to_fhir.py",
                                   " --csv ", csv_, " --out ", dir_, "/kenya.ndjson"));
  }
  static void TearDownTestSuite() {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  void SetUp() override {
    if (!fs::exists(csv_))
      GTEST_SKIP() << "Kenya MFL CSV not found at " << csv_
                   << " (../shared/data is absent): skipping the Kenya mapping test";
    ASSERT_EQ(convert_rc_, 0) << "kenya_mfl_to_fhir.py failed";
  }
  static std::string csv_, dir_;
  static int convert_rc_;
};
std::string KenyaTest::csv_, KenyaTest::dir_;
int KenyaTest::convert_rc_ = -1;

TEST_F(KenyaTest, EveryFacilityMapsOrIsRejectedForADataDefect) {
  absl::StatusOr<Mapping> mapping = Mapping::LoadFile(kSrc + "/mapper/mappings/kenya.json");
  ASSERT_TRUE(mapping.ok()) << mapping.status();
  auto records = LoadNdjsonRecords(dir_ + "/kenya.ndjson", "kenya");
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_EQ(records->size(), 13733u);

  Mapper mapper(&*mapping);
  v1::PlanWritesRequest plan;
  std::map<std::string, int> by_rule;
  std::map<std::string, std::set<std::string>> values;
  int mapped = 0;
  for (const v1::SourceRecord& record : *records) {
    v1::MappedRecord r = mapper.Map(record);
    if (r.has_facility()) {
      EXPECT_EQ(r.rejections_size(), 0);
      ++mapped;
      *plan.add_records() = r;
      continue;
    }
    ASSERT_GT(r.rejections_size(), 0) << record.location_id() << " neither mapped nor rejected";
    std::set<std::string> rules;
    for (const auto& rej : r.rejections()) {
      EXPECT_FALSE(rej.rule().empty());
      EXPECT_FALSE(rej.fhir_path().empty());
      EXPECT_FALSE(rej.message().empty());
      rules.insert(rej.rule());
      values[rej.rule()].insert(rej.value());
    }
    for (const auto& rule : rules) ++by_rule[rule];
  }
  double pct = 100.0 * mapped / records->size();
  std::cout << "Kenya MFL: " << records->size() << " facilities, " << mapped << " mapped ("
            << pct << "%), " << records->size() - mapped << " rejected\n";
  for (const auto& [rule, n] : by_rule) {
    std::cout << "  " << rule << ": " << n << " records; values:";
    for (const auto& v : values[rule]) std::cout << " '" << v << "'";
    std::cout << "\n";
  }
  EXPECT_GE(pct, 95.0);
  // The defects of the 2014 export: 5 KenyaEMR queue locations (no area, no
  // owner, not a facility) and 2 funeral homes.
  const std::set<std::string> known = {"mapping.area.missing", "mapping.owner.missing",
                                       "mapping.facility_type.excluded"};
  for (const auto& [rule, n] : by_rule) EXPECT_TRUE(known.contains(rule)) << rule << " x" << n;
  for (const auto& v : values["mapping.facility_type.excluded"])
    EXPECT_TRUE(v == "Farewell Home" || v.rfind("Queue location for ", 0) == 0) << v;

  // Planned by the writer against an empty openIMIS seeded with the
  // generated Kenya areas: every district resolves; same-name-in-sub-county
  // pairs are reported.
  nlohmann::json areas =
      nlohmann::json::parse(ReadAll(kSrc + "/mapper/mappings/kenya-openimis-areas.json"));
  writer::IndexSnapshot snapshot;
  for (const auto& a : areas) {
    writer::Area area;
    area.code = a["code"].get<std::string>();
    area.uuid = "uuid-" + area.code;
    area.type = a["type"].get<std::string>();
    snapshot.areas.push_back(area);
  }
  writer::FacilityIndex index;
  index.Replace(std::move(snapshot), absl::Now());
  v1::PlanWritesResponse resp = writer::WritePlanner(&index).Plan(plan);
  std::map<std::string, int> actions;
  for (const auto& r : resp.results()) {
    ++actions[v1::WriteAction_Name(r.action())];
    for (const auto& rej : r.rejections()) {
      EXPECT_NE(rej.rule(), "openimis.district.unknown") << rej.message();
      ++actions[rej.rule()];
    }
  }
  std::cout << "Kenya plan against an empty openIMIS:";
  for (const auto& [a, n] : actions) std::cout << " " << a << "=" << n;
  std::cout << "\n";
  EXPECT_EQ(actions["reconcile.duplicate.code_in_batch"], 0);  // MFL codes are unique
}

TEST(AreaTablesTest, SyntheticTablesAreWhatTheToolGenerates) {
  std::string dir = ::testing::TempDir() + "/mflsync-area-tables";
  fs::create_directories(dir);
  ASSERT_EQ(RunCommand(absl::StrCat("python3 ", kSrc, "/testbed/data_tools/synthetic_mfl.py --count 0",
                             " --out /dev/null --areas-out ", dir, "/areas.json")),
            0);
  fs::copy_file(kSrc + "/mapper/mappings/synthetic.json", dir + "/synthetic.json",
                fs::copy_options::overwrite_existing);
  ASSERT_EQ(RunCommand(absl::StrCat("python3 ", kSrc, "/testbed/mapping_tools/make_area_tables.py",
                             " --areas ", dir, "/areas.json --prefix SY --openimis-areas-out ",
                             dir, "/seed.json --mapping ", dir, "/synthetic.json")),
            0);
  EXPECT_EQ(ReadAll(dir + "/synthetic.json"), ReadAll(kSrc + "/mapper/mappings/synthetic.json"))
      << "mapper/mappings/synthetic.json is stale: regenerate it (docs/mapping.md)";
  EXPECT_EQ(ReadAll(dir + "/seed.json"),
            ReadAll(kSrc + "/mapper/mappings/synthetic-openimis-areas.json"));
  fs::remove_all(dir);
}

TEST_F(KenyaTest, KenyaTablesAreWhatTheToolGenerates) {
  fs::copy_file(kSrc + "/mapper/mappings/kenya.json", dir_ + "/kenya.json",
                fs::copy_options::overwrite_existing);
  ASSERT_EQ(RunCommand(absl::StrCat("python3 ", kSrc, "/testbed/mapping_tools/make_area_tables.py",
                             " --ndjson ", dir_, "/kenya.ndjson --prefix KE --openimis-areas-out ",
                             dir_, "/seed.json --mapping ", dir_, "/kenya.json")),
            0);
  EXPECT_EQ(ReadAll(dir_ + "/kenya.json"), ReadAll(kSrc + "/mapper/mappings/kenya.json"))
      << "mapper/mappings/kenya.json is stale: regenerate it (docs/mapping.md)";
  EXPECT_EQ(ReadAll(dir_ + "/seed.json"),
            ReadAll(kSrc + "/mapper/mappings/kenya-openimis-areas.json"));
}

}  // namespace
}  // namespace mflsync::mapper
