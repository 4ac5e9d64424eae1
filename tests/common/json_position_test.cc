#include "common/json_position.h"

#include <gtest/gtest.h>

#include <string>

namespace mflsync {
namespace {

TEST(PositionOfByteTest, CountsLinesAndColumnsFromOne) {
  const std::string text = "{\n  \"a\": 1,\n  \"b\" 2\n}";
  // bytes_read 1 is the first byte.
  EXPECT_EQ(PositionOfByte(text, 1).line, 1u);
  EXPECT_EQ(PositionOfByte(text, 1).column, 1u);
  // The '2' on line 3: "{\n" (2) + "  \"a\": 1,\n" (10) + "  \"b\" " (6) → byte 19.
  EXPECT_EQ(text[18], '2');
  EXPECT_EQ(PositionOfByte(text, 19).line, 3u);
  EXPECT_EQ(PositionOfByte(text, 19).column, 7u);
  // A newline belongs to the line it ends.
  EXPECT_EQ(text[1], '\n');
  EXPECT_EQ(PositionOfByte(text, 2).line, 1u);
  EXPECT_EQ(PositionOfByte(text, 2).column, 2u);
  EXPECT_EQ(PositionOfByte(text, 3).line, 2u);
  EXPECT_EQ(PositionOfByte(text, 3).column, 1u);
}

TEST(PositionOfByteTest, PastTheEndIsJustAfterTheLastByte) {
  EXPECT_EQ(PositionOfByte("ab\ncd", 99).line, 2u);
  EXPECT_EQ(PositionOfByte("ab\ncd", 99).column, 3u);
  EXPECT_EQ(PositionOfByte("", 1).line, 1u);
  EXPECT_EQ(PositionOfByte("", 1).column, 1u);
  EXPECT_EQ(PositionOfByte("abc", 0).column, 1u);
}

TEST(DescribeJsonSyntaxErrorTest, NamesLineColumnAndReason) {
  const std::string text = "{\n  \"a\": 1,\n  \"b\" 2\n}";
  try {
    nlohmann::json parsed = nlohmann::json::parse(text);
    FAIL() << "parsed: " << parsed.dump();
  } catch (const nlohmann::json::parse_error& e) {
    EXPECT_EQ(DescribeJsonSyntaxError(text, e),
              "syntax error at line 3, column 7: syntax error while parsing object separator "
              "- unexpected number literal; expected ':'");
  }
}

}  // namespace
}  // namespace mflsync
