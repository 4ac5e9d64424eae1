#include "scheduler/run_manager.h"

#include <atomic>
#include <filesystem>
#include <memory>
#include <thread>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "testbed/peers/in_memory_peers.h"
#include "tests/scheduler/test_util.h"

namespace mflsync::scheduler {
namespace {

using testing::InMemoryPeers;

class RunManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::FreshTestDir("rm_");
    OpenStore(RetryPolicy{absl::Seconds(30), absl::Hours(1), 10});
    orchestrator_.batch_size = 4;
    options_.sources["test"] = SourceConfig{*Schedule::Parse(""), true};
    options_.tick = absl::Milliseconds(20);
    options_.retry_check_interval = absl::Milliseconds(20);
    for (int i = 0; i < 12; ++i) {
      peers_.Put(absl::StrCat("f", i), absl::StrCat("Facility ", i), 1000 + i);
    }
  }
  void TearDown() override {
    manager_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  void OpenStore(RetryPolicy retry) {
    manager_.reset();
    store_.reset();
    auto s = StateStore::Open((dir_ / "s.db").string(), retry);
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = *std::move(s);
  }
  RunManager& Manager() {
    manager_ = std::make_unique<RunManager>(*store_, peers_, orchestrator_, options_);
    EXPECT_TRUE(manager_->Start().ok());
    return *manager_;
  }
  std::vector<v1::Failure> Open() {
    std::string next;
    return *store_->ListFailures("test", v1::FAILURE_STATE_OPEN, 1000, "", &next);
  }

  std::filesystem::path dir_;
  std::unique_ptr<StateStore> store_;
  InMemoryPeers peers_;
  OrchestratorOptions orchestrator_;
  RunManagerOptions options_;
  std::unique_ptr<RunManager> manager_;
};

TEST_F(RunManagerTest, OneRunAtATimeAndWatchSeesItEnd) {
  peers_.block_at_page = 1;
  RunManager& m = Manager();
  auto first = m.TriggerSync("", false, v1::RUN_TRIGGER_MANUAL);  // "" = the only source
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(first->already_running);
  EXPECT_EQ(first->run.source_id(), "test");
  ASSERT_TRUE(peers_.WaitBlocked());
  auto second = m.TriggerSync("test", false, v1::RUN_TRIGGER_MANUAL);
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(second->already_running);
  EXPECT_EQ(second->run.run_id(), first->run.run_id());
  EXPECT_EQ(m.RetryFailures({}, true, "test").status().code(),
            absl::StatusCode::kFailedPrecondition);  // nothing open
  std::vector<v1::Run> updates;
  absl::Notification watching;  // the watcher saw the run running: release it then
  std::thread watcher([&] {
    absl::Status s = m.WatchRun(first->run.run_id(),
                                [&](const v1::Run& r) {
                                  updates.push_back(r);
                                  if (!watching.HasBeenNotified()) watching.Notify();
                                  return true;
                                },
                                [] { return false; });
    EXPECT_TRUE(s.ok()) << s;
  });
  watching.WaitForNotification();
  peers_.Release();
  watcher.join();
  ASSERT_GE(updates.size(), 2u);
  EXPECT_EQ(updates.front().state(), v1::RUN_STATE_RUNNING);
  EXPECT_EQ(updates.back().state(), v1::RUN_STATE_SUCCEEDED);
  for (size_t i = 0; i + 1 < updates.size(); ++i) {
    EXPECT_EQ(updates[i].state(), v1::RUN_STATE_RUNNING) << "final state sent twice";
  }
  EXPECT_EQ(updates.back().counts().created(), 12);
  EXPECT_GT(updates.back().duration_millis(), -1);
  ASSERT_TRUE(m.WaitIdle("test", absl::Seconds(30)));
  // A new trigger after the end starts a new run.
  auto third = m.TriggerSync("test", false, v1::RUN_TRIGGER_MANUAL);
  ASSERT_TRUE(third.ok());
  EXPECT_NE(third->run.run_id(), first->run.run_id());
  ASSERT_TRUE(m.WaitIdle("test", absl::Seconds(30)));
  EXPECT_EQ(m.GetRun(third->run.run_id())->counts().fetched(), 0);
}

// The state folder turns read-only mid-run: the run fails naming the file
// and the cause, is shown failed at once (never "running"), and its end is
// saved as soon as the file can be written again.
TEST_F(RunManagerTest, ARunEndingOnAReadOnlyStoreIsShownFailedThenSaved) {
  peers_.block_at_page = 1;
  RunManager& m = Manager();
  auto run = m.TriggerSync("test", false, v1::RUN_TRIGGER_MANUAL);
  ASSERT_TRUE(run.ok()) << run.status();
  ASSERT_TRUE(peers_.WaitBlocked());
  ASSERT_TRUE(store_->SetQueryOnly(true).ok());
  peers_.Release();
  ASSERT_TRUE(m.WaitIdle("test", absl::Seconds(30)));
  auto shown = m.GetRun(run->run.run_id());
  ASSERT_TRUE(shown.ok()) << shown.status();
  EXPECT_EQ(shown->state(), v1::RUN_STATE_FAILED);
  EXPECT_NE(shown->error().find("s.db cannot be written"), std::string::npos) << shown->error();
  EXPECT_EQ(store_->GetRun(run->run.run_id())->state(), v1::RUN_STATE_RUNNING);

  ASSERT_TRUE(store_->SetQueryOnly(false).ok());
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline &&
         store_->GetRun(run->run.run_id())->state() == v1::RUN_STATE_RUNNING) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_EQ(store_->GetRun(run->run.run_id())->state(), v1::RUN_STATE_FAILED);
  // Nothing was journaled as done, so the next run writes every facility.
  auto next = m.TriggerSync("test", false, v1::RUN_TRIGGER_MANUAL);
  ASSERT_TRUE(next.ok()) << next.status();
  ASSERT_TRUE(m.WaitIdle("test", absl::Seconds(30)));
  EXPECT_EQ(m.GetRun(next->run.run_id())->state(), v1::RUN_STATE_SUCCEEDED);
  EXPECT_EQ(peers_.openimis().size(), 12u);
}

// The runs of the source, newest first.
std::vector<v1::Run> Runs(StateStore& store) {
  std::string next;
  return *store.ListRuns("test", 100, "", &next);
}

// Waits (up to 20 s) until the source has `n` runs.
void WaitForRuns(StateStore& store, size_t n) {
  absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (absl::Now() < deadline && Runs(store).size() < n) absl::SleepFor(absl::Milliseconds(10));
}

// A failed sync (the fetcher's first answer fails) shows when it runs again
// and then does so by itself (trigger rerun), which succeeds.
TEST_F(RunManagerTest, AFailedSyncRunsAgainByItself) {
  orchestrator_.peer_attempts = 1;  // a fetch error fails the run at once
  orchestrator_.peer_outage = absl::ZeroDuration();
  options_.rerun_backoff = absl::Milliseconds(50);
  peers_.fetch_error_after_pages = 0;
  peers_.fetch_errors = 1;
  RunManager& m = Manager();
  ASSERT_TRUE(m.TriggerSync("test", false, v1::RUN_TRIGGER_MANUAL).ok());
  WaitForRuns(*store_, 2);
  ASSERT_TRUE(m.WaitIdle("test", absl::Seconds(20)));
  std::vector<v1::Run> runs = Runs(*store_);
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[1].state(), v1::RUN_STATE_FAILED);
  EXPECT_TRUE(runs[1].has_rerun_at());
  EXPECT_EQ(runs[0].trigger(), v1::RUN_TRIGGER_RERUN);
  EXPECT_EQ(runs[0].state(), v1::RUN_STATE_SUCCEEDED) << runs[0].error();
  EXPECT_FALSE(runs[0].has_rerun_at());
  EXPECT_EQ(peers_.openimis().size(), 12u);
}

// A scheduler restarted between a failure and its rerun keeps the plan.
TEST_F(RunManagerTest, APlannedRerunSurvivesARestart) {
  orchestrator_.peer_attempts = 1;
  orchestrator_.peer_outage = absl::ZeroDuration();
  options_.rerun_backoff = absl::Milliseconds(500);
  peers_.fetch_error_after_pages = 0;
  peers_.fetch_errors = 1;
  ASSERT_TRUE(Manager().TriggerSync("test", false, v1::RUN_TRIGGER_MANUAL).ok());
  ASSERT_TRUE(manager_->WaitIdle("test", absl::Seconds(20)));
  manager_.reset();  // stopped before the rerun was due
  ASSERT_EQ(Runs(*store_).size(), 1u);
  ASSERT_TRUE(Runs(*store_)[0].has_rerun_at());
  RunManager& m = Manager();
  WaitForRuns(*store_, 2);
  ASSERT_TRUE(m.WaitIdle("test", absl::Seconds(20)));
  std::vector<v1::Run> runs = Runs(*store_);
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0].trigger(), v1::RUN_TRIGGER_RERUN);
  EXPECT_EQ(runs[0].state(), v1::RUN_STATE_SUCCEEDED) << runs[0].error();
}

// Reruns are bounded: after rerun_max_attempts failed reruns in a row the
// source waits for its schedule or an operator.
TEST_F(RunManagerTest, ReRunsOfAFailingSyncAreBounded) {
  orchestrator_.peer_attempts = 1;
  orchestrator_.peer_outage = absl::ZeroDuration();
  options_.rerun_backoff = absl::Milliseconds(20);
  options_.rerun_max_attempts = 2;
  peers_.fetch_error_after_pages = 0;  // every fetch fails
  ASSERT_TRUE(Manager().TriggerSync("test", false, v1::RUN_TRIGGER_MANUAL).ok());
  RunManager& m = *manager_;
  WaitForRuns(*store_, 3);
  absl::SleepFor(absl::Milliseconds(300));  // time enough for a fourth, were there one
  ASSERT_TRUE(m.WaitIdle("test", absl::Seconds(20)));
  std::vector<v1::Run> runs = Runs(*store_);
  ASSERT_EQ(runs.size(), 3u);
  for (const v1::Run& r : runs) EXPECT_EQ(r.state(), v1::RUN_STATE_FAILED);
  EXPECT_EQ(runs[0].trigger(), v1::RUN_TRIGGER_RERUN);
  EXPECT_EQ(runs[1].trigger(), v1::RUN_TRIGGER_RERUN);
  EXPECT_FALSE(runs[0].has_rerun_at()) << "the attempts are spent";
  EXPECT_TRUE(runs[1].has_rerun_at());
}

TEST_F(RunManagerTest, UnknownSourceIsAClearError) {
  RunManager& m = Manager();
  auto t = m.TriggerSync("nairobi", false, v1::RUN_TRIGGER_MANUAL);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(t.status().message().find("'nairobi'"), std::string::npos) << t.status();
  EXPECT_EQ(m.GetRun("run-424242").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(RunManagerTest, InterruptedRunIsClosedAndResumedOnStart) {
  auto dead = store_->CreateRun("test", v1::RUN_TRIGGER_MANUAL, false, std::nullopt,
                                absl::Now());
  ASSERT_TRUE(dead.ok());
  RunManager& m = Manager();
  ASSERT_TRUE(m.WaitIdle("test", absl::Seconds(30)));
  auto closed = store_->GetRun(dead->run_id());
  EXPECT_EQ(closed->state(), v1::RUN_STATE_FAILED);
  EXPECT_NE(closed->error().find("interrupted"), std::string::npos);
  auto newest = store_->NewestRun("test");
  ASSERT_TRUE(newest.ok());
  EXPECT_EQ(newest->trigger(), v1::RUN_TRIGGER_RESUME);
  EXPECT_EQ(newest->state(), v1::RUN_STATE_SUCCEEDED);
  EXPECT_EQ(peers_.openimis().size(), 12u);
}

TEST_F(RunManagerTest, TransientFailuresRetryByThemselves) {
  OpenStore(RetryPolicy{absl::Milliseconds(1), absl::Milliseconds(2), 10});
  peers_.fail_writes = 5;
  RunManager& m = Manager();
  auto t = m.TriggerSync("test", false, v1::RUN_TRIGGER_MANUAL);
  ASSERT_TRUE(t.ok());
  // The automatic retry runs until the queue is empty (bounded wait: the
  // condition, not the speed, is what is checked).
  absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (absl::Now() < deadline && (!Open().empty() || peers_.openimis().size() < 12)) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_TRUE(Open().empty());
  EXPECT_EQ(peers_.openimis().size(), 12u);
  std::string next;
  auto runs = store_->ListRuns("test", 100, "", &next);
  bool saw_retry = false;
  for (const auto& r : *runs) saw_retry |= r.trigger() == v1::RUN_TRIGGER_RETRY;
  EXPECT_TRUE(saw_retry);
}

TEST_F(RunManagerTest, IntervalScheduleStartsRuns) {
  options_.sources["test"] = SourceConfig{*Schedule::Parse("1h"), true};
  // A state database in use (another source ran), where "test" never ran.
  auto other = store_->CreateRun("other", v1::RUN_TRIGGER_MANUAL, false, std::nullopt,
                                 absl::Now());
  ASSERT_TRUE(other.ok());
  other->set_state(v1::RUN_STATE_SUCCEEDED);
  ASSERT_TRUE(store_->UpdateRun(*other).ok());
  RunManager& m = Manager();
  // Never ran: an interval schedule is due at once.
  absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (absl::Now() < deadline && !store_->NewestRun("test").ok()) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  auto run = store_->NewestRun("test");
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->trigger(), v1::RUN_TRIGGER_SCHEDULE);
  ASSERT_TRUE(m.WaitIdle("test", absl::Seconds(30)));
  m.Stop();
  std::string next;
  EXPECT_EQ(store_->ListRuns("test", 100, "", &next)->size(), 1u);  // not due again for 1h
}

TEST_F(RunManagerTest, DisabledSourceDoesNotRunBySchedule) {
  options_.sources["test"] = SourceConfig{*Schedule::Parse("1s"), false};
  RunManager& m = Manager();
  auto t = m.TriggerSync("test", false, v1::RUN_TRIGGER_MANUAL);  // manual still works
  ASSERT_TRUE(t.ok());
  ASSERT_TRUE(m.WaitIdle("test", absl::Seconds(30)));
  m.Stop();
  std::string next;
  auto runs = store_->ListRuns("test", 100, "", &next);
  ASSERT_EQ(runs->size(), 1u);
  EXPECT_EQ((*runs)[0].trigger(), v1::RUN_TRIGGER_MANUAL);
}

// A scheduler started on a new state database runs nothing at once: the
// interval schedule waits for its first tick.
TEST_F(RunManagerTest, ANewStateDatabaseWaitsForTheFirstTick) {
  options_.sources["test"] = SourceConfig{*Schedule::Parse("2s"), true};
  const absl::Time start = absl::Now();
  RunManager& m = Manager();
  absl::SleepFor(absl::Milliseconds(700));  // some 35 ticks of 20 ms
  EXPECT_TRUE(Runs(*store_).empty()) << "a run started at once on a new database";
  WaitForRuns(*store_, 1);
  std::vector<v1::Run> runs = Runs(*store_);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].trigger(), v1::RUN_TRIGGER_SCHEDULE);
  EXPECT_GE(FromTimestamp(runs[0].started_at()), start + absl::Seconds(2));
  ASSERT_TRUE(m.WaitIdle("test", absl::Seconds(30)));
}

// A source with require_plan_approval refuses real runs, syncs and pushes,
// until a dry run's plan is approved; the dry run writes nothing.
TEST_F(RunManagerTest, RequirePlanApprovalRefusesThenAllowsAfterApproval) {
  options_.sources["test"].require_plan_approval = true;
  RunManager& m = Manager();
  auto refused = m.TriggerSync("test", false, v1::RUN_TRIGGER_MANUAL);
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("mflsync sync --dry-run test"), std::string::npos)
      << refused.status();
  EXPECT_NE(refused.status().message().find("mflsync plan approve RUN"), std::string::npos);
  EXPECT_EQ(m.Push("test", {peers_.Record("f1")}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(Runs(*store_).empty());
  auto dry = m.TriggerSync("test", false, v1::RUN_TRIGGER_MANUAL, /*dry_run=*/true);
  ASSERT_TRUE(dry.ok()) << dry.status();
  EXPECT_TRUE(dry->run.dry_run());
  ASSERT_TRUE(m.WaitIdle("test", absl::Seconds(30)));
  EXPECT_EQ(m.GetRun(dry->run.run_id())->counts().created(), 12);
  EXPECT_EQ(peers_.writes(), 0);
  // Still refused: a dry run is no real run, and its plan is not approved.
  EXPECT_EQ(m.TriggerSync("test", false, v1::RUN_TRIGGER_MANUAL).status().code(),
            absl::StatusCode::kFailedPrecondition);
  auto approval = m.ApprovePlan(dry->run.run_id());
  ASSERT_TRUE(approval.ok()) << approval.status();
  EXPECT_EQ(approval->source_id(), "test");
  auto real = m.TriggerSync("test", false, v1::RUN_TRIGGER_MANUAL);
  ASSERT_TRUE(real.ok()) << real.status();
  ASSERT_TRUE(m.WaitIdle("test", absl::Seconds(30)));
  EXPECT_EQ(m.GetRun(real->run.run_id())->state(), v1::RUN_STATE_SUCCEEDED);
  EXPECT_EQ(peers_.openimis().size(), 12u);
  // Only a dry run that succeeded can be approved.
  EXPECT_EQ(m.ApprovePlan(real->run.run_id()).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(m.ApprovePlan("run-999999").status().code(), absl::StatusCode::kNotFound);
}

// An approval keeps who and why, and expires after plan_approval_ttl: an
// expired one lets no real run start, and a plan that old cannot be
// approved again; a ttl of 0 never expires.
TEST_F(RunManagerTest, PlanApprovalKeepsWhoAndWhyAndExpires) {
  auto offset = std::make_shared<std::atomic<int64_t>>(0);  // seconds ahead of now
  options_.clock = [offset] { return absl::Now() + absl::Seconds(offset->load()); };
  options_.sources["test"].require_plan_approval = true;
  options_.sources["test"].plan_approval_ttl = absl::Hours(1);
  RunManager& m = Manager();
  auto dry = m.TriggerSync("test", false, v1::RUN_TRIGGER_MANUAL, /*dry_run=*/true);
  ASSERT_TRUE(dry.ok()) << dry.status();
  ASSERT_TRUE(m.WaitIdle("test", absl::Seconds(30)));
  EXPECT_EQ(m.ApprovePlan(dry->run.run_id(), "ana", std::string(1001, 'x')).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto approval = m.ApprovePlan(dry->run.run_id(), "ana", "counts match the district list");
  ASSERT_TRUE(approval.ok()) << approval.status();
  EXPECT_EQ(approval->approved_by(), "ana");
  EXPECT_EQ(approval->reason(), "counts match the district list");
  EXPECT_EQ(FromTimestamp(approval->expires_at()),
            FromTimestamp(approval->approved_at()) + absl::Hours(1));
  auto shown = m.PlanApprovalOf(dry->run.run_id());
  ASSERT_TRUE(shown.ok() && shown->has_value());
  EXPECT_EQ((*shown)->expires_at().seconds(), approval->expires_at().seconds());
  EXPECT_EQ((*shown)->approved_by(), "ana");

  offset->store(2 * 3600);  // two hours later: the approval has expired
  auto expired = m.TriggerSync("test", false, v1::RUN_TRIGGER_MANUAL);
  ASSERT_EQ(expired.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(expired.status().message().find("its approval expired (plan_approval_ttl 1h)"),
            std::string::npos)
      << expired.status();
  auto stale = m.ApprovePlan(dry->run.run_id(), "ana", "again");
  ASSERT_EQ(stale.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(stale.status().message().find("older than plan_approval_ttl"), std::string::npos);
  EXPECT_EQ(peers_.writes(), 0);
  manager_.reset();

  options_.sources["test"].plan_approval_ttl = absl::ZeroDuration();  // never expires
  RunManager& never = Manager();
  EXPECT_FALSE((*never.PlanApprovalOf(dry->run.run_id()))->has_expires_at());
  auto real = never.TriggerSync("test", false, v1::RUN_TRIGGER_MANUAL);
  ASSERT_TRUE(real.ok()) << real.status();
  ASSERT_TRUE(never.WaitIdle("test", absl::Seconds(30)));
  EXPECT_EQ(never.GetRun(real->run.run_id())->state(), v1::RUN_STATE_SUCCEEDED);
}

// A source that has synced for real before needs no plan when the setting
// is turned on later.
TEST_F(RunManagerTest, RequirePlanApprovalLetsASourceThatSyncedBeforeRun) {
  {
    RunManager& m = Manager();
    ASSERT_TRUE(m.TriggerSync("test", false, v1::RUN_TRIGGER_MANUAL).ok());
    ASSERT_TRUE(m.WaitIdle("test", absl::Seconds(30)));
  }
  options_.sources["test"].require_plan_approval = true;
  RunManager& m = Manager();
  auto again = m.TriggerSync("test", false, v1::RUN_TRIGGER_MANUAL);
  EXPECT_TRUE(again.ok()) << again.status();
  ASSERT_TRUE(m.WaitIdle("test", absl::Seconds(30)));
}

// A failed dry run is not run again by itself, nor resumed as a real sync.
TEST_F(RunManagerTest, AFailedDryRunIsNotRerun) {
  orchestrator_.peer_attempts = 1;
  orchestrator_.peer_outage = absl::ZeroDuration();
  options_.rerun_backoff = absl::Milliseconds(20);
  peers_.fetch_error_after_pages = 0;
  peers_.fetch_errors = 1;
  RunManager& m = Manager();
  auto dry = m.TriggerSync("test", false, v1::RUN_TRIGGER_MANUAL, /*dry_run=*/true);
  ASSERT_TRUE(dry.ok()) << dry.status();
  ASSERT_TRUE(m.WaitIdle("test", absl::Seconds(20)));
  absl::SleepFor(absl::Milliseconds(300));
  std::vector<v1::Run> runs = Runs(*store_);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].state(), v1::RUN_STATE_FAILED);
  EXPECT_FALSE(runs[0].has_rerun_at());
  EXPECT_EQ(peers_.writes(), 0);
}

}  // namespace
}  // namespace mflsync::scheduler

namespace mflsync::scheduler {
namespace {

TEST_F(RunManagerTest, CancelRunEndsCancelledThenResumes) {
  peers_.block_at_page = 1;
  RunManager& m = Manager();
  auto t = m.TriggerSync("test", false, v1::RUN_TRIGGER_MANUAL);
  ASSERT_TRUE(t.ok());
  ASSERT_TRUE(peers_.WaitBlocked());
  auto c = m.CancelRun(t->run.run_id());
  ASSERT_TRUE(c.ok()) << c.status();
  peers_.Release();
  ASSERT_TRUE(m.WaitIdle("test", absl::Seconds(30)));
  EXPECT_EQ(m.GetRun(t->run.run_id())->state(), v1::RUN_STATE_CANCELLED);
  EXPECT_EQ(m.CancelRun(t->run.run_id()).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(m.CancelRun("run-999999").status().code(), absl::StatusCode::kNotFound);
  peers_.block_at_page = -1;
  ASSERT_TRUE(m.TriggerSync("test", false, v1::RUN_TRIGGER_MANUAL).ok());
  ASSERT_TRUE(m.WaitIdle("test", absl::Seconds(30)));
  EXPECT_EQ(peers_.openimis().size(), 12u);
  EXPECT_EQ(peers_.writes(), 12);
}

}  // namespace
}  // namespace mflsync::scheduler

namespace mflsync::scheduler {
namespace {

TEST_F(RunManagerTest, SyncCancelledByShutdownResumesOnNextStart) {
  peers_.block_at_page = 1;
  {
    RunManager& m = Manager();
    auto t = m.TriggerSync("test", false, v1::RUN_TRIGGER_MANUAL);
    ASSERT_TRUE(t.ok());
    ASSERT_TRUE(peers_.WaitBlocked());
    std::thread stopper([&] { m.Stop(); });
    peers_.Release();
    stopper.join();
    auto run = store_->GetRun(t->run.run_id());
    EXPECT_EQ(run->state(), v1::RUN_STATE_CANCELLED);
    EXPECT_NE(run->error().find("scheduler shut down"), std::string::npos) << run->error();
  }
  peers_.block_at_page = -1;
  RunManager& again = Manager();
  ASSERT_TRUE(again.WaitIdle("test", absl::Seconds(30)));
  auto newest = store_->NewestRun("test");
  ASSERT_TRUE(newest.ok());
  EXPECT_EQ(newest->trigger(), v1::RUN_TRIGGER_RESUME);
  EXPECT_EQ(newest->state(), v1::RUN_STATE_SUCCEEDED);
  EXPECT_EQ(peers_.openimis().size(), 12u);
  EXPECT_EQ(peers_.writes(), 12);
}

// The schedule thread prunes the change history by its clock (injected
// here: a year and a day after the first write): what is older than
// change_retention goes, the rest stays.
TEST_F(RunManagerTest, TheSchedulerPrunesTheChangeHistoryPastItsRetention) {
  const absl::Time t0 = absl::FromUnixSeconds(1700000000);
  ASSERT_TRUE(store_->CommitBatch("test", "run-000001",
                                  {testing::Written(testing::TestRecord("f1", "1", 100),
                                                    "run-000001", "1001")},
                                  std::nullopt, t0)
                  .ok());
  ASSERT_TRUE(store_->CommitBatch("test", "run-000002",
                                  {testing::Written(testing::TestRecord("f1", "2", 200),
                                                    "run-000002", "1001")},
                                  std::nullopt, t0 + absl::Hours(24 * 300))
                  .ok());
  options_.change_retention = absl::Hours(24 * 365);
  options_.clock = [t0] { return t0 + absl::Hours(24 * 366); };
  Manager();
  std::vector<v1::FacilityChange> left;
  for (int i = 0; i < 250; ++i) {  // the first tick prunes
    std::string next;
    left = *store_->ListChanges(ChangeFilter{}, 10, "", &next);
    if (left.size() == 1) break;
    absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].run_id(), "run-000002");
}

}  // namespace
}  // namespace mflsync::scheduler
