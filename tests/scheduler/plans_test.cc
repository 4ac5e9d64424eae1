#include "scheduler/plans.h"

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "scheduler/state_store.h"
#include "tests/scheduler/test_util.h"

namespace mflsync::scheduler {
namespace {

v1::PlanEntry Entry(const std::string& id, v1::PlanAction action, int64_t lu_s = 100) {
  v1::PlanEntry e;
  e.set_location_id(id);
  e.set_version_id("1");
  *e.mutable_last_updated() = FromMicros(lu_s * 1000000);
  e.set_action(action);
  e.set_code(id);
  return e;
}

class PlansTest : public testing::StateStoreFixture {
 protected:
  v1::Run Finished(bool dry_run, v1::RunState state = v1::RUN_STATE_SUCCEEDED,
                   v1::RunTrigger trigger = v1::RUN_TRIGGER_MANUAL) {
    auto run = store_->CreateRun("kenya", trigger, false, std::nullopt, absl::Now(), dry_run);
    EXPECT_TRUE(run.ok()) << run.status();
    run->set_state(state);
    EXPECT_TRUE(store_->UpdateRun(*run).ok());
    return *run;
  }
};

TEST_F(PlansTest, APlanListsItsChangesPageByPageAndCountsEverything) {
  v1::Run run = Finished(/*dry_run=*/true);
  EXPECT_TRUE(run.dry_run());
  EXPECT_TRUE(store_->GetRun(run.run_id())->dry_run());
  std::vector<v1::PlanEntry> entries = {
      Entry("a", v1::PLAN_ACTION_CREATE),     Entry("b", v1::PLAN_ACTION_NOOP),
      Entry("c", v1::PLAN_ACTION_UPDATE),     Entry("d", v1::PLAN_ACTION_SKIP),
      Entry("e", v1::PLAN_ACTION_DEACTIVATE), Entry("f", v1::PLAN_ACTION_REJECT),
      Entry("g", v1::PLAN_ACTION_STALE),      Entry("h", v1::PLAN_ACTION_REJECT)};
  ASSERT_TRUE(store_->RecordPlan("kenya", run.run_id(), {}, entries).ok());
  // The same versions again (a resumed fetch) are kept once.
  ASSERT_TRUE(store_->RecordPlan("kenya", run.run_id(), {}, {entries[0], entries[2]}).ok());
  std::string next;
  std::vector<std::string> ids;
  std::string token;
  do {
    auto page = store_->ListPlan(run.run_id(), false, 2, token, &next);
    ASSERT_TRUE(page.ok()) << page.status();
    EXPECT_LE(page->size(), 2u);
    for (const v1::PlanEntry& e : *page) ids.push_back(e.location_id());
    token = next;
  } while (!token.empty());
  EXPECT_EQ(ids, (std::vector<std::string>{"a", "c", "e", "f", "h"}));
  EXPECT_EQ(store_->ListPlan(run.run_id(), true, 100, "", &next)->size(), 8u);
  auto counts = store_->PlanCounts(run.run_id());
  ASSERT_TRUE(counts.ok()) << counts.status();
  EXPECT_EQ(counts->creates(), 1);
  EXPECT_EQ(counts->updates(), 1);
  EXPECT_EQ(counts->deactivations(), 1);
  EXPECT_EQ(counts->noops(), 1);
  EXPECT_EQ(counts->rejected(), 2);
  EXPECT_EQ(counts->skipped(), 1);
  EXPECT_EQ(counts->stale(), 1);
  EXPECT_EQ(store_->ListPlan(run.run_id(), false, 2, "x", &next).status().code(),
            absl::StatusCode::kInvalidArgument);
  // A pruned run takes its plan with it.
  Finished(false);
  ASSERT_TRUE(store_->PruneRuns(1).ok());
  EXPECT_TRUE(store_->ListPlan(run.run_id(), true, 100, "", &next)->empty());
}

TEST_F(PlansTest, PlannedVersionsFromATime) {
  v1::Run run = Finished(true, v1::RUN_STATE_RUNNING);
  ASSERT_TRUE(store_->RecordPlan("kenya", run.run_id(), {},
                                 {Entry("a", v1::PLAN_ACTION_CREATE, 100),
                                  Entry("b", v1::PLAN_ACTION_CREATE, 200)})
                  .ok());
  auto planned = store_->Planned(run.run_id(), absl::FromUnixSeconds(150), 10);
  ASSERT_TRUE(planned.ok()) << planned.status();
  ASSERT_EQ(planned->size(), 1u);
  EXPECT_EQ((*planned)[0].location_id(), "b");
}

TEST_F(PlansTest, ARealRunNeedsASucceededSyncOrAnApprovedPlan) {
  EXPECT_TRUE(*store_->Empty());
  EXPECT_FALSE(*store_->RealRunAllowed("kenya"));
  Finished(true);  // a dry run is no real sync
  Finished(false, v1::RUN_STATE_FAILED);
  Finished(false, v1::RUN_STATE_SUCCEEDED, v1::RUN_TRIGGER_PUSH);
  Finished(false, v1::RUN_STATE_SUCCEEDED, v1::RUN_TRIGGER_RETRY);
  EXPECT_FALSE(*store_->Empty());
  EXPECT_FALSE(*store_->RealRunAllowed("kenya"));
  v1::Run dry = Finished(true);
  auto approval = store_->ApprovePlan(dry.run_id(), "kenya", "operator-ana", "reviewed",
                                      absl::FromUnixSeconds(1000));
  ASSERT_TRUE(approval.ok()) << approval.status();
  EXPECT_EQ(approval->run_id(), dry.run_id());
  EXPECT_EQ(approval->source_id(), "kenya");
  EXPECT_EQ(approval->approved_by(), "operator-ana");
  EXPECT_EQ(approval->reason(), "reviewed");
  // Approving again keeps the first approval.
  auto again = store_->ApprovePlan(dry.run_id(), "kenya", "someone-else", "again",
                                   absl::FromUnixSeconds(2000));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->approved_at().seconds(), 1000);
  EXPECT_EQ(again->approved_by(), "operator-ana");
  EXPECT_TRUE(*store_->RealRunAllowed("kenya"));
  // An approval counts only from the time given on.
  EXPECT_TRUE(*store_->RealRunAllowed("kenya", absl::FromUnixSeconds(1000)));
  EXPECT_FALSE(*store_->RealRunAllowed("kenya", absl::FromUnixSeconds(1001)));
  EXPECT_FALSE(*store_->RealRunAllowed("uganda"));
  EXPECT_TRUE(store_->PlanApprovalOf(dry.run_id())->has_value());
  // The approval outlives the run's history.
  ASSERT_TRUE(store_->PruneRuns(1).ok());
  EXPECT_TRUE(*store_->RealRunAllowed("kenya"));
}

TEST_F(PlansTest, ASucceededRealSyncAllowsRealRunsAndDryRunsDoNotCountForSchedules) {
  Finished(true);
  EXPECT_FALSE(store_->LastSyncStart("kenya")->has_value()) << "a dry run moved the schedule";
  Finished(false, v1::RUN_STATE_SUCCEEDED, v1::RUN_TRIGGER_SCHEDULE);
  EXPECT_TRUE(store_->LastSyncStart("kenya")->has_value());
  EXPECT_TRUE(*store_->RealRunAllowed("kenya"));
}

}  // namespace
}  // namespace mflsync::scheduler
