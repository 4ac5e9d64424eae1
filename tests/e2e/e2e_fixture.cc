#include "tests/e2e/e2e_fixture.h"

#include <iostream>
#include <set>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"

namespace mflsync::e2e {

using nlohmann::json;

std::string CodeOf(const std::string& location_id) {
  return std::string(absl::StripPrefix(location_id, "fac-"));
}

std::string ExpectedStatus(const json& location) {
  const std::string status = location.value("status", "");
  return status.empty() || status == "active" ? "active" : "inactive";
}

void E2eFixture::StartStack(StackOptions options) {
  stack_ = std::make_unique<Stack>(std::move(options));
  absl::Status s = stack_->Start();
  ASSERT_TRUE(s.ok()) << s;
}

void E2eFixture::TearDown() {
  if (HasFailure() && stack_ != nullptr) {
    for (const char* name : {"scheduler", "writer", "mapper", "fetcher"}) {
      std::cerr << "--- " << name << " log tail:\n" << stack_->LogTail(name, 15);
    }
  }
  stack_.reset();
}

std::map<std::string, v1::Failure> E2eFixture::ExpectConsistent() {
  auto mfl = stack_->MflFacilities();
  // OpenImisFacilities fails when a code is held twice or the count and the
  // list disagree: each HF code at most once.
  auto oi = stack_->OpenImisFacilities();
  auto open = stack_->Failures();
  EXPECT_TRUE(mfl.ok()) << mfl.status();
  EXPECT_TRUE(oi.ok()) << oi.status();
  EXPECT_TRUE(open.ok()) << open.status();
  std::map<std::string, v1::Failure> failures;
  if (!mfl.ok() || !oi.ok() || !open.ok()) return failures;
  for (const v1::Failure& f : *open) {
    EXPECT_TRUE(failures.emplace(f.location_id(), f).second)
        << "two open entries for " << f.location_id();
  }
  std::set<std::string> expected_codes;
  for (const auto& [id, loc] : *mfl) {
    const std::string code = CodeOf(id);
    const bool in_oi = oi->count(code) > 0;
    const bool parked = failures.count(id) > 0;
    EXPECT_NE(in_oi, parked) << id
                             << (in_oi ? " is in openIMIS and parked: " + failures[id].reason()
                                       : " is neither in openIMIS nor parked");
    if (!in_oi) continue;
    expected_codes.insert(code);
    const json& held = (*oi)[code];
    EXPECT_EQ(held.value("name", ""), loc.value("name", "")) << id << ": stale name";
    EXPECT_EQ(held.value("status", ""), ExpectedStatus(loc)) << id << ": stale status";
  }
  for (const auto& [code, f] : *oi) {
    EXPECT_TRUE(expected_codes.count(code)) << "openIMIS holds unexpected HF code " << code;
  }
  for (const auto& [id, f] : failures) {
    EXPECT_TRUE(mfl->count(id)) << "open failure for a Location the MFL does not serve: " << id;
  }
  return failures;
}

void E2eFixture::ExpectOneCreatePerFacility() {
  auto oi = stack_->OpenImisFacilities();
  ASSERT_TRUE(oi.ok()) << oi.status();
  EXPECT_EQ(OpenImisMutations("createHealthFacility", "succeeded"),
            static_cast<int64_t>(oi->size()))
      << "a facility was created twice (or a create was lost)";
}

int E2eFixture::WaitNoTransientFailures(absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  int transient = -1;
  while (transient != 0 && absl::Now() < deadline) {
    auto open = stack_->Failures();
    if (open.ok()) {
      transient = 0;
      for (const v1::Failure& f : *open) transient += f.transient() ? 1 : 0;
    }
    if (transient != 0) absl::SleepFor(absl::Milliseconds(250));
  }
  return transient;
}

void E2eFixture::PutLocation(const json& location) {
  auto r = stack_->Http("mfl", "PUT", absl::StrCat("/fhir/Location/", location.value("id", "")),
                        location);
  ASSERT_TRUE(r.ok()) << r.status();
}

void E2eFixture::AddFaults(const std::string& server, const json& faults) {
  auto r = stack_->Http(server, "POST", "/$testbed/faults", faults);
  ASSERT_TRUE(r.ok()) << r.status();
}

std::vector<std::string> E2eFixture::SyncedIds(size_t n) {
  std::vector<std::string> ids;
  auto mfl = stack_->MflFacilities();
  auto oi = stack_->OpenImisFacilities();
  if (!mfl.ok() || !oi.ok()) return ids;
  for (const auto& [id, loc] : *mfl) {
    if (ids.size() < n && oi->count(CodeOf(id)) &&
        (*oi)[CodeOf(id)].value("status", "active") == "active" &&
        loc.value("status", "") == "active") {
      ids.push_back(id);
    }
  }
  return ids;
}

int64_t E2eFixture::OpenImisMutations(const std::string& name, const std::string& outcome) {
  auto stats = stack_->Http("openimis", "GET", "/$testbed/stats");
  EXPECT_TRUE(stats.ok()) << stats.status();
  if (!stats.ok()) return -1;
  const json& counts = (*stats)["graphql_mutations"];
  if (!counts.contains(name)) return 0;
  return counts[name].value(outcome, 0);
}

void E2eFixture::SlowOpenImisWrites() {
  AddFaults("openimis", json::array({{{"kind", "latency"},
                                      {"ms", 20},
                                      {"method", "POST"},
                                      {"path", "/api/graphql"},
                                      {"times", -1}}}));
}

std::string E2eFixture::StartSync() {
  grpc::ClientContext ctx;
  v1::TriggerSyncRequest req;
  v1::TriggerSyncResponse resp;
  grpc::Status s = stack_->Scheduler()->TriggerSync(&ctx, req, &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return resp.run().run_id();
}

size_t E2eFixture::WaitForFacilities(size_t n) {
  absl::Time deadline = absl::Now() + absl::Seconds(60);
  size_t held = 0;
  while (absl::Now() < deadline && held < n) {
    auto oi = stack_->OpenImisFacilities();
    if (oi.ok()) held = oi->size();
    absl::SleepFor(absl::Milliseconds(50));
  }
  return held;
}

v1::Run E2eFixture::GetRun(const std::string& run_id) {
  grpc::ClientContext ctx;
  v1::GetRunRequest req;
  req.set_run_id(run_id);
  v1::GetRunResponse resp;
  grpc::Status s = stack_->Scheduler()->GetRun(&ctx, req, &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return resp.run();
}

}  // namespace mflsync::e2e
