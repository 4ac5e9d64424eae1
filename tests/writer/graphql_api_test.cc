#include "writer/graphql_api.h"

#include <gtest/gtest.h>

namespace mflsync::writer {
namespace {

using nlohmann::json;

const json kInput = json::object();

std::vector<MutationAsk> Asks(int n) {
  std::vector<MutationAsk> asks;
  for (int i = 0; i < n; ++i) {
    asks.push_back({"createHealthFacility", "CreateHealthFacilityMutationInput", &kInput,
                    "createHealthFacility of HF code C" + std::to_string(i)});
  }
  return asks;
}

TEST(MutationAnswersTest, EveryAnsweredFieldRan) {
  const json answer = {{"data", {{"m0", {{"clientMutationId", "a"}}},
                                 {"m1", {{"clientMutationId", "b"}}}}}};
  const std::vector<MutationAnswer> out = MutationAnswers(Asks(2), answer, 200);
  ASSERT_EQ(out.size(), 2u);
  for (const MutationAnswer& a : out) {
    EXPECT_TRUE(a.status.ok()) << a.status;
    EXPECT_FALSE(a.send_alone);
    EXPECT_EQ(a.http_status, 200);
  }
}

// The released server refuses a request of several mutations as a whole
// (HTTP 400: a code over 8 characters, a value of the wrong type) before
// any of them runs: each is sent again alone to learn which it was.
TEST(MutationAnswersTest, ARequestRefusedWholeIsSentAgainOneByOne) {
  const absl::StatusOr<json> refused =
      absl::InvalidArgumentError("openIMIS refused the request (HTTP 400): "
                                 "core.string.over_max_length");
  for (const MutationAnswer& a : MutationAnswers(Asks(3), refused, 400)) {
    EXPECT_TRUE(a.send_alone);
  }
  const std::vector<MutationAnswer> alone = MutationAnswers(Asks(1), refused, 400);
  EXPECT_FALSE(alone[0].send_alone) << "one alone is refused itself";
  EXPECT_EQ(alone[0].status.code(), absl::StatusCode::kInvalidArgument);

  const json errors_only = {{"errors", {{{"message", "Variable \"$i1\" got invalid value"}}}},
                            {"data", nullptr}};
  for (const MutationAnswer& a : MutationAnswers(Asks(2), errors_only, 200)) {
    EXPECT_TRUE(a.send_alone);
  }
}

TEST(MutationAnswersTest, AFieldAnErrorNamesIsRefusedAndTheOthersRan) {
  const json answer = {
      {"data", {{"m0", {{"clientMutationId", "a"}}}, {"m1", nullptr}}},
      {"errors", {{{"message", "permission denied"}, {"path", {"m1"}}}}}};
  const std::vector<MutationAnswer> out = MutationAnswers(Asks(2), answer, 200);
  EXPECT_TRUE(out[0].status.ok());
  EXPECT_EQ(out[1].status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(out[1].status.message().find("HF code C1: permission denied"), std::string::npos)
      << out[1].status;
  EXPECT_FALSE(out[1].send_alone);
}

// A lost answer leaves every mutation of the request unknown: each is
// resolved by its own mutation log, never sent again blindly.
TEST(MutationAnswersTest, ALostAnswerIsEveryMutationsFault) {
  const absl::StatusOr<json> lost = absl::DeadlineExceededError(
      "a request of 4 health-facility mutations: timed out after 60 s");
  const std::vector<MutationAnswer> out = MutationAnswers(Asks(4), lost, 0);
  for (size_t i = 0; i < out.size(); ++i) {
    EXPECT_EQ(out[i].status.code(), absl::StatusCode::kDeadlineExceeded);
    EXPECT_EQ(out[i].status.message(),
              "createHealthFacility of HF code C" + std::to_string(i) +
                  ": a request of 4 health-facility mutations: timed out after 60 s");
    EXPECT_FALSE(out[i].send_alone);
  }
}

}  // namespace
}  // namespace mflsync::writer
