#include "scheduler/plan_diff.h"

#include <gtest/gtest.h>

namespace mflsync::scheduler {
namespace {

v1::HealthFacility Held() {
  v1::HealthFacility f;
  f.set_uuid("hf-uuid-1");
  f.set_code("14180");
  f.set_name("Nanyuki Disp.");
  f.set_level(v1::FACILITY_LEVEL_DISPENSARY);
  f.set_care_type(v1::CARE_TYPE_OUT_PATIENT);
  f.set_legal_form("G");
  f.set_district_uuid("d-uuid-1");
  f.set_district_code("KE0101");
  f.set_address("Nanyuki");
  f.set_active(true);
  return f;
}

TEST(PlanDiffTest, TheSameContentHasNoChange) {
  v1::HealthFacility planned = Held();
  planned.set_national_id("https://kmhfl.health.go.ke/facility-code|14180");  // not written
  EXPECT_TRUE(DiffFacilities(Held(), planned).empty());
}

TEST(PlanDiffTest, EachChangedFieldOldToNewInAFixedOrder) {
  v1::HealthFacility planned = Held();
  planned.set_name("Nanyuki Dispensary");
  planned.set_level(v1::FACILITY_LEVEL_HEALTH_CENTRE);
  planned.set_care_type(v1::CARE_TYPE_BOTH);
  planned.set_district_uuid("d-uuid-2");
  planned.set_district_code("KE0102");
  planned.set_phone("+254 700 000000");
  planned.set_active(false);
  std::vector<v1::FieldChange> changes = DiffFacilities(Held(), planned);
  ASSERT_EQ(changes.size(), 6u);
  const std::vector<std::vector<std::string>> want = {
      {"name", "Nanyuki Disp.", "Nanyuki Dispensary"},
      {"level", "dispensary", "health_centre"},
      {"care_type", "out_patient", "both"},
      {"district", "KE0101", "KE0102"},
      {"phone", "", "+254 700 000000"},
      {"status", "active", "inactive"}};
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(changes[i].field(), want[i][0]) << i;
    EXPECT_EQ(changes[i].old_value(), want[i][1]) << i;
    EXPECT_EQ(changes[i].new_value(), want[i][2]) << i;
  }
}

TEST(PlanDiffTest, ADistrictIsComparedByUuidAndShownByCode) {
  v1::HealthFacility held = Held();
  held.clear_district_code();  // the index may not know it
  v1::HealthFacility planned = Held();
  planned.set_district_uuid("d-uuid-2");
  std::vector<v1::FieldChange> changes = DiffFacilities(held, planned);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].old_value(), "d-uuid-1");
  EXPECT_EQ(changes[0].new_value(), "KE0101");
  // One code under two uuids: the uuids tell them apart.
  changes = DiffFacilities(Held(), planned);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].old_value(), "d-uuid-1");
  EXPECT_EQ(changes[0].new_value(), "d-uuid-2");
  // The same uuid is no change, whatever the codes say.
  planned = Held();
  planned.clear_district_code();
  EXPECT_TRUE(DiffFacilities(Held(), planned).empty());
}

TEST(PlanDiffTest, ActionsOfTheWritersDecisions) {
  v1::Reconciliation r;
  r.set_action(v1::WRITE_ACTION_CREATE);
  EXPECT_EQ(PlanActionOf(r), v1::PLAN_ACTION_CREATE);
  r.set_action(v1::WRITE_ACTION_NOOP);
  EXPECT_EQ(PlanActionOf(r), v1::PLAN_ACTION_NOOP);
  r.set_action(v1::WRITE_ACTION_REJECT);
  EXPECT_EQ(PlanActionOf(r), v1::PLAN_ACTION_REJECT);
  r.set_action(v1::WRITE_ACTION_UPDATE);
  *r.mutable_current() = Held();
  *r.mutable_facility() = Held();
  r.mutable_facility()->set_name("Renamed");
  EXPECT_EQ(PlanActionOf(r), v1::PLAN_ACTION_UPDATE);
  r.mutable_facility()->set_active(false);  // an active facility made inactive
  EXPECT_EQ(PlanActionOf(r), v1::PLAN_ACTION_DEACTIVATE);
  r.mutable_current()->set_active(false);  // inactive already: an update
  EXPECT_EQ(PlanActionOf(r), v1::PLAN_ACTION_UPDATE);
  r.set_action(v1::WRITE_ACTION_UNSPECIFIED);
  EXPECT_EQ(PlanActionOf(r), v1::PLAN_ACTION_UNSPECIFIED);
}

}  // namespace
}  // namespace mflsync::scheduler
