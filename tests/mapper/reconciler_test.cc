#include "mapper/reconciler.h"

#include <gtest/gtest.h>

namespace mflsync::mapper {
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

// What the writer's index holds for a facility: UUIDs, no national id.
v1::HealthFacility Existing(const v1::HealthFacility& mapped, const std::string& uuid) {
  v1::HealthFacility e = mapped;
  e.set_uuid(uuid);
  e.set_district_uuid(mapped.district_code() == "KE0101" ? "d-uuid-1" : "d-uuid-2");
  e.clear_national_id();
  return e;
}

class ReconcilerTest : public ::testing::Test {
 protected:
  ReconcilerTest() {
    v1::District* d = request_.add_districts();
    d->set_uuid("d-uuid-1");
    d->set_code("KE0101");
    d->set_name("Laikipia East");
    d = request_.add_districts();
    d->set_uuid("d-uuid-2");
    d->set_code("KE0102");
    d->set_name("Laikipia West");
  }
  v1::ReconcileFacilitiesResponse Run() { return Reconciler().Reconcile(request_); }

  v1::ReconcileFacilitiesRequest request_;
};

TEST_F(ReconcilerTest, CreatesWhatOpenImisLacks) {
  *request_.add_facilities() = Mapped("14180", "Nanyuki Dispensary");
  auto resp = Run();
  ASSERT_EQ(resp.results_size(), 1);
  EXPECT_EQ(resp.results(0).action(), v1::WRITE_ACTION_CREATE);
  EXPECT_EQ(resp.results(0).facility().district_uuid(), "d-uuid-1");
  EXPECT_TRUE(resp.results(0).facility().uuid().empty());
  EXPECT_EQ(resp.results(0).facility().national_id(), std::string(kNat) + "14180");
}

TEST_F(ReconcilerTest, UpdatesTheSameFacilityByUuid) {
  v1::HealthFacility f = Mapped("14180", "Nanyuki Dispensary");
  v1::HealthFacility e = Existing(f, "hf-uuid-1");
  e.set_name("Nanyuki Disp.");
  *request_.add_existing() = e;
  *request_.add_facilities() = f;
  auto resp = Run();
  EXPECT_EQ(resp.results(0).action(), v1::WRITE_ACTION_UPDATE);
  EXPECT_EQ(resp.results(0).facility().uuid(), "hf-uuid-1");
  EXPECT_EQ(resp.results(0).facility().name(), "Nanyuki Dispensary");
}

TEST_F(ReconcilerTest, NoOpWhenOpenImisHoldsExactlyThis) {
  v1::HealthFacility f = Mapped("14180", "Nanyuki Dispensary");
  *request_.add_existing() = Existing(f, "hf-uuid-1");
  *request_.add_facilities() = f;
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
    request_.clear_facilities();
    *request_.add_facilities() = g;
    EXPECT_EQ(Run().results(0).action(), v1::WRITE_ACTION_UPDATE) << field;
  }
}

TEST_F(ReconcilerTest, SameNationalIdUpdatesThatUuidEvenWithANewCode) {
  v1::HealthFacility f = Mapped("X0000001", "Big Hospital");
  f.set_national_id(std::string(kNat) + "123456789");
  v1::HealthFacility e = Existing(Mapped("OLD1", "Big Hospital"), "hf-uuid-9");
  e.set_national_id(f.national_id());  // the writer remembered it
  *request_.add_existing() = e;
  *request_.add_facilities() = f;
  auto resp = Run();
  EXPECT_EQ(resp.results(0).action(), v1::WRITE_ACTION_UPDATE);
  EXPECT_EQ(resp.results(0).facility().uuid(), "hf-uuid-9");
  EXPECT_EQ(resp.results(0).facility().code(), "X0000001");
}

TEST_F(ReconcilerTest, RejectsADifferentFacilityWithTheSameCode) {
  v1::HealthFacility f = Mapped("14180", "Nanyuki Dispensary");
  v1::HealthFacility e = Existing(Mapped("14180", "Other Clinic"), "hf-uuid-2");
  e.set_national_id(std::string(kNat) + "99999");
  *request_.add_existing() = e;
  *request_.add_facilities() = f;
  auto resp = Run();
  ASSERT_EQ(resp.results(0).action(), v1::WRITE_ACTION_REJECT);
  const v1::Rejection& r = resp.results(0).rejections(0);
  EXPECT_EQ(r.rule(), "reconcile.duplicate.code");
  EXPECT_EQ(r.value(), "14180");
  EXPECT_NE(r.message().find("'Nanyuki Dispensary'"), std::string::npos) << r.message();
  EXPECT_NE(r.message().find("'Other Clinic'"), std::string::npos) << r.message();
  EXPECT_NE(r.message().find("hf-uuid-2"), std::string::npos);
}

TEST_F(ReconcilerTest, RejectsWhenTheCodeIsHeldByAnotherThanTheNationalIdMatch) {
  v1::HealthFacility f = Mapped("14180", "Nanyuki Dispensary");
  v1::HealthFacility mine = Existing(Mapped("OLD", "Nanyuki Dispensary"), "hf-uuid-1");
  mine.set_national_id(f.national_id());
  *request_.add_existing() = mine;
  *request_.add_existing() = Existing(Mapped("14180", "Someone Else"), "hf-uuid-2");
  *request_.add_facilities() = f;
  auto resp = Run();
  ASSERT_EQ(resp.results(0).action(), v1::WRITE_ACTION_REJECT);
  EXPECT_EQ(resp.results(0).rejections(0).rule(), "reconcile.duplicate.code");
  EXPECT_NE(resp.results(0).rejections(0).message().find("hf-uuid-1"), std::string::npos);
  EXPECT_NE(resp.results(0).rejections(0).message().find("hf-uuid-2"), std::string::npos);
}

TEST_F(ReconcilerTest, RejectsTheSameNameInTheSameDistrict) {
  *request_.add_existing() = Existing(Mapped("20000", "Nanyuki  DISPENSARY"), "hf-uuid-5");
  *request_.add_facilities() = Mapped("14180", "Nanyuki Dispensary");
  *request_.add_facilities() = Mapped("14181", "Nanyuki Dispensary", "KE0102");  // other district
  auto resp = Run();
  ASSERT_EQ(resp.results(0).action(), v1::WRITE_ACTION_REJECT);
  const v1::Rejection& r = resp.results(0).rejections(0);
  EXPECT_EQ(r.rule(), "reconcile.duplicate.name_in_district");
  EXPECT_EQ(r.fhir_path(), "Location.name");
  EXPECT_NE(r.message().find("20000"), std::string::npos);
  EXPECT_NE(r.message().find("14180"), std::string::npos);
  EXPECT_EQ(resp.results(1).action(), v1::WRITE_ACTION_CREATE);
}

TEST_F(ReconcilerTest, DuplicatesWithinABatch) {
  *request_.add_facilities() = Mapped("14180", "Nanyuki Dispensary");
  *request_.add_facilities() = Mapped("14180", "Another Name");
  *request_.add_facilities() = Mapped("14182", "nanyuki dispensary");
  auto resp = Run();
  EXPECT_EQ(resp.results(0).action(), v1::WRITE_ACTION_CREATE);
  ASSERT_EQ(resp.results(1).action(), v1::WRITE_ACTION_REJECT);
  EXPECT_EQ(resp.results(1).rejections(0).rule(), "reconcile.duplicate.code_in_batch");
  ASSERT_EQ(resp.results(2).action(), v1::WRITE_ACTION_REJECT);
  EXPECT_EQ(resp.results(2).rejections(0).rule(), "reconcile.duplicate.name_in_batch");
}

TEST_F(ReconcilerTest, UnknownDistrict) {
  *request_.add_facilities() = Mapped("14180", "Nanyuki Dispensary", "KE9999");
  auto resp = Run();
  ASSERT_EQ(resp.results(0).action(), v1::WRITE_ACTION_REJECT);
  EXPECT_EQ(resp.results(0).rejections(0).rule(), "openimis.district.unknown");
  EXPECT_EQ(resp.results(0).rejections(0).value(), "KE9999");
  request_.clear_districts();
  EXPECT_EQ(Run().results(0).action(), v1::WRITE_ACTION_REJECT);
}

TEST_F(ReconcilerTest, Deactivations) {
  v1::HealthFacility deleted;
  deleted.set_code("14180");
  deleted.set_national_id(std::string(kNat) + "14180");
  deleted.set_active(false);
  *request_.add_facilities() = deleted;
  // openIMIS never had it: nothing to do.
  EXPECT_EQ(Run().results(0).action(), v1::WRITE_ACTION_NOOP);
  // openIMIS has it active: update with everything else kept.
  v1::HealthFacility held = Existing(Mapped("14180", "Nanyuki Dispensary"), "hf-uuid-1");
  *request_.add_existing() = held;
  auto resp = Run();
  ASSERT_EQ(resp.results(0).action(), v1::WRITE_ACTION_UPDATE);
  EXPECT_EQ(resp.results(0).facility().uuid(), "hf-uuid-1");
  EXPECT_EQ(resp.results(0).facility().name(), "Nanyuki Dispensary");
  EXPECT_EQ(resp.results(0).facility().legal_form(), "G");
  EXPECT_FALSE(resp.results(0).facility().active());
  // Already inactive: no-op.
  request_.mutable_existing(0)->set_active(false);
  EXPECT_EQ(Run().results(0).action(), v1::WRITE_ACTION_NOOP);
}

TEST_F(ReconcilerTest, DeletionOfANonFacilityIsANoOp) {
  v1::HealthFacility deleted;
  deleted.set_active(false);  // no code: the mapper ignored a jurisdiction
  *request_.add_facilities() = deleted;
  v1::HealthFacility odd = Existing(Mapped("", "Facility without code"), "hf-uuid-0");
  *request_.add_existing() = odd;
  EXPECT_EQ(Run().results(0).action(), v1::WRITE_ACTION_NOOP);
}

TEST(ReconcilerStaticTest, NameKey) {
  EXPECT_EQ(Reconciler::NameKey("  Nanyuki \t DISPENSARY "), "nanyuki dispensary");
}

}  // namespace
}  // namespace mflsync::mapper
