#include "common/utf8.h"

#include <gtest/gtest.h>

namespace mflsync {
namespace {

TEST(Utf8Test, CutNeverSplitsACharacter) {
  const std::string text = "Kisumu \xc3\xa9t\xe2\x82\xac";  // "Kisumu été€" in part
  EXPECT_EQ(SafeUtf8(text, 100), text);
  EXPECT_EQ(SafeUtf8(text, 8), "Kisumu ");  // byte 8 is inside é
  EXPECT_EQ(SafeUtf8(text, 9), "Kisumu \xc3\xa9");
  EXPECT_EQ(SafeUtf8(text, 11), "Kisumu \xc3\xa9t");  // € not split
  EXPECT_EQ(SafeUtf8("", 3), "");
}

TEST(Utf8Test, InvalidBytesBecomeQuestionMarks) {
  EXPECT_EQ(SafeUtf8("a\xff" "b\xc3", 10), "a?b?");
  EXPECT_EQ(SafeUtf8("\xc0\x80", 10), "??");  // overlong NUL
}

TEST(Utf8Test, OneLineReplacesControlsAndMarksACut) {
  EXPECT_EQ(OneLine("a\nb\tc\x01", 100), "a b c ");
  EXPECT_EQ(OneLine("abcdef", 3), "abc...");
  EXPECT_EQ(OneLine("abc", 3), "abc");
}

}  // namespace
}  // namespace mflsync
