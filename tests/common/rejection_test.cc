#include "common/rejection.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace mflsync {
namespace {

TEST(RejectionTest, KeepsEachPartAndBoundsIt) {
  v1::Rejection r = MakeRejection("Location.name", "openimis.name.max_length", "Nanyuki",
                                  "The name is too long.");
  EXPECT_EQ(r.fhir_path(), "Location.name");
  EXPECT_EQ(r.rule(), "openimis.name.max_length");
  EXPECT_EQ(r.value(), "Nanyuki");
  EXPECT_EQ(r.message(), "The name is too long.");

  const std::string long_value(500, 'x');
  const std::string long_message(5000, 'm');
  r = MakeRejection(std::string(3000, 'p'), "rule", long_value, long_message);
  EXPECT_EQ(r.value().size(), 200u);
  EXPECT_EQ(r.fhir_path().size(), 1000u);
  EXPECT_EQ(r.message().size(), 2000u);
}

TEST(RejectionTest, ProtoStringsStayValidUtf8) {
  // 199 ASCII bytes then "é": the cut at 200 bytes must not split it.
  const std::string value = std::string(199, 'a') + "\xc3\xa9";
  v1::Rejection r = MakeRejection("Location.name", "rule", value, "bad \xff byte");
  EXPECT_EQ(r.value(), std::string(199, 'a'));
  EXPECT_EQ(r.message(), "bad ? byte");
}

TEST(RejectionTest, AddAppends) {
  std::vector<v1::Rejection> out;
  AddRejection(&out, "a", "r1", "", "m1");
  AddRejection(&out, "b", "r2", "v", "m2");
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].rule(), "r2");
  EXPECT_EQ(out[1].value(), "v");
}

}  // namespace
}  // namespace mflsync
