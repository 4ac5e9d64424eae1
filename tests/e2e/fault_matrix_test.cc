// Issue #11's fault matrix: the real services and the stand-ins under one
// fault per scenario. Each scenario ends with openIMIS equal to the MFL
// (each HF code once, current name and status) or the failure queue, one
// succeeded create per facility, and no transient failure left once the
// scheduler has retried them. Kill -9 of the fetcher and the scheduler and an
// openIMIS outage are in e2e_test.cc.
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/e2e/e2e_fixture.h"

namespace mflsync::e2e {
namespace {

using nlohmann::json;

constexpr int kFacilities = 300;

// Short waits everywhere: transient entries retried within a second, peers
// waited for a minute, failed runs not rerun by themselves (each test
// triggers the runs it checks).
StackOptions MatrixOptions() {
  StackOptions options;
  options.synthetic_facilities = kFacilities;
  options.extra_config["scheduler"] = {
      {"retry", {{"initial_backoff", "300ms"}, {"max_backoff", "1s"}, {"check_interval", "200ms"}}},
      {"peer_retry", {{"backoff", "200ms"}, {"outage", "60s"}}},
      {"rerun", {{"max_attempts", 0}}}};
  return options;
}

class FaultMatrixTest : public E2eFixture {
 protected:
  // The scenario's closing checks (see the file comment).
  void ExpectSafe() {
    EXPECT_EQ(WaitNoTransientFailures(), 0) << "transient failures were not retried";
    ASSERT_TRUE(stack_->Http("openimis", "DELETE", "/$testbed/faults").ok());
    auto parked = ExpectConsistent();
    for (const auto& [id, f] : parked) EXPECT_FALSE(f.transient()) << id << ": " << f.reason();
    ExpectOneCreatePerFacility();
  }

  // How often the openIMIS stand-in's faults of `kind` fired.
  int64_t FaultsFired(const std::string& kind) {
    auto stats = stack_->Http("openimis", "GET", "/$testbed/stats");
    EXPECT_TRUE(stats.ok()) << stats.status();
    return stats.ok() ? (*stats)["faults_fired"].value(kind, 0) : -1;
  }

  // A first sync, then `n` synced facilities renamed on the MFL; their ids.
  std::vector<std::string> SyncThenRename(size_t n) {
    absl::StatusOr<v1::Run> first = stack_->SyncAndWait(false);
    EXPECT_TRUE(first.ok()) << first.status();
    if (first.ok()) {
      EXPECT_EQ(first->state(), v1::RUN_STATE_SUCCEEDED) << first->error();
    }
    std::vector<std::string> ids = SyncedIds(n);
    EXPECT_EQ(ids.size(), n);
    auto touched = stack_->Http("mfl", "POST", "/$testbed/touch",
                                json{{"ids", ids}, {"name_suffix", " (renamed)"}});
    EXPECT_TRUE(touched.ok()) << touched.status();
    return ids;
  }
};

// --- kill -9 of a peer mid-run, back within peer_retry.outage -------------

class PeerKilledTest : public FaultMatrixTest,
                       public ::testing::WithParamInterface<const char*> {};

TEST_P(PeerKilledTest, RestartedWithinTheOutageTheRunFinishes) {
  ASSERT_NO_FATAL_FAILURE(StartStack(MatrixOptions()));
  ASSERT_NO_FATAL_FAILURE(SlowOpenImisWrites());  // so that the kill lands mid-run
  const std::string run_id = StartSync();
  ASSERT_GE(WaitForFacilities(60), 60u);
  EXPECT_EQ(stack_->StopService(GetParam(), SIGKILL), 128 + SIGKILL);
  auto at_kill = stack_->OpenImisFacilities();
  ASSERT_TRUE(at_kill.ok()) << at_kill.status();
  ASSERT_LT(at_kill->size(), kFacilities * 9 / 10u) << "the run ended before the kill";
  absl::SleepFor(absl::Seconds(3));
  ASSERT_TRUE(stack_->StartService(GetParam()).ok());

  auto run = stack_->WaitRun(run_id, absl::Minutes(3));
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->state(), v1::RUN_STATE_SUCCEEDED) << run->error();
  ExpectSafe();
  EXPECT_EQ(OpenImisMutations("updateHealthFacility", "received"), 0);
}

INSTANTIATE_TEST_SUITE_P(Peers, PeerKilledTest, ::testing::Values("writer", "mapper"),
                         [](const auto& info) { return std::string(info.param); });

// --- 30% faults on one kind of openIMIS call ------------------------------

struct OpenImisFault {
  std::string name;
  std::string kind;      // status (503 before any write) or drop_after_commit
  json contains;         // which GraphQL calls (a body substring or a list)
  bool on_updates;       // a first sync, then 50 renames synced under the fault
};

void PrintTo(const OpenImisFault& f, std::ostream* os) { *os << f.name; }

class OpenImisFaultTest : public FaultMatrixTest,
                          public ::testing::WithParamInterface<OpenImisFault> {};

TEST_P(OpenImisFaultTest, EveryFacilityWrittenExactlyOnce) {
  const OpenImisFault& p = GetParam();
  ASSERT_NO_FATAL_FAILURE(StartStack(MatrixOptions()));
  std::vector<std::string> renamed;
  if (p.on_updates) {
    renamed = SyncThenRename(50);
    ASSERT_EQ(renamed.size(), 50u);
  }
  const int64_t updates_before = OpenImisMutations("updateHealthFacility", "succeeded");
  json fault = {{"kind", p.kind},       {"path", "/api/graphql"}, {"contains", p.contains},
                {"probability", 0.3},   {"seed", 11},             {"times", -1}};
  if (p.kind == "status") fault["status"] = 503;
  ASSERT_NO_FATAL_FAILURE(AddFaults("openimis", json::array({fault})));

  absl::StatusOr<v1::Run> run = stack_->SyncAndWait(false);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->state(), v1::RUN_STATE_SUCCEEDED) << run->error();
  EXPECT_GT(FaultsFired(p.kind), 0) << "the fault never fired: the scenario tested nothing";
  ExpectSafe();
  if (p.on_updates) {
    // Each rename reached openIMIS exactly once (ExpectConsistent checked the
    // names); no create was repeated.
    EXPECT_EQ(OpenImisMutations("updateHealthFacility", "succeeded") - updates_before, 50);
  } else {
    EXPECT_EQ(OpenImisMutations("updateHealthFacility", "received"), 0);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Calls, OpenImisFaultTest,
    ::testing::Values(
        OpenImisFault{"create_503", "status", "createHealthFacility", false},
        OpenImisFault{"update_503", "status", "updateHealthFacility", true},
        OpenImisFault{"mutation_log_503", "status", "mutationLogs", false},
        OpenImisFault{"index_503", "status",
                      json::array({"query mflsyncFacilities", "query mflsyncAreas"}), true},
        OpenImisFault{"create_lost_after_commit", "drop_after_commit", "createHealthFacility",
                      false},
        OpenImisFault{"update_lost_after_commit", "drop_after_commit", "updateHealthFacility",
                      true}),
    [](const auto& info) { return info.param.name; });

// --- the scheduler's disk full mid-run ------------------------------------

class DiskFullTest : public FaultMatrixTest {
 protected:
  void TearDown() override {
    FaultMatrixTest::TearDown();  // stops the scheduler first
    if (!mounted_.empty() && umount2(mounted_.c_str(), MNT_DETACH) != 0) {
      ADD_FAILURE() << "umount " << mounted_ << ": " << strerror(errno);
    }
    std::error_code ec;
    if (!mounted_.empty()) std::filesystem::remove(mounted_, ec);
  }

  // Writes zeros into `path` until the disk is full; bytes written.
  static int64_t Fill(const std::string& path) {
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return -1;
    std::vector<char> chunk(64 * 1024, 0);
    int64_t total = 0;
    for (;;) {
      ssize_t n = write(fd, chunk.data(), chunk.size());
      if (n <= 0) break;
      total += n;
    }
    close(fd);
    return total;
  }

  std::string mounted_;
};

TEST_F(DiskFullTest, TheRunFailsCleanlyAndTheNextOneFinishes) {
  // The state database lives on an 8 MiB tmpfs of its own.
  const std::string dir = absl::StrCat(::testing::TempDir(), "mflsync_state_", getpid());
  std::filesystem::create_directories(dir);
  if (mount("tmpfs", dir.c_str(), "tmpfs", 0, "size=8m") != 0) {
    const std::string why = strerror(errno);
    std::filesystem::remove(dir);
    GTEST_SKIP() << "cannot mount a tmpfs for the state database (" << why
                 << "): this scenario needs root or CAP_SYS_ADMIN";
  }
  mounted_ = dir;
  StackOptions options = MatrixOptions();
  const std::string db = dir + "/scheduler.db";
  options.extra_config["scheduler"]["state_db"] = db;
  ASSERT_NO_FATAL_FAILURE(StartStack(options));
  // A slow MFL (0.3 s a page) and slow writes: the disk fills while the run
  // still has pages to journal and facilities to write (SQLite's WAL would
  // absorb a few small commits without asking for space).
  ASSERT_NO_FATAL_FAILURE(
      AddFaults("mfl", json::array({{{"kind", "delay"}, {"seconds", 0.3}, {"times", -1}}})));
  ASSERT_NO_FATAL_FAILURE(SlowOpenImisWrites());
  const std::string run_id = StartSync();
  absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (GetRun(run_id).counts().fetched() < 400 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_GE(GetRun(run_id).counts().fetched(), 400);
  const std::string filler = dir + "/filler";
  ASSERT_GT(Fill(filler), 0);

  auto run = stack_->WaitRun(run_id, absl::Minutes(3));
  ASSERT_TRUE(run.ok()) << run.status();
  std::cout << "[   RUN  ] " << run_id << " on a full disk: " << run->error() << "\n";
  EXPECT_EQ(run->state(), v1::RUN_STATE_FAILED) << "the disk filled too late; slow writes more";
  EXPECT_TRUE(absl::StrContains(run->error(), db)) << run->error();
  EXPECT_TRUE(absl::StrContains(run->error(), "is full")) << run->error();

  // Space back: the failed run stays failed (saved by a later tick, never
  // RUNNING) and the next run finishes the job.
  std::filesystem::remove(filler);
  ASSERT_TRUE(stack_->Http("mfl", "DELETE", "/$testbed/faults").ok());
  absl::StatusOr<v1::Run> next = stack_->SyncAndWait(false);
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->state(), v1::RUN_STATE_SUCCEEDED) << next->error();
  EXPECT_EQ(GetRun(run_id).state(), v1::RUN_STATE_FAILED);
  ExpectSafe();
  EXPECT_EQ(OpenImisMutations("updateHealthFacility", "received"), 0);
}

// --- the MFL changes while a run is in progress ---------------------------

TEST_F(FaultMatrixTest, MflChangesDuringTheRun) {
  ASSERT_NO_FATAL_FAILURE(StartStack(MatrixOptions()));
  ASSERT_NO_FATAL_FAILURE(SlowOpenImisWrites());
  auto mfl = stack_->MflFacilities();
  ASSERT_TRUE(mfl.ok()) << mfl.status();
  const std::string run_id = StartSync();
  ASSERT_GE(WaitForFacilities(40), 40u);

  // Every 10th active facility renamed, every 10th (shifted) deactivated,
  // five new ones: some already written by the run, some not yet.
  std::vector<std::string> renamed, closed;
  int i = 0;
  for (const auto& [id, loc] : *mfl) {
    if (loc.value("status", "") != "active") continue;
    if (i % 10 == 0) renamed.push_back(id);
    if (i % 10 == 5) closed.push_back(id);
    ++i;
  }
  auto touched = stack_->Http("mfl", "POST", "/$testbed/touch",
                              json{{"ids", renamed}, {"name_suffix", " (renamed)"}});
  ASSERT_TRUE(touched.ok()) << touched.status();
  for (const std::string& id : closed) {
    json loc = (*mfl)[id];
    loc["status"] = "inactive";
    loc.erase("meta");
    ASSERT_NO_FATAL_FAILURE(PutLocation(loc));
  }
  const json model = (*mfl)[renamed[0]];
  for (int n = 0; n < 5; ++n) {
    json added = model;
    added["id"] = absl::StrCat("fac-9990", n);
    added["identifier"][0]["value"] = absl::StrCat("9990", n);
    added["name"] = absl::StrCat("Opened During The Run ", n);
    added.erase("meta");
    ASSERT_NO_FATAL_FAILURE(PutLocation(added));
  }

  auto run = stack_->WaitRun(run_id, absl::Minutes(3));
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->state(), v1::RUN_STATE_SUCCEEDED) << run->error();
  absl::StatusOr<v1::Run> next = stack_->SyncAndWait(false);
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->state(), v1::RUN_STATE_SUCCEEDED) << next->error();
  ExpectSafe();
  auto oi = stack_->OpenImisFacilities();
  ASSERT_TRUE(oi.ok());
  for (int n = 0; n < 5; ++n) EXPECT_TRUE(oi->count(absl::StrCat("9990", n))) << n;
  // (ExpectConsistent compared every name and status; these say the changes
  // were there to compare. A facility the mapping rejects is parked.)
  int closed_held = 0, renamed_held = 0;
  for (const std::string& id : closed) {
    if (!oi->count(CodeOf(id))) continue;
    ++closed_held;
    EXPECT_EQ(oi->at(CodeOf(id)).value("status", ""), "inactive") << id;
  }
  for (const std::string& id : renamed) {
    if (!oi->count(CodeOf(id))) continue;
    ++renamed_held;
    EXPECT_TRUE(absl::EndsWith(oi->at(CodeOf(id)).value("name", ""), " (renamed)")) << id;
  }
  EXPECT_GT(closed_held, 0);
  EXPECT_GT(renamed_held, 0);
}

}  // namespace
}  // namespace mflsync::e2e
