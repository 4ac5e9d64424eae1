#include "writer/write_planner.h"

#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "absl/time/clock.h"

namespace mflsync::writer {
namespace {

constexpr char kNat[] = "https://kmhfl.health.go.ke/facility-code|";

v1::HealthFacility Mapped(const std::string& code, const std::string& name,
                          const std::string& district = "KE0101") {
  v1::HealthFacility f;
  f.set_code(code);
  f.set_name(name);
  f.set_level(v1::FACILITY_LEVEL_DISPENSARY);
  f.set_care_type(v1::CARE_TYPE_OUT_PATIENT);
  f.set_legal_form("G");
  f.set_district_code(district);
  f.set_address("Nanyuki");
  f.set_active(true);
  f.set_national_id(kNat + code);
  return f;
}

// What openIMIS holds for a facility: UUIDs, no national id.
v1::HealthFacility Existing(const v1::HealthFacility& mapped, const std::string& uuid) {
  v1::HealthFacility e = mapped;
  e.set_uuid(uuid);
  e.set_district_uuid(mapped.district_code() == "KE0101" ? "d-uuid-1" : "d-uuid-2");
  e.clear_district_code();  // the index fills it from the areas
  e.clear_national_id();
  return e;
}

Area MakeArea(std::string uuid, std::string code, std::string type, std::string parent) {
  Area a;
  a.uuid = std::move(uuid);
  a.code = std::move(code);
  a.name = "Area " + a.code;
  a.type = std::move(type);
  a.parent_uuid = std::move(parent);
  return a;
}

class WritePlannerTest : public ::testing::Test {
 protected:
  // Loads the index with two districts and `existing`, then plans.
  v1::PlanWritesResponse Run() {
    IndexSnapshot snapshot;
    snapshot.areas = {MakeArea("r-uuid", "KE01", "R", ""),
                      MakeArea("d-uuid-1", "KE0101", "D", "r-uuid"),
                      MakeArea("d-uuid-2", "KE0102", "D", "r-uuid")};
    if (no_districts_) snapshot.areas.resize(1);
    snapshot.facilities = existing_;
    index_.Replace(std::move(snapshot), absl::Now());
    return WritePlanner(&index_).Plan(request_);
  }
  void Add(const v1::HealthFacility& f, bool deactivation = false) {
    v1::MappedRecord* r = request_.add_records();
    r->set_location_id("fac-" + f.code());
    *r->mutable_facility() = f;
    r->set_deactivation(deactivation);
  }

  FacilityIndex index_;
  std::vector<v1::HealthFacility> existing_;
  bool no_districts_ = false;
  v1::PlanWritesRequest request_;
};

TEST_F(WritePlannerTest, CreatesWhatOpenImisLacks) {
  Add(Mapped("14180", "Nanyuki Dispensary"));
  auto resp = Run();
  ASSERT_EQ(resp.results_size(), 1);
  EXPECT_EQ(resp.results(0).action(), v1::WRITE_ACTION_CREATE);
  EXPECT_EQ(resp.results(0).facility().district_uuid(), "d-uuid-1");
  EXPECT_TRUE(resp.results(0).facility().uuid().empty());
  EXPECT_EQ(resp.results(0).facility().national_id(), std::string(kNat) + "14180");
  EXPECT_GT(resp.index_loaded_at().seconds(), 0);
}

TEST_F(WritePlannerTest, UpdatesTheSameFacilityByUuid) {
  v1::HealthFacility f = Mapped("14180", "Nanyuki Dispensary");
  v1::HealthFacility e = Existing(f, "hf-uuid-1");
  e.set_name("Nanyuki Disp.");
  existing_.push_back(e);
  Add(f);
  auto resp = Run();
  EXPECT_EQ(resp.results(0).action(), v1::WRITE_ACTION_UPDATE);
  EXPECT_EQ(resp.results(0).facility().uuid(), "hf-uuid-1");
  EXPECT_EQ(resp.results(0).facility().name(), "Nanyuki Dispensary");
}

TEST_F(WritePlannerTest, AnUpdateOrANoOpCarriesWhatOpenImisHolds) {
  v1::HealthFacility f = Mapped("14180", "Nanyuki Dispensary");
  v1::HealthFacility e = Existing(f, "hf-uuid-1");
  e.set_name("Nanyuki Disp.");
  existing_.push_back(e);
  Add(f);
  auto resp = Run();
  ASSERT_EQ(resp.results(0).action(), v1::WRITE_ACTION_UPDATE);
  EXPECT_EQ(resp.results(0).current().uuid(), "hf-uuid-1");
  EXPECT_EQ(resp.results(0).current().name(), "Nanyuki Disp.");
  EXPECT_EQ(resp.results(0).current().district_code(), "KE0101");  // from the index
  EXPECT_EQ(resp.results(0).facility().name(), "Nanyuki Dispensary");
  existing_[0].set_name("Nanyuki Dispensary");
  resp = Run();
  ASSERT_EQ(resp.results(0).action(), v1::WRITE_ACTION_NOOP);
  EXPECT_EQ(resp.results(0).current().name(), "Nanyuki Dispensary");
  // A create has nothing in openIMIS yet.
  request_.clear_records();
  Add(Mapped("14181", "Another Dispensary"));
  resp = Run();
  ASSERT_EQ(resp.results(0).action(), v1::WRITE_ACTION_CREATE);
  EXPECT_FALSE(resp.results(0).has_current());
}

TEST_F(WritePlannerTest, NoOpWhenOpenImisHoldsExactlyThis) {
  v1::HealthFacility f = Mapped("14180", "Nanyuki Dispensary");
  existing_.push_back(Existing(f, "hf-uuid-1"));
  Add(f);
  EXPECT_EQ(Run().results(0).action(), v1::WRITE_ACTION_NOOP);
  // Each field counts.
  for (int field = 0; field < 8; ++field) {
    v1::HealthFacility g = f;
    switch (field) {
      case 0: g.set_level(v1::FACILITY_LEVEL_HOSPITAL); break;
      case 1: g.set_care_type(v1::CARE_TYPE_BOTH); break;
      case 2: g.set_legal_form("P"); break;
      case 3: g.set_district_code("KE0102"); break;
      case 4: g.set_address("Elsewhere"); break;
      case 5: g.set_phone("1"); break;
      case 6: g.set_email("a@b"); break;
      case 7: g.set_active(false); break;
    }
    request_.clear_records();
    Add(g);
    EXPECT_EQ(Run().results(0).action(), v1::WRITE_ACTION_UPDATE) << field;
  }
}

TEST_F(WritePlannerTest, TheHfCodeIsTheIdentity) {
  // The same code with another name is the same facility, renamed.
  existing_.push_back(Existing(Mapped("14180", "Old Name"), "hf-uuid-2"));
  Add(Mapped("14180", "Nanyuki Dispensary", "KE0102"));
  auto resp = Run();
  ASSERT_EQ(resp.results(0).action(), v1::WRITE_ACTION_UPDATE);
  EXPECT_EQ(resp.results(0).facility().uuid(), "hf-uuid-2");
  EXPECT_EQ(resp.results(0).facility().district_uuid(), "d-uuid-2");
}

TEST_F(WritePlannerTest, RejectsTheSameNameInTheSameDistrict) {
  existing_.push_back(Existing(Mapped("20000", "Nanyuki  DISPENSARY"), "hf-uuid-5"));
  Add(Mapped("14180", "Nanyuki Dispensary"));
  Add(Mapped("14181", "Nanyuki Dispensary", "KE0102"));  // other district
  auto resp = Run();
  ASSERT_EQ(resp.results(0).action(), v1::WRITE_ACTION_REJECT);
  const v1::Rejection& r = resp.results(0).rejections(0);
  EXPECT_EQ(r.rule(), "reconcile.duplicate.name_in_district");
  EXPECT_EQ(r.fhir_path(), "Location.name");
  EXPECT_NE(r.message().find("20000"), std::string::npos) << r.message();
  EXPECT_NE(r.message().find("hf-uuid-5"), std::string::npos) << r.message();
  EXPECT_NE(r.message().find("14180"), std::string::npos);
  EXPECT_EQ(resp.results(1).action(), v1::WRITE_ACTION_CREATE);
}

// An operator's link writes a likely duplicate (and its later versions) to
// the openIMIS facility it names, keeping that facility's code; an
// acceptance creates it under its own code despite the namesake.
TEST_F(WritePlannerTest, LinksAndAcceptancesDecideLikelyDuplicates) {
  existing_.push_back(Existing(Mapped("20000", "Nanyuki Dispensary"), "hf-uuid-5"));
  Add(Mapped("14180", "Nanyuki Dispensary"));
  v1::HealthFacility renamed = Mapped("14181", "Nanyuki Dispensary");
  renamed.set_phone("0700");
  Add(renamed);
  Add(Mapped("14182", "Nanyuki Dispensary"));
  Add(Mapped("14183", "Timau Dispensary"));
  v1::PlanLink* link = request_.add_links();
  link->set_location_id("fac-14180");
  link->set_hf_code("20000");
  v1::PlanLink* accept = request_.add_links();
  accept->set_location_id("fac-14182");
  accept->set_accept_namesake(true);
  v1::PlanLink* unknown = request_.add_links();
  unknown->set_location_id("fac-14183");
  unknown->set_hf_code("99999");
  auto resp = Run();
  ASSERT_EQ(resp.results_size(), 4);
  // Linked: an update of 20000 by its uuid, under its own code.
  ASSERT_EQ(resp.results(0).action(), v1::WRITE_ACTION_NOOP);
  EXPECT_EQ(resp.results(0).facility().uuid(), "hf-uuid-5");
  EXPECT_EQ(resp.results(0).facility().code(), "20000");
  // No link: still a likely duplicate.
  ASSERT_EQ(resp.results(1).action(), v1::WRITE_ACTION_REJECT);
  EXPECT_EQ(resp.results(1).rejections(0).rule(), "reconcile.duplicate.name_in_district");
  // Accepted: created under its own code.
  ASSERT_EQ(resp.results(2).action(), v1::WRITE_ACTION_CREATE);
  EXPECT_EQ(resp.results(2).facility().code(), "14182");
  // Linked to a code openIMIS lacks: rejected, saying so.
  ASSERT_EQ(resp.results(3).action(), v1::WRITE_ACTION_REJECT);
  EXPECT_EQ(resp.results(3).rejections(0).rule(), "reconcile.link.unknown_code");
  EXPECT_NE(resp.results(3).rejections(0).message().find("99999"), std::string::npos);
}

TEST_F(WritePlannerTest, ItsOwnNameIsNoNamesake) {
  v1::HealthFacility f = Mapped("14180", "Nanyuki Dispensary");
  existing_.push_back(Existing(f, "hf-uuid-1"));
  f.set_phone("0700");
  Add(f);
  EXPECT_EQ(Run().results(0).action(), v1::WRITE_ACTION_UPDATE);
}

TEST_F(WritePlannerTest, DuplicatesWithinABatch) {
  Add(Mapped("14180", "Nanyuki Dispensary"));
  Add(Mapped("14180", "Another Name"));
  Add(Mapped("14182", "nanyuki dispensary"));
  Add(Mapped("14183", "Third"));
  auto resp = Run();
  EXPECT_EQ(resp.results(0).action(), v1::WRITE_ACTION_CREATE);
  ASSERT_EQ(resp.results(1).action(), v1::WRITE_ACTION_REJECT);
  EXPECT_EQ(resp.results(1).rejections(0).rule(), "reconcile.duplicate.code_in_batch");
  EXPECT_NE(resp.results(1).rejections(0).message().find("'Nanyuki Dispensary'"),
            std::string::npos);
  ASSERT_EQ(resp.results(2).action(), v1::WRITE_ACTION_REJECT);
  EXPECT_EQ(resp.results(2).rejections(0).rule(), "reconcile.duplicate.name_in_batch");
  EXPECT_EQ(resp.results(3).action(), v1::WRITE_ACTION_CREATE);
}

TEST_F(WritePlannerTest, UnknownDistrict) {
  Add(Mapped("14180", "Nanyuki Dispensary", "KE9999"));
  auto resp = Run();
  ASSERT_EQ(resp.results(0).action(), v1::WRITE_ACTION_REJECT);
  EXPECT_EQ(resp.results(0).rejections(0).rule(), "openimis.district.unknown");
  EXPECT_EQ(resp.results(0).rejections(0).value(), "KE9999");
  EXPECT_NE(resp.results(0).rejections(0).message().find("(2 known)"), std::string::npos)
      << resp.results(0).rejections(0).message();
  request_.clear_records();
  Add(Mapped("14180", "Nanyuki Dispensary"));
  no_districts_ = true;
  EXPECT_EQ(Run().results(0).action(), v1::WRITE_ACTION_REJECT);
}

TEST_F(WritePlannerTest, Deactivations) {
  v1::HealthFacility deleted;
  deleted.set_code("14180");
  deleted.set_national_id(std::string(kNat) + "14180");
  deleted.set_active(false);
  Add(deleted, /*deactivation=*/true);
  // openIMIS never had it: nothing to do.
  EXPECT_EQ(Run().results(0).action(), v1::WRITE_ACTION_NOOP);
  // openIMIS has it active: update with everything else kept.
  existing_.push_back(Existing(Mapped("14180", "Nanyuki Dispensary"), "hf-uuid-1"));
  auto resp = Run();
  ASSERT_EQ(resp.results(0).action(), v1::WRITE_ACTION_UPDATE);
  EXPECT_EQ(resp.results(0).facility().uuid(), "hf-uuid-1");
  EXPECT_TRUE(resp.results(0).current().active());  // what a dry run shows as old
  EXPECT_EQ(resp.results(0).facility().name(), "Nanyuki Dispensary");
  EXPECT_EQ(resp.results(0).facility().legal_form(), "G");
  EXPECT_EQ(resp.results(0).facility().district_code(), "KE0101");
  EXPECT_FALSE(resp.results(0).facility().active());
  // Already inactive: no-op.
  existing_[0].set_active(false);
  EXPECT_EQ(Run().results(0).action(), v1::WRITE_ACTION_NOOP);
}

TEST_F(WritePlannerTest, DeletionOfANonFacilityIsANoOp) {
  v1::HealthFacility deleted;
  deleted.set_active(false);  // no code: the mapper ignored a jurisdiction
  Add(deleted, /*deactivation=*/true);
  existing_.push_back(Existing(Mapped("", "Facility without code"), "hf-uuid-0"));
  EXPECT_EQ(Run().results(0).action(), v1::WRITE_ACTION_NOOP);
}

}  // namespace
}  // namespace mflsync::writer
