#include "common/json_access.h"

#include <gtest/gtest.h>

namespace mflsync {
namespace {

TEST(JsonAccessTest, StringAtReadsStringsAndNothingElse) {
  const nlohmann::json doc = {{"name", "Rundu"}, {"n", 3}, {"none", nullptr},
                              {"list", {"a"}}};
  EXPECT_EQ(StringAt(doc, "name"), "Rundu");
  EXPECT_EQ(StringAt(doc, "n"), "");
  EXPECT_EQ(StringAt(doc, "none"), "");
  EXPECT_EQ(StringAt(doc, "list"), "");
  EXPECT_EQ(StringAt(doc, "absent"), "");
  EXPECT_EQ(StringAt(nlohmann::json::array({"name"}), "name"), "");
  EXPECT_EQ(StringAt(nlohmann::json("text"), "name"), "");
}

}  // namespace
}  // namespace mflsync
