// The fixture every end-to-end test file shares: one Stack per test and
// the checks that openIMIS, the MFL and the failure queue agree.
#ifndef MFLSYNC_TESTS_E2E_E2E_FIXTURE_H_
#define MFLSYNC_TESTS_E2E_E2E_FIXTURE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "absl/time/time.h"
#include "mflsync/v1/scheduler.grpc.pb.h"
#include "tests/e2e/stack_harness.h"

namespace mflsync::e2e {

// The HF code of a synthetic MFL facility ("fac-10002" → "10002").
std::string CodeOf(const std::string& location_id);

// The status openIMIS should hold for an MFL Location: "active" when its
// status is active or absent (the mapper's rule), else "inactive".
std::string ExpectedStatus(const nlohmann::json& location);

class E2eFixture : public ::testing::Test {
 protected:
  void StartStack(StackOptions options = {});
  void TearDown() override;

  // Every MFL facility is in openIMIS under its code exactly once, with the
  // MFL's current name and status, or has exactly one open failure-queue
  // entry, never both; openIMIS holds nothing else, and every open entry is
  // for a Location the MFL serves. Returns the open entries by Location id.
  std::map<std::string, v1::Failure> ExpectConsistent();
  // Each facility openIMIS holds was created exactly once (the stand-in's
  // succeeded createHealthFacility count equals what it holds).
  void ExpectOneCreatePerFacility();
  // Waits (up to `timeout`) until the failure queue holds no open transient
  // entry (the scheduler retries them by itself); how many are left.
  int WaitNoTransientFailures(absl::Duration timeout = absl::Seconds(120));

  // Replaces a facility Location on the MFL (a new version, lastUpdated now).
  void PutLocation(const nlohmann::json& location);
  // Posts faults to a stand-in ("mfl" or "openimis").
  void AddFaults(const std::string& server, const nlohmann::json& faults);
  // Some facility ids that are in openIMIS after a sync.
  std::vector<std::string> SyncedIds(size_t n);
  // GraphQL mutations `name` (createHealthFacility, ...) the stand-in ran
  // to `outcome` (received, succeeded, failed).
  int64_t OpenImisMutations(const std::string& name, const std::string& outcome);
  // Slows every openIMIS GraphQL write by 20 ms, so that a fault can land
  // mid-run.
  void SlowOpenImisWrites();
  // Starts an incremental sync without waiting; its run id.
  std::string StartSync();
  // Waits (up to 60 s) until openIMIS holds at least n facilities; how many
  // it holds.
  size_t WaitForFacilities(size_t n);
  // The run's counts now (GetRun).
  v1::Run GetRun(const std::string& run_id);

  std::unique_ptr<Stack> stack_;
};

}  // namespace mflsync::e2e

#endif  // MFLSYNC_TESTS_E2E_E2E_FIXTURE_H_
