// Test fixture base: one openIMIS stand-in (`--fast`) shared by a test suite,
// started before its first test and wiped (facilities, faults, stats) before
// each test.
#ifndef MFLSYNC_TESTS_WRITER_STANDIN_SUITE_H_
#define MFLSYNC_TESTS_WRITER_STANDIN_SUITE_H_

#include <gtest/gtest.h>

#include "tests/writer/standin_process.h"

namespace mflsync::writer::testing {

class StandinSuite : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto standin = OpenImisStandin::Start({"--fast"});
    ASSERT_TRUE(standin.ok()) << standin.status();
    standin_ = standin->release();
  }
  static void TearDownTestSuite() {
    delete standin_;
    standin_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(standin_, nullptr);
    standin_->Reset();
  }

  inline static OpenImisStandin* standin_ = nullptr;
};

}  // namespace mflsync::writer::testing

#endif  // MFLSYNC_TESTS_WRITER_STANDIN_SUITE_H_
