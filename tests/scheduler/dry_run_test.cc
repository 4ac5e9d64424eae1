// Dry runs (issue 15, "plan before writing"): the same record flow as a
// real sync up to the writer's plan, then nothing written or committed but
// the plan.
#include <filesystem>
#include <memory>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "scheduler/orchestrator.h"
#include "testbed/peers/in_memory_peers.h"
#include "tests/scheduler/test_util.h"

namespace mflsync::scheduler {
namespace {

using testing::InMemoryPeers;

class DryRunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::FreshTestDir("dry_");
    options_.batch_size = 3;
    options_.max_batches_in_flight = 2;
    options_.peer_backoff = absl::Milliseconds(1);
    options_.peer_outage = absl::Milliseconds(200);
    Reset("a");
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  // A fresh state database (named `name`) and fresh peers.
  void Reset(const std::string& name) {
    store_.reset();
    auto s = StateStore::Open((dir_ / (name + ".db")).string(), RetryPolicy{});
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = *std::move(s);
    peers_ = std::make_unique<InMemoryPeers>();
    peers_->plan_reject_marker = "Twin";
  }
  v1::Run Sync(bool dry_run) {
    auto wm = store_->GetWatermark("test");
    auto run = store_->CreateRun("test", v1::RUN_TRIGGER_MANUAL, false, *wm, absl::Now(), dry_run);
    EXPECT_TRUE(run.ok()) << run.status();
    Orchestrator o(*peers_, *store_, options_);
    CancelToken cancel;
    return o.RunSync(*run, cancel, nullptr);
  }
  // openIMIS holds a0..a2 (a real sync), then the MFL changes: a0 renamed,
  // a1 closed, a2 a new version of the same content, a3 new, a4 unmappable,
  // a5 a likely duplicate, j1 a jurisdiction.
  void Scenario() {
    peers_->Put("a0", "Alpha", 1000);
    peers_->Put("a1", "Beta", 1001);
    peers_->Put("a2", "Gamma", 1002);
    ASSERT_EQ(Sync(false).counts().created(), 3);
    peers_->Put("a0", "Alpha Renamed", 2000);
    peers_->Put("a1", "Beta", 2001, /*active=*/false);
    peers_->Put("a3", "Delta", 2002);
    peers_->Put("a4", "BAD type", 2003);
    peers_->Put("a5", "Twin Clinic", 2004);
    peers_->PutJurisdiction("j1", 2005);
    peers_->Put("a2", "Gamma", 2006);
  }
  std::vector<v1::PlanEntry> Plan(const std::string& run_id, bool all) {
    std::string next;
    auto entries = store_->ListPlan(run_id, all, 1000, "", &next);
    EXPECT_TRUE(entries.ok()) << entries.status();
    return *entries;
  }
  size_t OpenFailures() {
    std::string next;
    return store_->ListFailures("test", v1::FAILURE_STATE_OPEN, 1000, "", &next)->size();
  }

  std::filesystem::path dir_;
  std::unique_ptr<StateStore> store_;
  std::unique_ptr<InMemoryPeers> peers_;
  OrchestratorOptions options_;
};

TEST_F(DryRunTest, WritesNothingMovesNoWatermarkAndParksNothing) {
  Scenario();
  const int writes = peers_->writes();
  const auto openimis = peers_->openimis();
  const absl::Time watermark = **store_->GetWatermark("test");
  v1::Run dry = Sync(/*dry_run=*/true);
  ASSERT_EQ(dry.state(), v1::RUN_STATE_SUCCEEDED) << dry.error();
  EXPECT_TRUE(dry.dry_run());
  EXPECT_EQ(peers_->writes(), writes);
  EXPECT_EQ(peers_->openimis().size(), openimis.size());
  EXPECT_EQ(peers_->openimis().at("a0").name(), "Alpha");
  EXPECT_EQ(**store_->GetWatermark("test"), watermark);
  EXPECT_EQ(FromTimestamp(dry.watermark()), watermark);
  EXPECT_EQ(OpenFailures(), 0u);
  // Nothing journaled, no newer version recorded as in openIMIS.
  EXPECT_FALSE(store_->JournalStateOf("test", [] {
                       v1::RecordKey k;
                       k.set_location_id("a0");
                       k.set_version_id("2");
                       *k.mutable_last_updated() = FromMicros(int64_t{2000} * 1000000);
                       return k;
                     }())->has_value());
  EXPECT_EQ(store_->NewestVersions("test", {"a0", "a3"})->at("a0").version_id(), "1");
  EXPECT_EQ(store_->NewestVersions("test", {"a3"})->count("a3"), 0u);
  // The run's counts are the plan's.
  EXPECT_EQ(dry.counts().fetched(), 7);
  EXPECT_EQ(dry.counts().created(), 1);
  EXPECT_EQ(dry.counts().updated(), 2);  // a0 updated, a1 deactivated
  EXPECT_EQ(dry.counts().unchanged(), 1);
  EXPECT_EQ(dry.counts().rejected(), 2);
  EXPECT_EQ(dry.counts().skipped(), 1);
  EXPECT_EQ(store_->GetRun(dry.run_id())->counts().created(), 1);
}

TEST_F(DryRunTest, ThePlanHoldsEachChangeFieldByFieldAndTheCounts) {
  Scenario();
  v1::Run dry = Sync(true);
  ASSERT_EQ(dry.state(), v1::RUN_STATE_SUCCEEDED) << dry.error();
  std::map<std::string, v1::PlanEntry> by_id;
  for (const v1::PlanEntry& e : Plan(dry.run_id(), false)) by_id[e.location_id()] = e;
  ASSERT_EQ(by_id.size(), 5u);  // no-ops, skips and stale only counted
  EXPECT_EQ(by_id["a3"].action(), v1::PLAN_ACTION_CREATE);
  EXPECT_EQ(by_id["a3"].code(), "a3");
  EXPECT_TRUE(by_id["a3"].uuid().empty());
  const v1::PlanEntry& update = by_id["a0"];
  EXPECT_EQ(update.action(), v1::PLAN_ACTION_UPDATE);
  EXPECT_EQ(update.uuid(), "uuid-a0");
  EXPECT_EQ(update.version_id(), "2");
  ASSERT_EQ(update.changes_size(), 1);
  EXPECT_EQ(update.changes(0).field(), "name");
  EXPECT_EQ(update.changes(0).old_value(), "Alpha");
  EXPECT_EQ(update.changes(0).new_value(), "Alpha Renamed");
  const v1::PlanEntry& closed = by_id["a1"];
  EXPECT_EQ(closed.action(), v1::PLAN_ACTION_DEACTIVATE);
  ASSERT_EQ(closed.changes_size(), 1);
  EXPECT_EQ(closed.changes(0).field(), "status");
  EXPECT_EQ(closed.changes(0).old_value(), "active");
  EXPECT_EQ(closed.changes(0).new_value(), "inactive");
  EXPECT_EQ(by_id["a4"].action(), v1::PLAN_ACTION_REJECT);
  EXPECT_EQ(by_id["a4"].stage(), v1::FAILURE_STAGE_MAP);
  ASSERT_EQ(by_id["a4"].rejections_size(), 1);
  EXPECT_EQ(by_id["a4"].rejections(0).rule(), "mapping.facility_type.unknown");
  EXPECT_EQ(by_id["a5"].action(), v1::PLAN_ACTION_REJECT);
  EXPECT_EQ(by_id["a5"].stage(), v1::FAILURE_STAGE_RECONCILE);
  EXPECT_EQ(by_id["a5"].code(), "a5");
  EXPECT_NE(by_id["a5"].reason().find("Likely duplicate"), std::string::npos);
  std::map<std::string, v1::PlanAction> all;
  for (const v1::PlanEntry& e : Plan(dry.run_id(), true)) all[e.location_id()] = e.action();
  EXPECT_EQ(all["a2"], v1::PLAN_ACTION_NOOP);
  EXPECT_EQ(all["j1"], v1::PLAN_ACTION_SKIP);
  auto counts = store_->PlanCounts(dry.run_id());
  ASSERT_TRUE(counts.ok()) << counts.status();
  EXPECT_EQ(counts->creates(), 1);
  EXPECT_EQ(counts->updates(), 1);
  EXPECT_EQ(counts->deactivations(), 1);
  EXPECT_EQ(counts->noops(), 1);
  EXPECT_EQ(counts->rejected(), 2);
  EXPECT_EQ(counts->skipped(), 1);
  EXPECT_EQ(counts->stale(), 0);
}

// What a real run does after a dry run is what it does without one.
TEST_F(DryRunTest, ARealRunAfterADryRunBehavesAsWithoutIt) {
  struct Outcome {
    v1::Run run;
    std::map<std::string, v1::HealthFacility> openimis;
    size_t failures;
    absl::Time watermark;
    int writes;
  };
  auto real_run = [&](bool dry_first) {
    Scenario();
    if (dry_first) {
      EXPECT_EQ(Sync(true).state(), v1::RUN_STATE_SUCCEEDED);
    }
    const int writes = peers_->writes();
    Outcome o{Sync(false), peers_->openimis(), OpenFailures(), **store_->GetWatermark("test"),
              0};
    o.writes = peers_->writes() - writes;
    return o;
  };
  Outcome with = real_run(true);
  Reset("b");
  Outcome without = real_run(false);
  ASSERT_EQ(with.run.state(), v1::RUN_STATE_SUCCEEDED) << with.run.error();
  EXPECT_EQ(with.run.counts().SerializeAsString(), without.run.counts().SerializeAsString())
      << with.run.counts().DebugString() << " vs " << without.run.counts().DebugString();
  EXPECT_EQ(with.run.counts().created(), 1);
  EXPECT_EQ(with.run.counts().updated(), 2);
  EXPECT_EQ(with.writes, 3);
  EXPECT_EQ(with.writes, without.writes);
  EXPECT_EQ(with.failures, 2u);
  EXPECT_EQ(with.failures, without.failures);
  EXPECT_EQ(with.watermark, without.watermark);
  EXPECT_EQ(absl::ToUnixSeconds(with.watermark), 2006);
  ASSERT_EQ(with.openimis.size(), without.openimis.size());
  for (const auto& [code, f] : without.openimis)
    EXPECT_EQ(with.openimis.at(code).SerializeAsString(), f.SerializeAsString()) << code;
}

// A fetch that breaks resumes after what the dry run planned: each record
// is planned once, and still nothing is written.
TEST_F(DryRunTest, ABrokenFetchResumesWithoutPlanningARecordTwice) {
  for (int i = 0; i < 20; ++i)
    peers_->Put(absl::StrCat("f", i), absl::StrCat("Facility ", i), 1000 + (i / 3) * 10);
  peers_->fetch_error_after_pages = 1;
  peers_->fetch_errors = 2;
  v1::Run dry = Sync(true);
  ASSERT_EQ(dry.state(), v1::RUN_STATE_SUCCEEDED) << dry.error();
  EXPECT_EQ(peers_->fetch_calls, 3);
  EXPECT_GT(peers_->last_fetch().already_seen_size(), 0);
  EXPECT_EQ(dry.counts().fetched(), 20);
  EXPECT_EQ(dry.counts().created(), 20);
  EXPECT_EQ(Plan(dry.run_id(), true).size(), 20u);
  EXPECT_EQ(store_->PlanCounts(dry.run_id())->creates(), 20);
  EXPECT_EQ(peers_->writes(), 0);
  EXPECT_FALSE(store_->GetWatermark("test")->has_value());
}

}  // namespace
}  // namespace mflsync::scheduler
