#include "scheduler/orchestrator.h"

#include <filesystem>
#include <thread>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "testbed/peers/in_memory_peers.h"
#include "tests/scheduler/test_util.h"

namespace mflsync::scheduler {
namespace {

using testing::InMemoryPeers;

TEST(WatermarkTrackerTest, SharedLastUpdatedHoldsTheWatermark) {
  WatermarkTracker t(std::nullopt);
  EXPECT_FALSE(t.Safe(std::nullopt).has_value());
  t.Fetched(100);
  t.Fetched(100);
  t.Fetched(200);
  t.Terminal(200);
  EXPECT_FALSE(t.Safe(std::nullopt).has_value());  // both 100s still pending
  t.Terminal(100);
  EXPECT_FALSE(t.Safe(std::nullopt).has_value());  // one 100 still pending
  t.Terminal(100);
  EXPECT_EQ(t.Safe(std::nullopt), 200);
  EXPECT_EQ(t.Safe(150), 150);  // capped by the fetch frontier
  EXPECT_FALSE(t.HasPending());
  EXPECT_EQ(t.Final(250), 250);
}

TEST(WatermarkTrackerTest, StopsBelowTheOldestPendingAndNeverGoesBack) {
  WatermarkTracker t(50);
  EXPECT_EQ(t.Safe(std::nullopt), 50);
  for (int64_t v : {100, 200, 300, 400}) t.Fetched(v);
  t.Terminal(100);
  t.Terminal(300);
  t.Terminal(400);
  EXPECT_EQ(t.Safe(std::nullopt), 100);  // 200 pending
  t.Terminal(200);
  EXPECT_EQ(t.Safe(std::nullopt), 400);
  WatermarkTracker low(500);
  low.Fetched(100);
  low.Terminal(100);
  EXPECT_EQ(low.Safe(std::nullopt), 500);
  EXPECT_EQ(low.Final(std::nullopt), 500);
}

TEST(WatermarkTrackerTest, CeilingCapsSafeAndFinalButNeverGoesBack) {
  WatermarkTracker t(50);
  for (int64_t v : {100, 200, 900}) t.Fetched(v);
  for (int64_t v : {100, 200, 900}) t.Terminal(v);
  t.SetCeiling(300);
  t.SetCeiling(400);  // the lowest counts
  EXPECT_EQ(t.Safe(std::nullopt), 300);
  EXPECT_EQ(t.Final(1000), 300);
  WatermarkTracker above(500);  // an earlier watermark above the ceiling stays
  above.Fetched(600);
  above.Terminal(600);
  above.SetCeiling(300);
  EXPECT_EQ(above.Safe(std::nullopt), 500);
  EXPECT_EQ(above.Final(600), 500);
}

TEST(WatermarkTrackerTest, KeepsAFewValuesNotOnePerRecord) {
  WatermarkTracker t(std::nullopt);
  t.Fetched(5);  // one old record stays pending throughout
  for (int64_t v = 10; v < 10'010; ++v) {
    t.Fetched(v);
    t.Terminal(v);
  }
  EXPECT_FALSE(t.Safe(std::nullopt).has_value());  // nothing terminal below 5
  EXPECT_EQ(t.terminal_kept(), 10'000u);           // all above the pending 5
  t.Terminal(5);
  EXPECT_EQ(t.Safe(std::nullopt), 10'009);
  EXPECT_EQ(t.terminal_kept(), 1u);
  for (int64_t v = 20'000; v < 30'000; ++v) {  // records ending in order
    t.Fetched(v);
    t.Terminal(v);
    ASSERT_LE(t.terminal_kept(), 1u);
  }
  t.Fetched(40'000);
  t.Fetched(40'001);
  t.Terminal(40'001);
  EXPECT_EQ(t.Safe(std::nullopt), 29'999);  // 40,000 pending
  t.Terminal(40'000);
  EXPECT_EQ(t.Safe(std::nullopt), 40'001);
}

class OrchestratorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::FreshTestDir("orch_");
    RetryPolicy retry{absl::Seconds(30), absl::Hours(1), 10};
    auto s = StateStore::Open((dir_ / "s.db").string(), retry);
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = *std::move(s);
    options_.batch_size = 3;
    options_.max_batches_in_flight = 2;
    options_.peer_backoff = absl::Milliseconds(1);
    options_.peer_outage = absl::Milliseconds(200);
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  v1::Run Sync(bool full = false, CancelToken* cancel = nullptr) {
    auto wm = store_->GetWatermark("test");
    auto run = store_->CreateRun("test", v1::RUN_TRIGGER_MANUAL, full,
                                 full ? std::nullopt : *wm, absl::Now());
    EXPECT_TRUE(run.ok());
    Orchestrator o(peers_, *store_, options_);
    CancelToken local;
    return o.RunSync(*run, cancel ? *cancel : local, nullptr);
  }
  // A retry of the stored copies, or `from_mfl` of the MFL's current versions.
  v1::Run Retry(std::vector<int64_t> ids, bool from_mfl = false) {
    auto entries = store_->FailuresToRetry(ids, "test");
    EXPECT_TRUE(entries.ok()) << entries.status();
    auto run = store_->CreateRun("test", v1::RUN_TRIGGER_RETRY, false, std::nullopt, absl::Now());
    Orchestrator o(peers_, *store_, options_);
    CancelToken cancel;
    if (from_mfl) return o.RunRetryFromMfl(*run, *std::move(entries), cancel, nullptr);
    return o.RunRetry(*run, *std::move(entries), cancel, nullptr);
  }
  std::vector<v1::FacilityChange> Changes(const ChangeFilter& filter) {
    std::string next;
    return *store_->ListChanges(filter, 1000, "", &next);
  }
  v1::Run Push(std::vector<v1::SourceRecord> records, std::vector<v1::RecordResult>* results) {
    auto run = store_->CreateRun("test", v1::RUN_TRIGGER_PUSH, false, std::nullopt, absl::Now());
    EXPECT_TRUE(run.ok());
    Orchestrator o(peers_, *store_, options_);
    CancelToken cancel;
    return o.RunPush(*run, std::move(records), cancel, nullptr, results);
  }
  std::vector<v1::Failure> Failures(v1::FailureState state = v1::FAILURE_STATE_OPEN) {
    std::string next;
    return *store_->ListFailures("test", state, 1000, "", &next);
  }
  // 20 facilities over 8 distinct lastUpdated values (several shared).
  void Seed(int n = 20) {
    for (int i = 0; i < n; ++i) {
      peers_.Put(absl::StrCat("f", i), absl::StrCat("Facility ", i), 1000 + (i / 3) * 10);
    }
  }

  std::filesystem::path dir_;
  std::unique_ptr<StateStore> store_;
  InMemoryPeers peers_;
  OrchestratorOptions options_;
};

// A record dated tomorrow is written and counted, but the watermark stays
// behind the clock, so the changes made meanwhile are still fetched.
TEST_F(OrchestratorTest, ARecordFromTheFutureDoesNotMoveTheWatermarkPastNow) {
  Seed(4);
  const int64_t now_s = absl::ToUnixSeconds(absl::Now());
  peers_.Put("future", "Facility from the future", now_s + 86400);
  v1::Run first = Sync();
  ASSERT_EQ(first.state(), v1::RUN_STATE_SUCCEEDED) << first.error();
  EXPECT_EQ(first.counts().created(), 5);
  EXPECT_EQ(first.counts().future(), 1);
  const int64_t wm = absl::ToUnixSeconds(FromTimestamp(first.watermark()));
  EXPECT_LE(wm, now_s - 60 + 5) << "the watermark passed now less the clock skew";
  EXPECT_GE(wm, now_s - 60 - 60);
  // A real change made after the first run, dated now, is fetched.
  peers_.Put("f1", "Facility 1 renamed", absl::ToUnixSeconds(absl::Now()));
  v1::Run second = Sync();
  ASSERT_EQ(second.state(), v1::RUN_STATE_SUCCEEDED) << second.error();
  EXPECT_EQ(second.counts().updated(), 1);
  EXPECT_EQ(peers_.openimis().at("f1").name(), "Facility 1 renamed");
}

TEST_F(OrchestratorTest, FullThenIncrementalSync) {
  Seed();
  peers_.Put("bad1", "BAD type", 1005);
  v1::Run first = Sync();
  EXPECT_EQ(first.state(), v1::RUN_STATE_SUCCEEDED) << first.error();
  EXPECT_EQ(first.counts().fetched(), 21);
  EXPECT_EQ(first.mfl_total(), 21);  // the fetch's Bundle.total: progress is shown against it
  EXPECT_EQ(first.counts().created(), 20);
  EXPECT_EQ(first.counts().rejected(), 1);
  EXPECT_EQ(first.counts().updated() + first.counts().unchanged() + first.counts().failed(), 0);
  EXPECT_EQ(peers_.openimis().size(), 20u);
  EXPECT_EQ(absl::ToUnixSeconds(FromTimestamp(first.watermark())), 1060);
  EXPECT_EQ(peers_.refreshes_, 1);
  bool has_write_stage = false;
  for (const auto& st : first.stages()) has_write_stage |= st.stage() == "write";
  EXPECT_TRUE(has_write_stage);
  EXPECT_EQ(store_->GetRun(first.run_id())->state(), v1::RUN_STATE_SUCCEEDED);
  auto failures = Failures();
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_EQ(failures[0].location_id(), "bad1");
  EXPECT_EQ(failures[0].stage(), v1::FAILURE_STAGE_MAP);
  EXPECT_NE(failures[0].reason().find("mapping.facility_type.unknown"), std::string::npos);

  // Nothing changed: the incremental run sees only what the overlap brings
  // back, all of it already seen.
  v1::Run idle = Sync();
  EXPECT_EQ(idle.state(), v1::RUN_STATE_SUCCEEDED);
  EXPECT_EQ(idle.counts().fetched(), 0);
  EXPECT_GT(peers_.last_fetch().already_seen_size(), 0);
  EXPECT_EQ(absl::ToUnixSeconds(FromTimestamp(peers_.last_fetch().since())), 1060);

  peers_.Put("f1", "Facility 1 renamed", 2000);
  peers_.Put("f7", "Facility 7", 2000, /*active=*/false);  // deactivated
  peers_.Put("f20", "Facility 20", 2001);
  int writes_before = peers_.writes();
  v1::Run second = Sync();
  EXPECT_EQ(second.state(), v1::RUN_STATE_SUCCEEDED) << second.error();
  EXPECT_EQ(second.counts().fetched(), 3);
  EXPECT_EQ(second.counts().updated(), 2);
  EXPECT_EQ(second.counts().created(), 1);
  EXPECT_EQ(peers_.writes() - writes_before, 3);
  EXPECT_EQ(peers_.openimis().size(), 21u);
  EXPECT_EQ(peers_.openimis()["f1"].name(), "Facility 1 renamed");
  EXPECT_FALSE(peers_.openimis()["f7"].active());
  EXPECT_EQ(absl::ToUnixSeconds(FromTimestamp(second.watermark())), 2001);

  // A full sync re-checks everything and writes nothing.
  writes_before = peers_.writes();
  v1::Run full = Sync(/*full=*/true);
  EXPECT_EQ(full.counts().fetched(), 22);
  EXPECT_EQ(full.counts().unchanged(), 21);
  EXPECT_EQ(full.counts().rejected(), 1);
  EXPECT_EQ(peers_.writes(), writes_before);
  EXPECT_EQ(Failures().size(), 1u);  // same entry, one more attempt
  EXPECT_EQ(Failures()[0].attempts(), 2);
  // Runs let the writer choose how to refresh its index; a full one has it
  // read openIMIS in full.
  EXPECT_EQ(peers_.refresh_modes(),
            (std::vector<v1::RefreshMode>{
                v1::REFRESH_MODE_UNSPECIFIED, v1::REFRESH_MODE_UNSPECIFIED,
                v1::REFRESH_MODE_UNSPECIFIED, v1::REFRESH_MODE_FULL}));
}

// Newest version wins: an MFL that serves an older version again (a lagging
// replica) never takes openIMIS back, not even in a full run.
TEST_F(OrchestratorTest, AnOlderVersionServedAgainIsStaleAndNeverWritten) {
  Seed(3);
  ASSERT_EQ(Sync().counts().created(), 3);
  const v1::SourceRecord v1_of_f1 = peers_.Record("f1");
  peers_.Put("f1", "Facility 1 renamed", 2000);
  ASSERT_EQ(Sync().counts().updated(), 1);
  peers_.Serve(v1_of_f1);
  const int writes_before = peers_.writes();
  v1::Run full = Sync(/*full=*/true);
  ASSERT_EQ(full.state(), v1::RUN_STATE_SUCCEEDED) << full.error();
  EXPECT_EQ(full.counts().stale(), 1);
  EXPECT_EQ(full.counts().unchanged(), 2) << "the same versions are re-verified in a full run";
  EXPECT_EQ(peers_.writes(), writes_before);
  EXPECT_EQ(peers_.openimis().at("f1").name(), "Facility 1 renamed");
  EXPECT_TRUE(Failures().empty());
}

// A retry of a stored copy that a newer written version superseded (its
// entry opened after that write, e.g. by a run that overlapped it) writes
// nothing and closes the entry, saying why.
TEST_F(OrchestratorTest, ARetryOfASupersededCopyIsStaleAndResolved) {
  Seed(3);
  const v1::SourceRecord v1_of_f2 = peers_.Record("f2");
  peers_.Put("f2", "Facility 2 renamed", 2000);
  ASSERT_EQ(Sync().counts().created(), 3);
  RecordOutcome parked;
  parked.record = v1_of_f2;
  parked.state = JournalState::kParked;
  parked.stage = v1::FAILURE_STAGE_WRITE;
  parked.reason = "HTTP 503";
  parked.transient = true;
  ASSERT_TRUE(store_->CommitBatch("test", "run-late", {parked}, std::nullopt, absl::Now()).ok());
  ASSERT_EQ(Failures().size(), 1u);
  const int writes_before = peers_.writes();
  v1::Run retry = Retry({});
  ASSERT_EQ(retry.state(), v1::RUN_STATE_SUCCEEDED) << retry.error();
  EXPECT_EQ(retry.counts().stale(), 1);
  EXPECT_EQ(peers_.writes(), writes_before);
  EXPECT_EQ(peers_.openimis().at("f2").name(), "Facility 2 renamed");
  EXPECT_TRUE(Failures().empty());
  std::vector<v1::Failure> resolved = Failures(v1::FAILURE_STATE_RESOLVED);
  ASSERT_EQ(resolved.size(), 1u);
  EXPECT_NE(resolved[0].resolution().find("superseded"), std::string::npos)
      << resolved[0].resolution();
}

// What the fetcher makes of a page entry it cannot use (bundle_page.h).
v1::SourceRecord Defect(const std::string& id, const std::string& rule) {
  v1::SourceRecord r;
  r.set_source_id("test");
  r.set_location_id(id);
  r.set_location_json(R"({"fullUrl":"http://mfl/fhir/Location/x","search":{"mode":"match"}})");
  v1::Rejection* why = r.add_fetch_rejections();
  why->set_fhir_path("Bundle.entry[3].resource");
  why->set_rule(rule);
  why->set_message("the entry has no resource (source 'test', page 2)");
  return r;
}

// A page entry the fetcher could not use is parked at the fetch stage with
// its raw entry and rule, even under the id of a facility already written
// (never taken for a stale copy); the rest of its page is written and the
// watermark moves on.
TEST_F(OrchestratorTest, DefectiveEntriesAreParkedAndThePageGoesOn) {
  Seed(4);
  ASSERT_EQ(Sync().counts().created(), 4);
  peers_.Serve(Defect("f1", "fetch.location.last_updated"));
  peers_.Serve(Defect("unidentified-00112233aabbccdd", "fetch.entry.no_resource"));
  peers_.Put("f2", "Facility 2 renamed", 2000);
  v1::Run run = Sync();
  ASSERT_EQ(run.state(), v1::RUN_STATE_SUCCEEDED) << run.error();
  EXPECT_EQ(run.counts().rejected(), 2);
  EXPECT_EQ(run.counts().updated(), 1);
  EXPECT_EQ(run.counts().stale(), 0);
  EXPECT_EQ(peers_.openimis().at("f2").name(), "Facility 2 renamed");
  EXPECT_EQ(peers_.openimis().at("f1").name(), "Facility 1") << "a defect is never written";
  EXPECT_EQ(absl::ToUnixSeconds(FromTimestamp(run.watermark())), 2000);
  std::vector<v1::Failure> open = Failures();
  ASSERT_EQ(open.size(), 2u);
  for (const v1::Failure& f : open) {
    SCOPED_TRACE(f.location_id());
    EXPECT_EQ(f.stage(), v1::FAILURE_STAGE_FETCH);
    EXPECT_FALSE(f.transient());
    EXPECT_NE(f.reason().find("at Bundle.entry[3].resource"), std::string::npos) << f.reason();
    const std::string raw = store_->GetFailure(f.failure_id())->raw_json();
    nlohmann::json j = nlohmann::json::parse(raw);
    EXPECT_EQ(j["entry"]["fullUrl"], "http://mfl/fhir/Location/x") << raw;
    EXPECT_EQ(j["fetch_rejections"][0]["fhir_path"], "Bundle.entry[3].resource") << raw;
    EXPECT_FALSE(j.contains("location")) << raw;
  }
  // Served again, the same entries stay one failure each.
  ASSERT_EQ(Sync().counts().rejected(), 2);
  EXPECT_EQ(Failures().size(), 2u);
}

// A full disk mid-run fails the run with the cause, and the watermark never
// passes a record whose outcome was not saved: the next run, with room
// again, parks the rejected record and finds every facility written.
TEST_F(OrchestratorTest, AFullDiskFailsTheRunAndTheNextRunLosesNothing) {
  Seed(200);
  peers_.Put("bad-late", "BAD late", 2000);
  auto run = store_->CreateRun("test", v1::RUN_TRIGGER_MANUAL, false, std::nullopt, absl::Now());
  ASSERT_TRUE(run.ok()) << run.status();
  ASSERT_TRUE(store_->LimitSize(std::filesystem::file_size(dir_ / "s.db")).ok());
  CancelToken cancel;
  v1::Run failed = Orchestrator(peers_, *store_, options_).RunSync(*run, cancel, nullptr);
  EXPECT_EQ(failed.state(), v1::RUN_STATE_FAILED);
  EXPECT_TRUE(failed.error().find("could not be saved") != std::string::npos ||
              failed.error().find("could not be journaled") != std::string::npos)
      << failed.error();
  EXPECT_NE(failed.error().find("s.db is full"), std::string::npos) << failed.error();
  ASSERT_TRUE(store_->LimitSize(0).ok());
  auto wm = store_->GetWatermark("test");
  ASSERT_TRUE(wm.ok());
  if (wm->has_value()) {
    EXPECT_LT(absl::ToUnixSeconds(**wm), 2000);
  }
  EXPECT_TRUE(Failures().empty()) << "the parked record was saved before the disk filled?";

  v1::Run next = Sync();
  ASSERT_EQ(next.state(), v1::RUN_STATE_SUCCEEDED) << next.error();
  EXPECT_EQ(peers_.openimis().size(), 200u);
  std::vector<v1::Failure> open = Failures();
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].location_id(), "bad-late");
  EXPECT_EQ(absl::ToUnixSeconds(FromTimestamp(next.watermark())), 2000);
}

// The disk fills while a batch is mapped, after its records were journaled:
// the commit of its outcomes (a rejected record with a large raw copy) fails.
// The watermark stays below that record, though later ones were written, so
// the next run parks it: it is never in neither openIMIS nor the queue.
TEST_F(OrchestratorTest, AFailedCommitNeverLetsTheWatermarkPassItsRecords) {
  peers_.overlap_s = 0;
  Seed(198);
  peers_.Put("bad-late", absl::StrCat("BAD late ", std::string(40000, 'x')), 1999);
  peers_.Put("late-1", "Late 1", 2000);
  peers_.Put("late-2", "Late 2", 2001);
  peers_.on_map = [&](const v1::MapFacilitiesRequest& req) {
    for (const v1::SourceRecord& r : req.records()) {
      if (r.location_id() == "bad-late") {
        ASSERT_TRUE(store_->LimitSize(std::filesystem::file_size(dir_ / "s.db")).ok());
      }
    }
  };
  v1::Run failed = Sync();
  EXPECT_EQ(failed.state(), v1::RUN_STATE_FAILED);
  EXPECT_NE(failed.error().find("s.db is full"), std::string::npos) << failed.error();
  peers_.on_map = nullptr;
  ASSERT_TRUE(store_->LimitSize(0).ok());
  EXPECT_TRUE(Failures().empty());
  auto wm = store_->GetWatermark("test");
  ASSERT_TRUE(wm.ok());
  if (wm->has_value()) {
    EXPECT_LT(absl::ToUnixSeconds(**wm), 1999);
  }

  v1::Run next = Sync();
  ASSERT_EQ(next.state(), v1::RUN_STATE_SUCCEEDED) << next.error();
  std::vector<v1::Failure> open = Failures();
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].location_id(), "bad-late");
  EXPECT_EQ(peers_.openimis().size(), 200u);
}

TEST_F(OrchestratorTest, JurisdictionsAreSkippedNotParked) {
  Seed(4);
  peers_.PutJurisdiction("county-a", 999);
  peers_.PutJurisdiction("county-b", 1000, /*read_by_producer=*/false);
  v1::Run run = Sync();
  EXPECT_EQ(run.state(), v1::RUN_STATE_SUCCEEDED);
  EXPECT_EQ(run.counts().fetched(), 6);
  EXPECT_EQ(run.counts().skipped(), 2);
  EXPECT_EQ(run.counts().created(), 4);
  EXPECT_TRUE(Failures().empty());
  EXPECT_EQ(peers_.openimis().size(), 4u);
  // Listable with why, page by page, for as long as the run's history.
  std::string next;
  auto skipped = store_->ListSkipped(run.run_id(), 1, "", &next);
  ASSERT_TRUE(skipped.ok()) << skipped.status();
  ASSERT_EQ(skipped->size(), 1u);
  EXPECT_EQ((*skipped)[0].location_id(), "county-a");
  EXPECT_EQ((*skipped)[0].reason(), "physicalType jdn: not a site (si)");
  EXPECT_FALSE(next.empty());
  skipped = store_->ListSkipped(run.run_id(), 10, next, &next);
  ASSERT_TRUE(skipped.ok()) << skipped.status();
  ASSERT_EQ(skipped->size(), 1u);
  EXPECT_EQ((*skipped)[0].location_id(), "county-b");
  EXPECT_EQ(absl::ToUnixSeconds(FromTimestamp((*skipped)[0].last_updated())), 1000);
  EXPECT_TRUE(next.empty());
  ASSERT_TRUE(store_->PruneRuns(0).ok());
  EXPECT_TRUE(store_->ListSkipped(run.run_id(), 10, "", &next)->empty());
}

TEST_F(OrchestratorTest, RejectedRecordFixedInMappingAndRetried) {
  Seed(6);
  peers_.Put("bad1", "BAD one", 1001);
  peers_.Put("bad2", "BAD two", 1002);
  ASSERT_EQ(Sync().counts().rejected(), 2);
  auto open = Failures();
  ASSERT_EQ(open.size(), 2u);
  // Retrying without a fix parks them again (same entries, attempts 2).
  v1::Run unchanged = Retry({open[0].failure_id()});
  EXPECT_EQ(unchanged.counts().rejected(), 1);
  EXPECT_EQ(Failures().size(), 2u);
  EXPECT_EQ(store_->GetFailure(open[0].failure_id())->attempts(), 2);
  peers_.reject_marker = "";  // the mapping is fixed
  v1::Run fixed = Retry({});
  EXPECT_EQ(fixed.state(), v1::RUN_STATE_SUCCEEDED);
  EXPECT_EQ(fixed.counts().created(), 2);
  EXPECT_TRUE(Failures().empty());
  EXPECT_EQ(Failures(v1::FAILURE_STATE_RESOLVED).size(), 2u);
  EXPECT_EQ(peers_.openimis().size(), 8u);
}

TEST_F(OrchestratorTest, TransientWriteFailuresAreParkedThenHeal) {
  Seed(9);
  peers_.fail_writes = 4;
  v1::Run run = Sync();
  EXPECT_EQ(run.state(), v1::RUN_STATE_SUCCEEDED);
  EXPECT_EQ(run.counts().failed(), 4);
  EXPECT_EQ(run.counts().created(), 5);
  // Parked records count as safe: the watermark passes them.
  EXPECT_EQ(absl::ToUnixSeconds(FromTimestamp(run.watermark())), 1020);
  auto open = Failures();
  ASSERT_EQ(open.size(), 4u);
  for (const auto& f : open) {
    EXPECT_TRUE(f.transient());
    EXPECT_EQ(f.stage(), v1::FAILURE_STAGE_WRITE);
    EXPECT_TRUE(f.has_next_attempt_at());
    EXPECT_NE(f.reason().find("HTTP 503"), std::string::npos) << f.reason();
  }
  v1::Run healed = Retry({});
  EXPECT_EQ(healed.counts().created(), 4);
  EXPECT_TRUE(Failures().empty());
  EXPECT_EQ(peers_.openimis().size(), 9u);
}

TEST_F(OrchestratorTest, FetchErrorKeepsWatermarkBehindUnfinishedRecords) {
  Seed(20);
  options_.peer_attempts = 1;  // no resume: the run fails at the first break
  options_.peer_outage = absl::ZeroDuration();
  peers_.fetch_error_after_pages = 2;  // 10 of 20 records arrive
  v1::Run failed = Sync();
  EXPECT_EQ(failed.state(), v1::RUN_STATE_FAILED);
  EXPECT_NE(failed.error().find("503"), std::string::npos) << failed.error();
  EXPECT_EQ(failed.counts().fetched(), 10);
  int64_t wm = absl::ToUnixSeconds(FromTimestamp(failed.watermark()));
  EXPECT_LE(wm, 1030);  // f9 (lastUpdated 1030) shares its second with f10, f11
  peers_.fetch_error_after_pages = -1;
  int writes_before = peers_.writes();
  v1::Run resumed = Sync();
  EXPECT_EQ(resumed.state(), v1::RUN_STATE_SUCCEEDED);
  EXPECT_EQ(peers_.openimis().size(), 20u);
  EXPECT_EQ(peers_.writes() - writes_before, 10);  // none written twice
}

// A fetcher restarted twice mid-run (its stream breaks UNAVAILABLE): the run
// resumes from the last committed point each time and succeeds, writing
// every facility once.
TEST_F(OrchestratorTest, AFetchThatBreaksResumesFromTheLastCommittedPoint) {
  Seed(20);
  peers_.fetch_error_after_pages = 1;  // each attempt serves one page of 5, then breaks
  peers_.fetch_errors = 2;
  v1::Run run = Sync();
  ASSERT_EQ(run.state(), v1::RUN_STATE_SUCCEEDED) << run.error();
  EXPECT_EQ(peers_.fetch_calls, 3);
  EXPECT_TRUE(peers_.last_fetch().has_since()) << "the last attempt resumed, not restarted";
  EXPECT_GT(peers_.last_fetch().already_seen_size(), 0);
  EXPECT_EQ(peers_.openimis().size(), 20u);
  EXPECT_EQ(peers_.writes(), 20) << "a facility was written twice";
  EXPECT_EQ(run.counts().created(), 20);
  EXPECT_EQ(absl::ToUnixSeconds(FromTimestamp(run.watermark())), 1060);
}

// A fetch that keeps breaking without progress fails the run once the
// outage budget is spent.
TEST_F(OrchestratorTest, AFetchBrokenForLongerThanTheOutageBudgetFailsTheRun) {
  Seed(5);
  options_.peer_outage = absl::Milliseconds(300);
  peers_.fetch_error_after_pages = 0;
  const absl::Time start = absl::Now();
  v1::Run run = Sync();
  EXPECT_EQ(run.state(), v1::RUN_STATE_FAILED);
  EXPECT_NE(run.error().find("503"), std::string::npos) << run.error();
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(300));
  EXPECT_GT(peers_.fetch_calls, 3);
}

TEST_F(OrchestratorTest, CrashAfterWriteBeforeCommitDoesNotWriteTwice) {
  Seed(6);
  // A run wrote f0..f2 and died before recording it: they are in flight in
  // the journal and present in openIMIS.
  std::vector<v1::SourceRecord> inflight;
  v1::WriteFacilitiesRequest w;
  for (int i = 0; i < 3; ++i) {
    v1::SourceRecord r;
    r.set_location_id(absl::StrCat("f", i));
    r.set_version_id("1");
    *r.mutable_last_updated() = FromMicros(int64_t{1000} * 1000000);
    inflight.push_back(r);
    v1::WriteItem* item = w.add_items();
    item->set_record_key(r.location_id());
    item->set_action(v1::WRITE_ACTION_CREATE);
    item->mutable_facility()->set_code(r.location_id());
    item->mutable_facility()->set_name(absl::StrCat("Facility ", i));
    item->mutable_facility()->set_active(true);
  }
  ASSERT_TRUE(store_->JournalInFlight("test", "run-dead", inflight, absl::Now()).ok());
  CancelToken c;
  ASSERT_TRUE(peers_.WriteFacilities(w, c).ok());
  int writes_before = peers_.writes();
  v1::Run run = Sync();
  EXPECT_EQ(run.state(), v1::RUN_STATE_SUCCEEDED);
  EXPECT_EQ(run.counts().unchanged(), 3);
  EXPECT_EQ(run.counts().created(), 3);
  EXPECT_EQ(peers_.writes() - writes_before, 3);
  EXPECT_EQ(peers_.openimis().size(), 6u);
}

TEST_F(OrchestratorTest, CancelEndsCancelledAndLosesNothing) {
  Seed(20);
  peers_.block_at_page = 2;
  CancelToken cancel;
  v1::Run cancelled;
  std::thread t([&] { cancelled = Sync(false, &cancel); });
  ASSERT_TRUE(peers_.WaitBlocked());
  cancel.Cancel();
  peers_.Release();
  t.join();
  EXPECT_EQ(cancelled.state(), v1::RUN_STATE_CANCELLED);
  EXPECT_LT(cancelled.counts().fetched(), 20);
  peers_.block_at_page = -1;
  v1::Run rest = Sync();
  EXPECT_EQ(rest.state(), v1::RUN_STATE_SUCCEEDED);
  EXPECT_EQ(peers_.openimis().size(), 20u);
  EXPECT_EQ(peers_.writes(), 20);
}

TEST_F(OrchestratorTest, BatchesInFlightAreBounded) {
  options_.batch_size = 1;
  options_.max_batches_in_flight = 2;
  Seed(30);
  v1::Run run = Sync();
  EXPECT_EQ(run.counts().created(), 30);
  EXPECT_LE(peers_.max_concurrent_maps(), 2);
  EXPECT_GE(peers_.max_concurrent_maps(), 1);
}

// A push goes through the same flow as a sync: results in the request's
// order, the newest version wins against what a sync wrote (and a sync
// against what a push wrote), refusals are parked with their ids.
TEST_F(OrchestratorTest, APushIsOneRecordFlowWithTheSync) {
  Seed(3);
  ASSERT_EQ(Sync().counts().created(), 3);
  const v1::SourceRecord old_f1 = peers_.Record("f1");
  peers_.Put("f1", "Facility 1 renamed", 2000);
  peers_.Put("p9", "Pushed 9", 2000);
  peers_.Put("bad9", "BAD pushed", 2000);
  std::vector<v1::RecordResult> results;
  v1::Run run = Push({peers_.Record("p9"), old_f1, peers_.Record("bad9"), peers_.Record("f1")},
                     &results);
  ASSERT_EQ(run.state(), v1::RUN_STATE_SUCCEEDED) << run.error();
  EXPECT_EQ(run.trigger(), v1::RUN_TRIGGER_PUSH);
  ASSERT_EQ(results.size(), 4u);
  EXPECT_EQ(results[0].location_id(), "p9");
  EXPECT_EQ(results[0].status(), v1::RECORD_STATUS_CREATED);
  EXPECT_EQ(results[0].write().action(), v1::WRITE_ACTION_CREATE);
  EXPECT_EQ(results[0].write_result().outcome(), v1::WRITE_OUTCOME_CREATED);
  EXPECT_EQ(results[1].location_id(), "f1");
  EXPECT_EQ(results[1].status(), v1::RECORD_STATUS_STALE) << "the sync wrote this version";
  EXPECT_FALSE(results[1].has_write());
  EXPECT_EQ(results[2].status(), v1::RECORD_STATUS_REJECTED);
  EXPECT_EQ(results[2].stage(), v1::FAILURE_STAGE_MAP);
  ASSERT_GT(results[2].rejections_size(), 0);
  EXPECT_EQ(results[2].rejections(0).rule(), "mapping.facility_type.unknown");
  EXPECT_NE(results[2].failure_id(), 0);
  EXPECT_EQ(results[3].location_id(), "f1");
  EXPECT_EQ(results[3].status(), v1::RECORD_STATUS_UPDATED);
  EXPECT_EQ(peers_.openimis().at("f1").name(), "Facility 1 renamed");
  ASSERT_EQ(Failures().size(), 1u);
  EXPECT_EQ(Failures()[0].failure_id(), results[2].failure_id());
  EXPECT_EQ(run.counts().created(), 1);
  EXPECT_EQ(run.counts().updated(), 1);
  EXPECT_EQ(run.counts().stale(), 1);
  EXPECT_EQ(run.counts().rejected(), 1);

  // An older copy pushed again is stale, and the next sync, which meets the
  // versions the push wrote, writes nothing.
  std::vector<v1::RecordResult> again;
  Push({old_f1}, &again);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].status(), v1::RECORD_STATUS_STALE);
  const int writes = peers_.writes();
  v1::Run incremental = Sync();
  EXPECT_EQ(incremental.counts().created() + incremental.counts().updated(), 0);
  EXPECT_EQ(peers_.writes(), writes);
}

// A push whose records the flow cannot finish (the mapper down past the
// outage budget) parks them as transient failures: nothing is lost, and the
// automatic retries write them once the mapper is back.
TEST_F(OrchestratorTest, APushThePeersCannotFinishIsParkedNotLost) {
  peers_.Put("p1", "Pushed 1", 1000);
  peers_.Put("p2", "Pushed 2", 1000);
  peers_.mapper_down = true;
  std::vector<v1::RecordResult> results;
  v1::Run run = Push({peers_.Record("p1"), peers_.Record("p2")}, &results);
  EXPECT_EQ(run.state(), v1::RUN_STATE_FAILED);
  EXPECT_NE(run.error().find("mapper down"), std::string::npos) << run.error();
  EXPECT_EQ(run.counts().failed(), 2);
  ASSERT_EQ(results.size(), 2u);
  for (const v1::RecordResult& r : results) {
    EXPECT_EQ(r.status(), v1::RECORD_STATUS_FAILED) << r.location_id();
    EXPECT_NE(r.failure_id(), 0);
    EXPECT_NE(r.reason().find("not written"), std::string::npos) << r.reason();
  }
  auto open = Failures();
  ASSERT_EQ(open.size(), 2u);
  EXPECT_TRUE(open[0].transient());
  peers_.mapper_down = false;
  v1::Run retry = Retry({open[0].failure_id(), open[1].failure_id()});
  EXPECT_EQ(retry.counts().created(), 2) << retry.error();
  EXPECT_TRUE(Failures().empty());
  EXPECT_EQ(peers_.openimis().size(), 2u);
}

// Every write of every run kind is in the change history, with the fields
// it changed: a create (every field set), an update (old -> new) and a
// deactivation, by run and by facility.
TEST_F(OrchestratorTest, EveryWriteIsInTheChangeHistoryWithItsFields) {
  Seed(3);
  v1::Run first = Sync();
  ASSERT_EQ(first.counts().created(), 3);
  peers_.Put("f1", "Facility One", 3000);
  peers_.Put("f2", "Facility 2", 3001, /*active=*/false);
  v1::Run second = Sync();
  ASSERT_EQ(second.counts().updated(), 2) << second.error();
  std::vector<v1::FacilityChange> created = Changes({first.run_id(), "", std::nullopt});
  ASSERT_EQ(created.size(), 3u);
  for (const v1::FacilityChange& c : created) {
    EXPECT_EQ(c.entry().action(), v1::PLAN_ACTION_CREATE);
    EXPECT_EQ(c.entry().uuid(), "uuid-" + c.entry().code());
    EXPECT_EQ(c.trigger(), v1::RUN_TRIGGER_MANUAL);
    EXPECT_GE(c.entry().changes_size(), 2);  // code, name, ... from nothing
  }
  std::vector<v1::FacilityChange> f1 = Changes({"", "f1", std::nullopt});
  ASSERT_EQ(f1.size(), 2u);
  EXPECT_EQ(f1[0].run_id(), second.run_id());  // newest first
  EXPECT_EQ(f1[0].entry().action(), v1::PLAN_ACTION_UPDATE);
  ASSERT_EQ(f1[0].entry().changes_size(), 1);
  EXPECT_EQ(f1[0].entry().changes(0).field(), "name");
  EXPECT_EQ(f1[0].entry().changes(0).old_value(), "Facility 1");
  EXPECT_EQ(f1[0].entry().changes(0).new_value(), "Facility One");
  std::vector<v1::FacilityChange> f2 = Changes({second.run_id(), "f2", std::nullopt});
  ASSERT_EQ(f2.size(), 1u);
  EXPECT_EQ(f2[0].entry().action(), v1::PLAN_ACTION_DEACTIVATE);
  EXPECT_EQ(f2[0].entry().changes(0).field(), "status");
  EXPECT_EQ(f2[0].entry().changes(0).old_value(), "active");
  EXPECT_EQ(f2[0].entry().changes(0).new_value(), "inactive");
}

// A retry from the MFL takes each Location's current version through the
// record flow: a record fixed on the MFL is written; one the MFL no longer
// serves stays open, and the run and the entry say so.
TEST_F(OrchestratorTest, ARetryFromTheMflTakesTheCurrentVersion) {
  peers_.Put("f1", "Facility 1 BAD", 1000);
  peers_.Put("f2", "Facility 2 BAD", 1001);
  v1::Run sync = Sync();
  ASSERT_EQ(sync.counts().rejected(), 2);
  std::vector<v1::Failure> open = Failures();
  ASSERT_EQ(open.size(), 2u);
  peers_.Put("f1", "Facility 1", 2000);  // fixed on the MFL
  peers_.Remove("f2");                   // gone from the MFL
  v1::Run retry = Retry({open[0].failure_id(), open[1].failure_id()}, /*from_mfl=*/true);
  EXPECT_EQ(retry.state(), v1::RUN_STATE_SUCCEEDED) << retry.error();
  EXPECT_EQ(retry.counts().created(), 1);
  EXPECT_EQ(peers_.last_fetch().location_ids_size(), 2);
  ASSERT_EQ(retry.warnings_size(), 1);
  EXPECT_NE(retry.warnings(0).find("no longer serves Location f2"), std::string::npos)
      << retry.warnings(0);
  std::vector<v1::Failure> left = Failures();
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].location_id(), "f2");
  v1::Failure gone = *store_->GetFailure(left[0].failure_id());
  ASSERT_EQ(gone.actions_size(), 1);
  EXPECT_NE(gone.actions(0).detail().find("no longer serves"), std::string::npos);
  ASSERT_EQ(Failures(v1::FAILURE_STATE_RESOLVED).size(), 1u);
  std::vector<v1::FacilityChange> written = Changes({retry.run_id(), "", std::nullopt});
  ASSERT_EQ(written.size(), 1u);
  EXPECT_EQ(written[0].entry().version_id(), "2");  // the MFL's current version
  EXPECT_EQ(written[0].trigger(), v1::RUN_TRIGGER_RETRY);
}

}  // namespace
}  // namespace mflsync::scheduler
