#include "writer/facility_identity.h"

#include <gtest/gtest.h>

namespace mflsync::writer {
namespace {

v1::HealthFacility Sample() {
  v1::HealthFacility f;
  f.set_code("14180");
  f.set_name("Nanyuki Dispensary");
  f.set_level(v1::FACILITY_LEVEL_DISPENSARY);
  f.set_district_code("KE0101");
  f.set_district_uuid("d-uuid-1");
  f.set_active(true);
  return f;
}

TEST(FacilityIdentityTest, NameKey) {
  EXPECT_EQ(NameKey("  Nanyuki \t DISPENSARY "), "nanyuki dispensary");
  EXPECT_EQ(NameKey("  A\tB  c "), "a b c");
  EXPECT_EQ(NameKey(""), "");
}

TEST(FacilityIdentityTest, EqualityByPurpose) {
  v1::HealthFacility a = Sample();
  v1::HealthFacility b = a;
  EXPECT_TRUE(SameContent(a, b));
  b.set_phone("0700");  // content, not identity or the Location view
  EXPECT_FALSE(SameContent(a, b));
  EXPECT_TRUE(SameIdentity(a, b));
  EXPECT_TRUE(SameLocationView(a, b));
  b = a;
  b.set_active(false);  // status: content and the Location view
  EXPECT_FALSE(SameContent(a, b));
  EXPECT_FALSE(SameLocationView(a, b));
  EXPECT_TRUE(SameIdentity(a, b));
  b = a;
  b.set_district_uuid("d-uuid-2");
  EXPECT_FALSE(SameIdentity(a, b));
  b = a;
  b.set_name("Other");
  EXPECT_FALSE(SameIdentity(a, b));
  EXPECT_FALSE(SameLocationView(a, b));
}

TEST(FacilityIdentityTest, Describe) {
  v1::HealthFacility a = Sample();
  EXPECT_EQ(Describe(a), "'Nanyuki Dispensary' (HF code 14180, district KE0101)");
  a.set_uuid("hf-1");
  a.clear_district_code();
  EXPECT_EQ(Describe(a), "'Nanyuki Dispensary' (HF code 14180, openIMIS hf-1, district d-uuid-1)");
}

}  // namespace
}  // namespace mflsync::writer
