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

TEST(FacilityIndexTest, PutMovesKeys) {
  FacilityIndex index;
  index.Replace(Snapshot(), absl::Now());
  HealthFacility moved = Fac("u1", "HF1B", "Renamed", "d2");
  index.Put(moved);
  EXPECT_FALSE(index.ByCode("HF1").has_value());
  EXPECT_EQ(index.ByCode("HF1B")->name(), "Renamed");
  EXPECT_TRUE(index.ByName("Lake Side Clinic", "D01").empty());
  EXPECT_EQ(index.ByName("renamed", "D02").size(), 1u);
  EXPECT_EQ(index.facility_count(), 2u);
  index.Put(Fac("u3", "HF3", "New", "d1"));
  EXPECT_EQ(index.facility_count(), 3u);
}

TEST(FacilityIndexTest, MalformedResourceNamesItsPosition) {
  std::vector<json> locations = {json{{"resourceType", "Location"}, {"id", "x"}}};
  auto snapshot = BuildSnapshot({}, locations, {});
  ASSERT_FALSE(snapshot.ok());
  EXPECT_NE(snapshot.status().message().find("facility list, resource 0"), std::string::npos);
}

TEST(FacilityIndexTest, PutSaysWhetherTheIndexChanged) {
  FacilityIndex index;
  index.Replace(Snapshot(), absl::Now());
  HealthFacility a = *index.ByCode("HF1");
  EXPECT_EQ(index.Put(a), PutResult::kSame);
  a.set_email("new@example.org");
  EXPECT_EQ(index.Put(a), PutResult::kChanged);
  EXPECT_EQ(index.ByCode("HF1")->email(), "new@example.org");
  EXPECT_EQ(index.Put(Fac("u9", "HF9", "Nine", "d1")), PutResult::kAdded);
  HealthFacility closed = Fac("u9", "HF9", "Nine", "d1");
  closed.set_active(false);
  EXPECT_EQ(index.Put(closed), PutResult::kChanged);
  EXPECT_FALSE(index.ByCode("HF9")->active());
}

// Every column survives the packing, including empty ones and a text with
// a NUL in it.
TEST(FacilityIndexTest, KeepsEveryColumnAsPut) {
  FacilityIndex index;
  HealthFacility f = Fac("u5", "HF5", std::string("Odd\0Name", 8), "d-unknown");
  f.set_district_code("DX");
  f.set_address("1 Long Road, with a name long enough to need the heap");
  f.set_phone("+254 1");
  f.set_email("a@b.c");
  f.set_level(mflsync::v1::FACILITY_LEVEL_HOSPITAL);
  f.set_care_type(mflsync::v1::CARE_TYPE_OUT_PATIENT);
  index.Put(f);
  auto back = index.ByUuid("u5");
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->name(), std::string("Odd\0Name", 8));
  EXPECT_EQ(back->address(), f.address());
  EXPECT_EQ(back->phone(), "+254 1");
  EXPECT_EQ(back->fax(), "");
  EXPECT_EQ(back->email(), "a@b.c");
  EXPECT_EQ(back->level(), mflsync::v1::FACILITY_LEVEL_HOSPITAL);
  EXPECT_EQ(back->care_type(), mflsync::v1::CARE_TYPE_OUT_PATIENT);
  EXPECT_EQ(back->legal_form(), "G");
  EXPECT_EQ(back->district_uuid(), "d-unknown");
  EXPECT_EQ(back->district_code(), "DX");  // not an area the index knows: as put
}

TEST(FacilityIndexTest, ASweepRemovesWhatTheFullReadDidNotFind) {
  FacilityIndex index;
  index.Replace(Snapshot(), absl::Now());
  index.Put(Fac("u3", "HF3", "Three", "d1"));
  index.BeginSweep();
  index.Put(*index.ByCode("HF1"));
  index.Put(*index.ByCode("HF3"));
  EXPECT_EQ(index.EndSweep(), std::vector<std::string>{"HF2"});
  EXPECT_FALSE(index.ByCode("HF2").has_value());
  EXPECT_TRUE(index.ByName("Hill", "D02").empty());
  EXPECT_EQ(index.facility_count(), 2u);
  // A slot freed by the sweep is used again.
  index.Put(Fac("u4", "HF4", "Four", "d2"));
  EXPECT_EQ(index.ByName("four", "D02").size(), 1u);
  EXPECT_EQ(index.facility_count(), 3u);
}

TEST(FacilityIndexTest, AnAbortedSweepRemovesNothing) {
  FacilityIndex index;
  index.Replace(Snapshot(), absl::Now());
  index.BeginSweep();
  index.Put(*index.ByCode("HF1"));
  index.AbortSweep();
  EXPECT_TRUE(index.EndSweep().empty());
  EXPECT_EQ(index.facility_count(), 2u);
}

// openIMIS can hold two current facilities with one code (its check is
// not atomic): the code finds the one put last, and removing one leaves no
// stale key behind.
TEST(FacilityIndexTest, ADuplicateCodeFindsTheLastPutAndSurvivesARemoval) {
  FacilityIndex index;
  index.Replace(Snapshot(), absl::Now());
  index.Put(Fac("u7", "HF1", "Twin", "d1"));
  EXPECT_EQ(index.ByCode("HF1")->uuid(), "u7");
  index.BeginSweep();
  index.Put(*index.ByUuid("u1"));
  index.Put(*index.ByUuid("u2"));
  EXPECT_EQ(index.EndSweep(), std::vector<std::string>{"HF1"});  // u7's code
  EXPECT_FALSE(index.ByUuid("u7").has_value());
  EXPECT_EQ(index.ByCode("HF1")->uuid(), "u1");
  index.Put(Fac("u8", "HF1", "Third", "d1"));
  EXPECT_EQ(index.ByCode("HF1")->uuid(), "u8");
  index.BeginSweep();
  index.Put(*index.ByUuid("u1"));
  index.Put(*index.ByUuid("u2"));
  index.EndSweep();  // u8 removed; the key, which viewed u8's buffer, is gone
  EXPECT_EQ(index.ByCode("HF1")->uuid(), "u1");
  EXPECT_EQ(index.ByName("third", "D01").size(), 0u);
}

TEST(FacilityIndexTest, AreasThatRenameADistrictMoveTheNameKeys) {
  FacilityIndex index;
  index.Replace(Snapshot(), absl::Now());
  std::vector<Area> areas = index.Areas();
  for (Area& area : areas) {
    if (area.uuid == "d1") area.code = "D01X";
  }
  index.SetAreas(areas);
  EXPECT_EQ(index.ByCode("HF1")->district_code(), "D01X");
  EXPECT_EQ(index.ByName("lake side clinic", "D01X").size(), 1u);
  EXPECT_TRUE(index.ByName("lake side clinic", "D01").empty());
}

TEST(FacilityIndexTest, DrainsWhatChangedSinceTheLastDrain) {
  FacilityIndex index;
  index.Replace(Snapshot(), absl::Now());
  std::vector<std::string> put, removed;
  auto drain = [&] {
    put.clear();
    removed.clear();
    index.DrainChanges([&](const HealthFacility& f) { put.push_back(f.code()); },
                       [&](const std::string& uuid) { removed.push_back(uuid); });
  };
  drain();
  EXPECT_EQ(put.size(), 2u) << "a first load is all new";
  drain();
  EXPECT_TRUE(put.empty());
  index.Put(*index.ByCode("HF1"));  // the same: nothing to save
  HealthFacility b = *index.ByCode("HF2");
  b.set_name("Hill Top");
  index.Put(b);
  index.BeginSweep();
  index.Put(b);
  index.EndSweep();  // HF1 removed
  drain();
  EXPECT_EQ(put, std::vector<std::string>{"HF2"});
  EXPECT_EQ(removed, std::vector<std::string>{"u1"});
}

}  // namespace
}  // namespace mflsync::writer
