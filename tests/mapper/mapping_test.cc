#include "mapper/mapping.h"

#include <cstdio>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "tests/mapper/test_util.h"

namespace mflsync::mapper {
namespace {

using nlohmann::json;

std::string ErrorOf(const json& doc) {
  absl::StatusOr<Mapping> m = Mapping::FromJson(doc, "t.json");
  return m.ok() ? "OK" : std::string(m.status().message());
}

void ExpectError(const json& doc, const std::string& where, const std::string& what) {
  std::string e = ErrorOf(doc);
  EXPECT_NE(e.find("mapping file t.json: " + where + ": "), std::string::npos) << e;
  EXPECT_NE(e.find(what), std::string::npos) << e;
}

TEST(MappingTest, ShippedMappingsLoad) {
  for (const char* file : {"kenya.json", "synthetic.json"}) {
    std::string path = std::string(MFLSYNC_SOURCE_DIR) + "/mapper/mappings/" + file;
    absl::StatusOr<Mapping> m = Mapping::LoadFile(path);
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_EQ(m->schema_version(), 1);
    auto sizes = m->TableSizes();
    EXPECT_EQ(sizes["facility_types"], 31) << file;  // 24 mapped + 7 excluded spellings
    EXPECT_EQ(sizes["owners"], 4) << file;
    EXPECT_GE(sizes["districts"], 300) << file;
  }
}

TEST(MappingTest, KenyaTablesCoverEveryCsvSpelling) {
  absl::StatusOr<Mapping> m =
      Mapping::LoadFile(std::string(MFLSYNC_SOURCE_DIR) + "/mapper/mappings/kenya.json");
  ASSERT_TRUE(m.ok()) << m.status();
  // The 34 spellings of the 2014 export (data README).
  for (const char* t :
       {"Dispensary", "Medical Clinic", "Basic Health Centre", "Primary care hospitals",
        "Medical Center", "VCT", "Comprehensive health Centre", "Nursing Homes",
        "Nursing and Maternity Home", "Laboratory", "Secondary care hospitals", "Pharmacy",
        "Dental Clinic", "Radiology Clinic", "Ophthalmology", "HEALTH CENTRE",
        "Rehab. Center - Drug and Substance abuse", "Dialysis Center", "DISPENSARY",
        "Specialized & Tertiary Referral hospitals", "Regional Blood Transfusion Centre",
        "MEDICAL CLINIC", "Dispensaries and clinic-out patient only",
        "Comprehensive Teaching & Tertiary Referral Hospital", "NURSING HOME", "Blood Bank",
        "MEDICAL CENTER", "Farewell Home", "HOSPITALS", "Queue location for ccc",
        "Queue location for MCH", "Queue location for laboratory",
        "Queue location for pharmacy", "Queue location for HTS"}) {
    EXPECT_NE(m->FindFacilityType(t), nullptr) << t;
  }
  for (const char* o : {"Ministry of Health", "Private Practice", "Faith Based Organization",
                        "Non-Governmental Organizations"})
    EXPECT_NE(m->FindLegalForm(o), nullptr) << o;
  EXPECT_EQ(*m->FindLegalForm("ministry  of health"), "G");
  EXPECT_EQ(m->FindFacilityType("  dispensary ")->level, v1::FACILITY_LEVEL_DISPENSARY);
  EXPECT_EQ(m->FindFacilityType("Primary care hospitals")->level, v1::FACILITY_LEVEL_HOSPITAL);
  EXPECT_FALSE(m->FindFacilityType("Farewell Home")->exclude_reason.empty());
}

TEST(MappingTest, Lookups) {
  absl::StatusOr<Mapping> m = Mapping::FromJson(testing::TestMappingJson(), "t.json");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->Normalise("  Basic   HEALTH\tCentre "), "basic health centre");
  EXPECT_EQ(m->FindDistrictByPartOf("Location/ward-nanyuki")->code, "KE0101");
  EXPECT_EQ(m->FindDistrictByPartOf("Location/WARD-NANYUKI"), nullptr);  // ids are exact
  EXPECT_EQ(m->FindDistrictByAddress("laikipia", "LAIKIPIA WEST")->code, "KE0102");
  EXPECT_EQ(m->FindDistrictByAddress("Nyeri", "Laikipia West"), nullptr);
  EXPECT_EQ(*m->CrosswalkCode("123456789"), "X0000001");
  EXPECT_EQ(m->CrosswalkCode("14180"), nullptr);
  EXPECT_EQ(*m->CrosswalkNationalIdOfLocation("loc-old-55555"), "55555");
  EXPECT_EQ(*m->CrosswalkOwnerOfCode("X0000002"), "55555");
  EXPECT_TRUE(m->IsInpatientService("ipd"));
  EXPECT_FALSE(m->IsInpatientService("OPD"));
  EXPECT_EQ(m->TableSizes()["crosswalk"], 2);
}

TEST(MappingTest, PunctuationNormalisationIsOptIn) {
  json doc = testing::TestMappingJson();
  doc["facility_types"].push_back({{"match", "Rehab. Center - Drug abuse"}, {"level", "OF"},
                                   {"care_type", "I"}});
  absl::StatusOr<Mapping> plain = Mapping::FromJson(doc, "t.json");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->FindFacilityType("Rehab Center Drug abuse"), nullptr);
  doc["normalisation"] = {{"ignore_punctuation", true}};
  absl::StatusOr<Mapping> loose = Mapping::FromJson(doc, "t.json");
  ASSERT_TRUE(loose.ok());
  EXPECT_NE(loose->FindFacilityType("Rehab Center Drug abuse"), nullptr);
}

TEST(MappingTest, TopLevelErrors) {
  EXPECT_NE(ErrorOf(json::array()).find("(top level): must be a JSON object"), std::string::npos);
  json doc = testing::TestMappingJson();
  doc["schema_version"] = 2;
  ExpectError(doc, "schema_version", "2 is not supported");
  doc = testing::TestMappingJson();
  doc.erase("schema_version");
  ExpectError(doc, "schema_version", "missing");
  doc = testing::TestMappingJson();
  doc["tables"] = json::object();
  ExpectError(doc, "tables", "unknown key");
  doc = testing::TestMappingJson();
  doc.erase("name");
  ExpectError(doc, "name", "missing (required)");
  doc = testing::TestMappingJson();
  doc["national_id"] = {{"system", ""}};
  ExpectError(doc, "national_id.system", "must not be empty");
  doc = testing::TestMappingJson();
  doc["hf_code"]["max_length"] = 9;
  ExpectError(doc, "hf_code.max_length", "at most 8");
  doc = testing::TestMappingJson();
  doc["normalisation"] = {{"fold_case", "yes"}};
  ExpectError(doc, "normalisation.fold_case", "true or false");
}

TEST(MappingTest, FacilityTypeTableErrors) {
  json doc = testing::TestMappingJson();
  doc["facility_types"][1]["level"] = "H";
  ExpectError(doc, "facility_types[1].level", "'H' (for 'Basic Health Centre') is not an "
                                              "openIMIS level");
  doc = testing::TestMappingJson();
  doc["facility_types"][0]["care_type"] = "X";
  ExpectError(doc, "facility_types[0].care_type", "not an openIMIS care type");
  doc = testing::TestMappingJson();
  doc["facility_types"].push_back({{"match", "DISPENSARY "}, {"level", "COMM"}});
  ExpectError(doc, "facility_types[4]", "duplicates facility_types[0]");
  doc = testing::TestMappingJson();
  doc["facility_types"][3]["level"] = "COMM";
  ExpectError(doc, "facility_types[3]", "excluded type has no level");
  doc = testing::TestMappingJson();
  doc["facility_types"][0]["levle"] = "COMM";
  ExpectError(doc, "facility_types[0].levle", "unknown key");
  doc = testing::TestMappingJson();
  doc["facility_types"][0] = "Dispensary";
  ExpectError(doc, "facility_types[0]", "must be a JSON object");
}

TEST(MappingTest, OwnerTableErrors) {
  json doc = testing::TestMappingJson();
  doc["owners"][1]["legal_form"] = "X";
  ExpectError(doc, "owners[1].legal_form", "'X' (for 'Private Practice') is not in legal_forms");
  doc = testing::TestMappingJson();
  doc["owners"].push_back({{"match", "ministry of health"}, {"legal_form", "D"}});
  ExpectError(doc, "owners[2]", "duplicates owners[0]");
  doc = testing::TestMappingJson();
  doc["legal_forms"] = json::array({"G"});
  ExpectError(doc, "owners[1].legal_form", "is not in legal_forms (G)");
}

TEST(MappingTest, AreaTableErrors) {
  json doc = testing::TestMappingJson();
  doc["areas"]["districts"][0]["code"] = "KE0101XYZ";
  ExpectError(doc, "areas.districts[0].code", "longer than 8 characters");
  doc = testing::TestMappingJson();
  doc["areas"]["districts"][1]["code"] = "KE0101";
  ExpectError(doc, "areas.districts[1].code", "'KE0101' is also areas.districts[0]");
  doc = testing::TestMappingJson();
  doc["areas"]["districts"][1]["part_of"] = json::array({"Location/ward-nanyuki"});
  ExpectError(doc, "areas.districts[1].part_of[0]", "already mapped to district KE0101");
  doc = testing::TestMappingJson();
  doc["areas"]["districts"][1]["address"][0]["district"] = "laikipia  east";
  ExpectError(doc, "areas.districts[1].address[0]", "already mapped to district KE0101");
  doc = testing::TestMappingJson();
  doc["areas"]["districts"][1].erase("address");
  ExpectError(doc, "areas.districts[1]", "neither part_of nor address");
  doc = testing::TestMappingJson();
  doc["areas"]["sources"] = json::array({"gps"});
  ExpectError(doc, "areas.sources[0]", "'gps' is not part_of or address");
}

TEST(MappingTest, CrosswalkErrors) {
  json doc = testing::TestMappingJson();
  doc["crosswalk"][0]["hf_code"] = "TOOLONGCODE";
  ExpectError(doc, "crosswalk[0].hf_code", "longer than 8 characters");
  doc = testing::TestMappingJson();
  doc["crosswalk"][1]["national_id"] = "123456789";
  ExpectError(doc, "crosswalk[1]", "national id '123456789' appears twice");
  doc = testing::TestMappingJson();
  doc["crosswalk"][1]["hf_code"] = "X0000001";
  ExpectError(doc, "crosswalk[1]", "HF code 'X0000001' is already given to national id "
                                   "'123456789'");
}

TEST(MappingTest, IgnoredDeletionPrefixes) {
  json doc = testing::TestMappingJson();
  absl::StatusOr<Mapping> m = Mapping::FromJson(doc, "t.json");
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE(m->IsIgnoredDeletion("ward-x"));
  EXPECT_FALSE(m->IsIgnoredDeletion("fac-1"));
  doc["hf_code"]["deleted_ignore_prefixes"].push_back("fa");
  ExpectError(doc, "hf_code.deleted_ignore_prefixes[2]", "would also ignore facility deletions");
}

TEST(MappingTest, FileErrors) {
  absl::StatusOr<Mapping> missing = Mapping::LoadFile("/nonexistent/mapping.json");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(), "mapping file /nonexistent/mapping.json: cannot be read");
  std::string path = ::testing::TempDir() + "/broken-mapping.json";
  std::ofstream(path) << "{\"schema_version\": 1,";
  absl::StatusOr<Mapping> broken = Mapping::LoadFile(path);
  ASSERT_FALSE(broken.ok());
  EXPECT_NE(broken.status().message().find(path + ": not JSON"), std::string::npos)
      << broken.status();
  std::remove(path.c_str());
}

}  // namespace
}  // namespace mflsync::mapper
