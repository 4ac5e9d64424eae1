#include "common/read_file.h"

#include <cstdio>
#include <fstream>

#include <gtest/gtest.h>

namespace mflsync {
namespace {

TEST(ReadTextFileTest, ReadsEveryByte) {
  const std::string path = ::testing::TempDir() + "/read_file_test.pem";
  std::ofstream(path, std::ios::binary) << std::string("line 1\nline 2\0tail", 18);
  absl::StatusOr<std::string> text = ReadTextFile(path);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, std::string("line 1\nline 2\0tail", 18));
  std::remove(path.c_str());
}

TEST(ReadTextFileTest, MissingFileNamesThePath) {
  absl::StatusOr<std::string> text = ReadTextFile("/nonexistent/mflsync/ca.pem");
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(text.status().message(), "/nonexistent/mflsync/ca.pem: cannot be read");
}

}  // namespace
}  // namespace mflsync
