#include "common/facility_fields.h"

#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace mflsync {
namespace {

TEST(FacilityFieldsTest, TheWrittenFieldsInTheirOrder) {
  std::vector<std::string> names;
  for (const FacilityField& f : WrittenFacilityFields()) names.push_back(f.name);
  EXPECT_EQ(names, (std::vector<std::string>{"code", "name", "level", "care_type", "legal_form",
                                             "district", "address", "phone", "fax", "email",
                                             "status"}));
}

TEST(FacilityFieldsTest, EachFieldComparesAndReadsItsOwnValue) {
  v1::HealthFacility a;
  a.set_level(v1::FACILITY_LEVEL_HEALTH_CENTRE);
  a.set_care_type(v1::CARE_TYPE_OUT_PATIENT);
  a.set_district_uuid("d-uuid-1");
  a.set_district_code("KE0101");
  a.set_phone("0700");
  a.set_active(true);
  v1::HealthFacility b = a;
  b.set_national_id("not written");  // not a written field
  b.set_uuid("hf-1");
  for (const FacilityField& f : WrittenFacilityFields()) EXPECT_TRUE(f.same(a, b)) << f.name;
  std::map<std::string, std::string> text;
  for (const FacilityField& f : WrittenFacilityFields()) text[f.name] = f.text(a);
  EXPECT_EQ(text["level"], "health_centre");
  EXPECT_EQ(text["care_type"], "out_patient");
  EXPECT_EQ(text["district"], "KE0101");
  EXPECT_EQ(text["phone"], "0700");
  EXPECT_EQ(text["status"], "active");
  EXPECT_EQ(text["code"], "");
  b.set_district_uuid("d-uuid-2");  // the same code, another district uuid
  for (const FacilityField& f : WrittenFacilityFields()) {
    EXPECT_EQ(f.same(a, b), std::string(f.name) != "district") << f.name;
    EXPECT_EQ(f.exact != nullptr, std::string(f.name) == "district") << f.name;
  }
}

}  // namespace
}  // namespace mflsync
