// Shared fixtures for the state-store tests: a fresh state database in a
// temporary folder per test, and records and batch outcomes to feed it.
#ifndef MFLSYNC_TESTS_SCHEDULER_TEST_UTIL_H_
#define MFLSYNC_TESTS_SCHEDULER_TEST_UTIL_H_

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "common/proto_time.h"
#include "common/sqlite.h"
#include "mflsync/v1/records.pb.h"
#include "mflsync/v1/scheduler.pb.h"
#include "scheduler/journal.h"
#include "scheduler/state_db.h"
#include "scheduler/state_store.h"

namespace mflsync::scheduler::testing {

// A record of source "kenya" with a Location and an Organization;
// lastUpdated is `lu_s` seconds after the epoch.
inline v1::SourceRecord TestRecord(const std::string& id, const std::string& version,
                                   int64_t lu_s) {
  v1::SourceRecord r;
  r.set_source_id("kenya");
  r.set_location_id(id);
  r.set_version_id(version);
  *r.mutable_last_updated() = FromMicros(lu_s * 1000000);
  r.set_location_json(absl::StrCat(R"({"resourceType":"Location","id":")", id, R"("})"));
  r.set_organization_json(R"({"resourceType":"Organization","id":"o1"})");
  return r;
}

// `r` parked: transient ones at the write stage, permanent ones at the map
// stage.
inline RecordOutcome Parked(v1::SourceRecord r, bool transient, const std::string& why) {
  RecordOutcome o;
  o.record = std::move(r);
  o.state = JournalState::kParked;
  o.stage = transient ? v1::FAILURE_STAGE_WRITE : v1::FAILURE_STAGE_MAP;
  o.reason = why;
  o.transient = transient;
  return o;
}

// `r` in a terminal `state` other than parked.
inline RecordOutcome Done(v1::SourceRecord r, JournalState state) {
  RecordOutcome o;
  o.record = std::move(r);
  o.state = state;
  return o;
}

// `r` written by `run_id` with its change-history entry: an `action` of HF
// code `code` whose name changed from "Old <code>" to "New <code>".
inline RecordOutcome Written(v1::SourceRecord r, const std::string& run_id,
                             const std::string& code,
                             v1::PlanAction action = v1::PLAN_ACTION_UPDATE) {
  RecordOutcome o = Done(r, JournalState::kWritten);
  v1::FacilityChange& c = o.change.emplace();
  c.set_run_id(run_id);
  c.set_source_id(r.source_id());
  c.set_trigger(v1::RUN_TRIGGER_MANUAL);
  v1::PlanEntry& e = *c.mutable_entry();
  e.set_location_id(r.location_id());
  e.set_version_id(r.version_id());
  e.set_action(action);
  e.set_code(code);
  v1::FieldChange* f = e.add_changes();
  f->set_field("name");
  f->set_old_value("Old " + code);
  f->set_new_value("New " + code);
  return o;
}

inline v1::RecordKey KeyOf(const v1::SourceRecord& r) {
  v1::RecordKey k;
  k.set_location_id(r.location_id());
  k.set_version_id(r.version_id());
  *k.mutable_last_updated() = r.last_updated();
  return k;
}

// An empty folder of the running test's own, under the test temp dir:
// `prefix` + the test's name + the process id (removed first if left over).
inline std::filesystem::path FreshTestDir(const char* prefix) {
  std::filesystem::path dir =
      std::filesystem::path(::testing::TempDir()) /
      absl::StrCat(prefix, ::testing::UnitTest::GetInstance()->current_test_info()->name(), "_",
                   getpid());
  std::filesystem::remove_all(dir);
  return dir;
}

// A temporary folder per test (removed after it) with `path_` in a
// subfolder not created yet.
class StateDbTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = FreshTestDir("store_");
    path_ = (dir_ / "sub" / "scheduler.db").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // The state database at `path_`, migrated (OpenStateDb).
  std::unique_ptr<SqliteDb> OpenDb() {
    absl::StatusOr<std::unique_ptr<SqliteDb>> db = OpenStateDb(path_);
    EXPECT_TRUE(db.ok()) << db.status();
    return db.ok() ? *std::move(db) : nullptr;
  }

  std::filesystem::path dir_;
  std::string path_;
};

// StateDbTest with a StateStore open at `path_` (default retry policy).
class StateStoreFixture : public StateDbTest {
 protected:
  void SetUp() override {
    StateDbTest::SetUp();
    absl::StatusOr<std::unique_ptr<StateStore>> s = StateStore::Open(path_, RetryPolicy{});
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = *std::move(s);
  }
  void TearDown() override {
    store_.reset();
    StateDbTest::TearDown();
  }

  std::unique_ptr<StateStore> store_;
};

}  // namespace mflsync::scheduler::testing

#endif  // MFLSYNC_TESTS_SCHEDULER_TEST_UTIL_H_
