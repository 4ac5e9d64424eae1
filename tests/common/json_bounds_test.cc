#include "common/json_bounds.h"

#include <string>

#include <gtest/gtest.h>

namespace mflsync {
namespace {

TEST(JsonBoundsTest, OrdinaryJsonPasses) {
  EXPECT_TRUE(CheckJsonBounds(R"({"a":[1,{"b":"x\"]]]]"}],"c":"}}}}"})").ok());
  EXPECT_TRUE(CheckJsonBounds("").ok());
  EXPECT_TRUE(CheckJsonBounds(std::string(64, '[') + std::string(64, ']')).ok());
}

TEST(JsonBoundsTest, DeepNestingIsRefusedWithTheOffset) {
  const std::string deep = std::string(65, '[') + std::string(65, ']');
  absl::Status s = CheckJsonBounds(deep);
  ASSERT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "JSON nested deeper than 64 levels at byte 64");
  // Brackets inside strings do not count.
  EXPECT_TRUE(CheckJsonBounds("\"" + std::string(1000, '[') + "\"").ok());
  EXPECT_FALSE(CheckJsonBounds(R"({"a":{"b":{}}})", JsonBounds{.max_depth = 2}).ok());
}

TEST(JsonBoundsTest, LongStringIsRefusedWithItsStart) {
  const std::string body = R"({"name":")" + std::string(2000, 'x') + "\"}";
  absl::Status s = CheckJsonBounds(body, JsonBounds{.max_string_bytes = 1000});
  ASSERT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "a JSON string longer than 1000 bytes starts at byte 8");
  EXPECT_TRUE(CheckJsonBounds(body, JsonBounds{.max_string_bytes = 2001}).ok());
  // An escaped quote does not end the string.
  const std::string escaped = "\"" + std::string(600, '\\') + std::string(600, 'x') + "\"";
  EXPECT_FALSE(CheckJsonBounds(escaped, JsonBounds{.max_string_bytes = 1000}).ok());
}

}  // namespace
}  // namespace mflsync
