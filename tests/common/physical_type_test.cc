#include "common/physical_type.h"

#include <string>

#include <gtest/gtest.h>

namespace mflsync {
namespace {

v1::PhysicalType Of(const char* location_json) {
  return PhysicalTypeOf(nlohmann::json::parse(location_json));
}

std::vector<std::string> Codes(const v1::PhysicalType& physical_type) {
  return {physical_type.codes().begin(), physical_type.codes().end()};
}

TEST(PhysicalTypeTest, ReadsEveryCodingsCodeInOrder) {
  EXPECT_EQ(Codes(Of(R"({"physicalType":{"coding":[{"system":"s","code":"jdn"},{"code":"area"}]}})")),
            (std::vector<std::string>{"jdn", "area"}));
  EXPECT_EQ(Codes(Of(R"({"physicalType":{"coding":[{"code":"si"}]}})")),
            (std::vector<std::string>{"si"}));
}

TEST(PhysicalTypeTest, NothingWhenAbsentOrAnyCodingIsMalformed) {
  for (const char* json : {R"({"name":"x"})", R"({"physicalType":"jdn"})",
                           R"({"physicalType":{"text":"jurisdiction"}})",
                           R"({"physicalType":{"coding":{"code":"jdn"}}})",
                           R"({"physicalType":{"coding":[{"code":"jdn"},"si"]}})",
                           R"({"physicalType":{"coding":[{"code":"jdn"},{"display":"Site"}]}})",
                           R"({"physicalType":{"coding":[{"code":"jdn"},{"code":7}]}})", "[1]"}) {
    EXPECT_TRUE(Of(json).codes().empty()) << json;
  }
}

TEST(PhysicalTypeTest, CodesAreCutToValidUtf8) {
  const std::string long_code(100, 'x');
  const v1::PhysicalType pt =
      PhysicalTypeOf(nlohmann::json{{"physicalType", {{"coding", {{{"code", long_code}}}}}}});
  ASSERT_EQ(pt.codes_size(), 1);
  EXPECT_EQ(pt.codes(0), std::string(64, 'x'));
}

TEST(PhysicalTypeTest, NotASiteUnlessSiOrUnknown) {
  v1::PhysicalType pt;
  EXPECT_EQ(NotASite(pt), "") << "no codes: the mapper judges";
  pt.add_codes("jdn");
  EXPECT_EQ(NotASite(pt), "physicalType jdn: not a site (si)");
  pt.add_codes("wa");
  EXPECT_EQ(NotASite(pt), "physicalType jdn,wa: not a site (si)");
  pt.add_codes("si");
  EXPECT_EQ(NotASite(pt), "") << "a site among its codes";
}

}  // namespace
}  // namespace mflsync
