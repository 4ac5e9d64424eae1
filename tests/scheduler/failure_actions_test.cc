// Operators' actions on failure-queue entries as the state store keeps
// them: dismiss and reopen with who and why, links and acceptances of
// likely duplicates and the plan links they become.
#include "scheduler/failure_actions.h"

#include <gtest/gtest.h>

#include "absl/time/clock.h"
#include "scheduler/state_store.h"
#include "tests/scheduler/test_util.h"

namespace mflsync::scheduler {
namespace {

using testing::Parked;
using testing::TestRecord;

v1::FailureAction Act(v1::FailureActionKind kind, const std::string& who,
                      const std::string& why) {
  v1::FailureAction a;
  a.set_kind(kind);
  a.set_actor(who);
  a.set_reason(why);
  return a;
}

class FailureActionsTest : public testing::StateStoreFixture {
 protected:
  void SetUp() override {
    testing::StateStoreFixture::SetUp();
    RecordOutcome duplicate = Parked(TestRecord("fac-1", "1", 100), false, "likely duplicate");
    duplicate.stage = v1::FAILURE_STAGE_RECONCILE;
    ASSERT_TRUE(store_->CommitBatch("kenya", "run-000001",
                                    {duplicate, Parked(TestRecord("fac-2", "1", 100), false,
                                                       "unknown type")},
                                    std::nullopt, absl::Now())
                    .ok());
  }
};

TEST_F(FailureActionsTest, DismissAndReopenAreRecordedWithWhoAndWhy) {
  ASSERT_EQ(*store_->DismissFailures(
                {2}, Act(v1::FAILURE_ACTION_KIND_DISMISS, "alice", "closed in 2019"),
                absl::Now()),
            1);
  // Only a dismissed entry reopens; nothing changes otherwise.
  EXPECT_EQ(store_->ReopenFailures({1, 2}, Act(v1::FAILURE_ACTION_KIND_REOPEN, "bob", ""),
                                   absl::Now())
                .status()
                .code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->ReopenFailures({99}, Act(v1::FAILURE_ACTION_KIND_REOPEN, "bob", ""),
                                   absl::Now())
                .status()
                .code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GetFailure(2)->state(), v1::FAILURE_STATE_DISMISSED);
  ASSERT_EQ(*store_->ReopenFailures(
                {2}, Act(v1::FAILURE_ACTION_KIND_REOPEN, "bob", "reopened in 2024"),
                absl::Now()),
            1);
  v1::Failure f = *store_->GetFailure(2);
  EXPECT_EQ(f.state(), v1::FAILURE_STATE_OPEN);
  EXPECT_EQ(f.resolution(), "");
  ASSERT_EQ(f.actions_size(), 2);
  EXPECT_EQ(f.actions(0).kind(), v1::FAILURE_ACTION_KIND_DISMISS);
  EXPECT_EQ(f.actions(0).actor(), "alice");
  EXPECT_EQ(f.actions(0).reason(), "closed in 2019");
  EXPECT_EQ(f.actions(1).kind(), v1::FAILURE_ACTION_KIND_REOPEN);
  EXPECT_EQ(f.actions(1).actor(), "bob");
  EXPECT_TRUE(f.actions(1).has_acted_at());
  EXPECT_EQ(store_->GetFailure(1)->actions_size(), 0);
}

TEST_F(FailureActionsTest, OnlyAnOpenLikelyDuplicateIsLinkedAndItsLinkGoesToThePlan) {
  v1::FacilityLink link;
  link.set_hf_code("KE0042");
  link.set_actor("alice");
  link.set_reason("the same dispensary");
  auto refused = store_->LinkFailure(2, link, Act(v1::FAILURE_ACTION_KIND_LINK, "alice", "x"),
                                     absl::Now());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);  // stage MAP
  EXPECT_NE(refused.status().message().find("reconcile"), std::string::npos)
      << refused.status();
  auto linked = store_->LinkFailure(
      1, link, Act(v1::FAILURE_ACTION_KIND_LINK, "alice", "the same dispensary"), absl::Now());
  ASSERT_TRUE(linked.ok()) << linked.status();
  EXPECT_EQ(linked->location_id(), "fac-1");
  EXPECT_EQ(linked->source_id(), "kenya");
  v1::Failure f = *store_->GetFailure(1);
  EXPECT_EQ(f.link().hf_code(), "KE0042");
  ASSERT_EQ(f.actions_size(), 1);
  EXPECT_EQ(f.actions(0).kind(), v1::FAILURE_ACTION_KIND_LINK);
  auto plan = store_->PlanLinks("kenya", {"fac-1", "fac-2"});
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->size(), 1u);
  EXPECT_EQ((*plan)[0].location_id(), "fac-1");
  EXPECT_EQ((*plan)[0].hf_code(), "KE0042");
  EXPECT_FALSE((*plan)[0].accept_namesake());
  EXPECT_TRUE(store_->PlanLinks("other", {"fac-1"})->empty());
  // An acceptance replaces the link.
  v1::FacilityLink accept;
  accept.set_accept_namesake(true);
  ASSERT_TRUE(store_->LinkFailure(1, accept, Act(v1::FAILURE_ACTION_KIND_ACCEPT, "bob", "y"),
                                  absl::Now())
                  .ok());
  plan = store_->PlanLinks("kenya", {"fac-1"});
  ASSERT_EQ(plan->size(), 1u);
  EXPECT_TRUE((*plan)[0].accept_namesake());
  EXPECT_EQ((*plan)[0].hf_code(), "");
}

}  // namespace
}  // namespace mflsync::scheduler
