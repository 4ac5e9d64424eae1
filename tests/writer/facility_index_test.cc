// FacilityIndex and the snapshot built from openIMIS search results.
#include "writer/facility_index.h"

#include <gtest/gtest.h>

namespace mflsync::writer {
namespace {

using mflsync::v1::HealthFacility;
using nlohmann::json;

json AreaJson(const std::string& uuid, const std::string& code, const std::string& type,
              const std::string& parent) {
  json a = {{"resourceType", "Location"},
            {"id", uuid},
            {"identifier", {{{"type", {{"coding", {{{"code", "LC"}}}}}}, {"value", code}}}},
            {"name", "Area " + code},
            {"physicalType", {{"coding", {{{"code", type}}}}}}};
  if (!parent.empty()) a["partOf"] = {{"reference", "Location/" + parent}};
  return a;
}

HealthFacility Fac(const std::string& uuid, const std::string& code,
                   const std::string& name, const std::string& district_uuid) {
  HealthFacility f;
  f.set_uuid(uuid);
  f.set_code(code);
  f.set_name(name);
  f.set_level(mflsync::v1::FACILITY_LEVEL_DISPENSARY);
  f.set_care_type(mflsync::v1::CARE_TYPE_BOTH);
  f.set_legal_form("G");
  f.set_district_uuid(district_uuid);
  f.set_active(true);
  return f;
}

IndexSnapshot Snapshot() {
  std::vector<json> areas = {AreaJson("r1", "R01", "R", ""), AreaJson("d1", "D01", "D", "r1"),
                             AreaJson("d2", "D02", "D", "r1"), AreaJson("w1", "W01", "W", "d1")};
  HealthFacility a = Fac("u1", "HF1", "Lake  Side Clinic", "d1");
  HealthFacility b = Fac("u2", "HF2", "Hill", "d2");
  std::vector<json> locations = {LocationSiteBody(a), LocationSiteBody(b)};
  a.set_care_type(mflsync::v1::CARE_TYPE_IN_PATIENT);
  a.set_legal_form("P");
  a.set_phone("999");
  std::vector<json> orgs = {OrganizationBody(a)};
  auto snapshot = BuildSnapshot(areas, locations, orgs);
  EXPECT_TRUE(snapshot.ok()) << snapshot.status();
  return snapshot.ok() ? *snapshot : IndexSnapshot();
}

TEST(FacilityIndexTest, NotLoadedUntilReplaced) {
  FacilityIndex index;
  EXPECT_FALSE(index.loaded());
  index.Replace(Snapshot(), absl::Now());
  EXPECT_TRUE(index.loaded());
  EXPECT_EQ(index.facility_count(), 2u);
  EXPECT_EQ(index.district_count(), 2u);
}

TEST(FacilityIndexTest, MergesOrganizationColumnsIntoLocations) {
  FacilityIndex index;
  index.Replace(Snapshot(), absl::Now());
  auto a = index.ByCode("HF1");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->care_type(), mflsync::v1::CARE_TYPE_IN_PATIENT);
  EXPECT_EQ(a->legal_form(), "P");
  EXPECT_EQ(a->phone(), "999");
  EXPECT_EQ(a->district_code(), "D01");
  auto b = index.ByUuid("u2");
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->legal_form(), "");  // no Organization read for it
}

TEST(FacilityIndexTest, LooksUpByCodeAndNormalisedNameInDistrict) {
  FacilityIndex index;
  index.Replace(Snapshot(), absl::Now());
  EXPECT_EQ(index.ByName("  lake side   CLINIC ", "D01").size(), 1u);
  EXPECT_TRUE(index.ByName("lake side clinic", "D02").empty());
  auto found = index.Lookup({"HF2", "NOPE", "HF2"}, {{"LAKE SIDE CLINIC", "D01"}});
  ASSERT_EQ(found.size(), 2u);
  EXPECT_EQ(found[0].code(), "HF1");
  EXPECT_EQ(found[1].code(), "HF2");
}

TEST(FacilityIndexTest, DistrictsCarryTheirRegion) {
  FacilityIndex index;
  index.Replace(Snapshot(), absl::Now());
  auto districts = index.Districts();
  ASSERT_EQ(districts.size(), 2u);
  EXPECT_EQ(districts[0].code(), "D01");
  EXPECT_EQ(districts[0].region_code(), "R01");
  EXPECT_EQ(index.DistrictByUuid("d2")->code(), "D02");
  EXPECT_FALSE(index.DistrictByCode("W01").has_value());  // a ward, not a district
}

TEST(FacilityIndexTest, UpsertMovesKeys) {
  FacilityIndex index;
  index.Replace(Snapshot(), absl::Now());
  HealthFacility moved = Fac("u1", "HF1B", "Renamed", "d2");
  index.Upsert(moved);
  EXPECT_FALSE(index.ByCode("HF1").has_value());
  EXPECT_EQ(index.ByCode("HF1B")->name(), "Renamed");
  EXPECT_TRUE(index.ByName("Lake Side Clinic", "D01").empty());
  EXPECT_EQ(index.ByName("renamed", "D02").size(), 1u);
  EXPECT_EQ(index.facility_count(), 2u);
  index.Upsert(Fac("u3", "HF3", "New", "d1"));
  EXPECT_EQ(index.facility_count(), 3u);
}

TEST(FacilityIndexTest, MalformedResourceNamesItsPosition) {
  std::vector<json> locations = {json{{"resourceType", "Location"}, {"id", "x"}}};
  auto snapshot = BuildSnapshot({}, locations, {});
  ASSERT_FALSE(snapshot.ok());
  EXPECT_NE(snapshot.status().message().find("facility list, resource 0"), std::string::npos);
}

}  // namespace
}  // namespace mflsync::writer
