// End-to-end scenarios of the sync through the real services (fetcher,
// mapper, writer, scheduler binaries) and the HTTP stand-ins of the MFL and
// openIMIS. Each ends by checking that openIMIS holds exactly the expected
// facilities and the failure queue exactly the expected entries.
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <set>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "tests/e2e/e2e_fixture.h"

namespace mflsync::e2e {
namespace {

using nlohmann::json;

// The scenarios' fixture (stack, helpers, consistency checks) is shared with
// fault_matrix_test.cc and hostile_input_test.cc.
class E2eTest : public E2eFixture {};

TEST_F(E2eTest, FullSyncThenIncrementalAfterChanges) {
  ASSERT_NO_FATAL_FAILURE(StartStack());
  absl::StatusOr<v1::Run> full = stack_->SyncAndWait(/*full=*/true);
  ASSERT_TRUE(full.ok()) << full.status();
  EXPECT_EQ(full->state(), v1::RUN_STATE_SUCCEEDED) << full->error();
  auto parked = ExpectConsistent();
  auto oi = stack_->OpenImisFacilities();
  ASSERT_TRUE(oi.ok());
  EXPECT_EQ(full->counts().created(), static_cast<int64_t>(oi->size()));
  EXPECT_EQ(full->counts().rejected() + full->counts().failed(),
            static_cast<int64_t>(parked.size()));
  EXPECT_GT(static_cast<int>(oi->size()), DefaultFacilities() * 8 / 10);  // mostly maps
  EXPECT_GT(full->counts().skipped(), 0);  // jurisdictions

  // Rename three facilities and add a new one on the MFL.
  std::vector<std::string> ids = SyncedIds(3);
  ASSERT_EQ(ids.size(), 3u);
  auto touched = stack_->Http("mfl", "POST", "/$testbed/touch",
                              json{{"ids", ids}, {"name_suffix", " (renamed)"}});
  ASSERT_TRUE(touched.ok()) << touched.status();
  auto mfl = stack_->MflFacilities();
  json added = (*mfl)[ids[0]];
  added["id"] = "fac-99991";
  added["identifier"][0]["value"] = "99991";
  added["name"] = "Newly Opened Dispensary";
  added.erase("meta");
  PutLocation(added);

  absl::StatusOr<v1::Run> incremental = stack_->SyncAndWait(/*full=*/false);
  ASSERT_TRUE(incremental.ok()) << incremental.status();
  EXPECT_EQ(incremental->state(), v1::RUN_STATE_SUCCEEDED) << incremental->error();
  EXPECT_EQ(incremental->counts().fetched(), 4);
  EXPECT_EQ(incremental->counts().updated(), 3);
  EXPECT_EQ(incremental->counts().created(), 1);
  EXPECT_EQ(incremental->counts().rejected() + incremental->counts().failed(), 0);
  ExpectConsistent();
  oi = stack_->OpenImisFacilities();
  EXPECT_TRUE(absl::EndsWith((*oi)[CodeOf(ids[1])].value("name", ""), " (renamed)"));
  EXPECT_EQ((*oi)["99991"].value("name", ""), "Newly Opened Dispensary");

  // Nothing changed since: the next run fetches nothing new.
  absl::StatusOr<v1::Run> idle = stack_->SyncAndWait(false);
  ASSERT_TRUE(idle.ok());
  EXPECT_EQ(idle->state(), v1::RUN_STATE_SUCCEEDED);
  EXPECT_EQ(idle->counts().created() + idle->counts().updated(), 0);
}

// A dry run through the real services: it plans, writes nothing to
// openIMIS, parks nothing and moves no watermark; the real run after it
// does what the plan said.
TEST_F(E2eTest, ADryRunPlansAndWritesNothingThenTheRealRunDoesThePlan) {
  ASSERT_NO_FATAL_FAILURE(StartStack());
  absl::StatusOr<v1::Run> dry =
      stack_->SyncAndWait(/*full=*/false, absl::Minutes(5), /*dry_run=*/true);
  ASSERT_TRUE(dry.ok()) << dry.status();
  EXPECT_EQ(dry->state(), v1::RUN_STATE_SUCCEEDED) << dry->error();
  EXPECT_TRUE(dry->dry_run());
  EXPECT_FALSE(dry->has_watermark());
  auto oi = stack_->OpenImisFacilities();
  ASSERT_TRUE(oi.ok()) << oi.status();
  EXPECT_TRUE(oi->empty()) << oi->size() << " facilities written by a dry run";
  auto open = stack_->Failures(v1::FAILURE_STATE_OPEN);
  ASSERT_TRUE(open.ok()) << open.status();
  EXPECT_TRUE(open->empty());

  auto stub = stack_->Scheduler();
  grpc::ClientContext ctx;
  v1::GetPlanRequest req;
  req.set_run_id(dry->run_id());
  req.set_page_size(1000);
  v1::GetPlanResponse plan;
  ASSERT_TRUE(stub->GetPlan(&ctx, req, &plan).ok());
  EXPECT_GT(plan.counts().creates(), DefaultFacilities() * 8 / 10);
  EXPECT_EQ(plan.counts().creates(), dry->counts().created());
  EXPECT_GT(plan.counts().skipped(), 0);  // jurisdictions
  ASSERT_GT(plan.entries_size(), 0);
  EXPECT_EQ(plan.entries(0).action(), v1::PLAN_ACTION_CREATE) << plan.entries(0).DebugString();
  EXPECT_FALSE(plan.entries(0).code().empty());

  absl::StatusOr<v1::Run> real = stack_->SyncAndWait(/*full=*/false);
  ASSERT_TRUE(real.ok()) << real.status();
  EXPECT_EQ(real->state(), v1::RUN_STATE_SUCCEEDED) << real->error();
  EXPECT_EQ(real->counts().created(), plan.counts().creates());
  EXPECT_EQ(real->counts().rejected() + real->counts().failed(), plan.counts().rejected());
  EXPECT_EQ(real->counts().skipped(), plan.counts().skipped());
  ExpectConsistent();
}

TEST_F(E2eTest, DeactivatedFacility) {
  ASSERT_NO_FATAL_FAILURE(StartStack());
  ASSERT_TRUE(stack_->SyncAndWait(false).ok());
  std::vector<std::string> ids = SyncedIds(1);
  ASSERT_EQ(ids.size(), 1u);
  auto mfl = stack_->MflFacilities();
  json closed = (*mfl)[ids[0]];
  closed["status"] = "inactive";
  closed.erase("meta");
  PutLocation(closed);
  absl::StatusOr<v1::Run> run = stack_->SyncAndWait(false);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->state(), v1::RUN_STATE_SUCCEEDED) << run->error();
  EXPECT_EQ(run->counts().updated(), 1);
  ExpectConsistent();
  auto oi = stack_->OpenImisFacilities();
  EXPECT_EQ((*oi)[CodeOf(ids[0])].value("status", ""), "inactive") << (*oi)[CodeOf(ids[0])];
  // Re-checking everything finds openIMIS in step: nothing to write again.
  absl::StatusOr<v1::Run> recheck = stack_->SyncAndWait(/*full=*/true);
  ASSERT_TRUE(recheck.ok()) << recheck.status();
  EXPECT_EQ(recheck->counts().created() + recheck->counts().updated(), 0)
      << "updated " << recheck->counts().updated();
}

TEST_F(E2eTest, RejectedRecordFixedInTheMappingAndRetried) {
  ASSERT_NO_FATAL_FAILURE(StartStack());
  // Before the first sync, one facility gets a type the mapping lacks.
  auto mfl = stack_->MflFacilities();
  ASSERT_TRUE(mfl.ok());
  json odd = mfl->begin()->second;
  const std::string odd_id = odd.value("id", "");
  odd["type"][0]["coding"][0]["code"] = "Floating Clinic";
  odd["type"][0]["coding"][0]["display"] = "Floating Clinic";
  odd.erase("meta");
  PutLocation(odd);
  absl::StatusOr<v1::Run> run = stack_->SyncAndWait(false);
  ASSERT_TRUE(run.ok()) << run.status();
  auto parked = ExpectConsistent();
  ASSERT_TRUE(parked.count(odd_id)) << odd_id << " was not parked";
  const v1::Failure entry = parked[odd_id];
  EXPECT_EQ(entry.stage(), v1::FAILURE_STAGE_MAP);
  EXPECT_FALSE(entry.transient());
  EXPECT_NE(entry.reason().find("Floating Clinic"), std::string::npos) << entry.reason();

  // Retrying without a fix parks it again.
  auto stub = stack_->Scheduler();
  auto retry = [&](int64_t id) -> absl::StatusOr<v1::Run> {
    grpc::ClientContext ctx;
    v1::RetryFailuresRequest req;
    req.add_failure_ids(id);
    v1::RetryFailuresResponse resp;
    grpc::Status s = stub->RetryFailures(&ctx, req, &resp);
    if (!s.ok()) return absl::InternalError(s.error_message());
    return stack_->WaitRun(resp.run().run_id());
  };
  auto again = retry(entry.failure_id());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->counts().rejected(), 1);

  // The administrator adds the type to the mapping and restarts the mapper.
  std::ifstream in(absl::StrCat(MFLSYNC_SOURCE_DIR, "/mapper/mappings/synthetic.json"));
  json mapping = json::parse(in);
  mapping["facility_types"].push_back(
      {{"match", "Floating Clinic"}, {"level", "COMM"}, {"care_type", "O"}});
  const std::string fixed = stack_->dir() + "/fixed-mapping.json";
  std::ofstream(fixed) << mapping.dump(1);
  stack_->StopService("mapper", SIGTERM);
  stack_->config("mapper")["mapping_file"] = fixed;
  ASSERT_TRUE(stack_->StartService("mapper").ok());
  auto fixed_run = retry(entry.failure_id());
  ASSERT_TRUE(fixed_run.ok()) << fixed_run.status();
  EXPECT_EQ(fixed_run->state(), v1::RUN_STATE_SUCCEEDED) << fixed_run->error();
  EXPECT_EQ(fixed_run->counts().created(), 1);
  auto after = ExpectConsistent();
  EXPECT_FALSE(after.count(odd_id));
  auto resolved = stack_->Failures(v1::FAILURE_STATE_RESOLVED);
  ASSERT_TRUE(resolved.ok());
  ASSERT_EQ(resolved->size(), 1u);
  EXPECT_EQ((*resolved)[0].failure_id(), entry.failure_id());
  EXPECT_EQ((*resolved)[0].attempts(), 2);  // the failed retry counted
}

// One entry of a page with an unusable meta.lastUpdated is parked at the
// fetch stage under its id; the rest of its page is written. Once the MFL
// serves it well again, a full sync writes it and resolves the entry.
TEST_F(E2eTest, AnEntryWithABadTimeIsParkedAndThePageGoesOn) {
  ASSERT_NO_FATAL_FAILURE(StartStack());
  // The first facility (jurisdictions come first), by its page and index
  // in the fetcher's order (lastUpdated, 200 a page).
  auto facilities = stack_->MflFacilities();
  ASSERT_TRUE(facilities.ok()) << facilities.status();
  int page = 0;
  size_t index = 0;
  std::string target;
  while (target.empty() && page < 50) {
    auto entries = stack_->Http(
        "mfl", "GET",
        absl::StrCat("/fhir/Location?_sort=_lastUpdated&_count=200&_getpagesoffset=", page * 200));
    ASSERT_TRUE(entries.ok()) << entries.status();
    ++page;
    for (index = 0; index < (*entries)["entry"].size(); ++index) {
      const std::string id = (*entries)["entry"][index]["resource"].value("id", "");
      if (facilities->count(id)) {
        target = id;
        break;
      }
    }
  }
  ASSERT_FALSE(target.empty()) << "no facility on the MFL";
  auto fault = stack_->Http("mfl", "POST", "/$testbed/faults",
                            json::array({{{"kind", "bad_last_updated"},
                                          {"index", index},
                                          {"page", page}}}));
  ASSERT_TRUE(fault.ok()) << fault.status();
  absl::StatusOr<v1::Run> run = stack_->SyncAndWait(false);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->state(), v1::RUN_STATE_SUCCEEDED) << run->error();
  auto parked = ExpectConsistent();
  ASSERT_TRUE(parked.count(target)) << target << " was not parked";
  const v1::Failure entry = parked[target];
  EXPECT_EQ(entry.stage(), v1::FAILURE_STAGE_FETCH);
  EXPECT_NE(entry.reason().find(absl::StrCat("fetch.location.last_updated at Bundle.entry[",
                                             index, "].resource.meta.lastUpdated")),
            std::string::npos)
      << entry.reason();
  EXPECT_NE(entry.reason().find("(value 'yesterday')"), std::string::npos) << entry.reason();
  for (const auto& [id, f] : parked) {
    if (id != target) {
      EXPECT_NE(f.stage(), v1::FAILURE_STAGE_FETCH) << id;
    }
  }

  absl::StatusOr<v1::Run> full = stack_->SyncAndWait(true);
  ASSERT_TRUE(full.ok()) << full.status();
  EXPECT_EQ(full->counts().created(), 1);
  auto after = ExpectConsistent();
  EXPECT_FALSE(after.count(target));
  EXPECT_EQ(after.size(), parked.size() - 1);
  auto resolved = stack_->Failures(v1::FAILURE_STATE_RESOLVED);
  ASSERT_TRUE(resolved.ok());
  ASSERT_EQ(resolved->size(), 1u);
  EXPECT_EQ((*resolved)[0].failure_id(), entry.failure_id());
}

// An OperationOutcome the MFL puts on a search page reaches the run as a
// warning (mflsync run shows it), once however many pages carry it.
TEST_F(E2eTest, TheMflsOperationOutcomeIssuesAreRunWarnings) {
  ASSERT_NO_FATAL_FAILURE(StartStack());
  auto fault = stack_->Http("mfl", "POST", "/$testbed/faults",
                            json::array({{{"kind", "outcome_entry"},
                                          {"diagnostics", "Unknown parameter _foo: ignored"},
                                          {"times", 3}}}));
  ASSERT_TRUE(fault.ok()) << fault.status();
  absl::StatusOr<v1::Run> run = stack_->SyncAndWait(false);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->state(), v1::RUN_STATE_SUCCEEDED) << run->error();
  ASSERT_EQ(run->warnings_size(), 1) << run->DebugString();
  EXPECT_EQ(run->warnings(0), "warning (processing): Unknown parameter _foo: ignored");
  ExpectConsistent();
}

TEST_F(E2eTest, OpenImisDownForPartOfARunThenBack) {
  StackOptions options;
  // The automatic retry waits long enough for the run's end to be checked
  // before it: a retry writing while the check reads would show a facility
  // in openIMIS whose entry it has not yet closed.
  options.extra_config["scheduler"] = {
      {"retry", {{"initial_backoff", "8s"}, {"max_backoff", "10s"}, {"check_interval", "200ms"}}}};
  ASSERT_NO_FATAL_FAILURE(StartStack(options));
  // At the 16th request carrying facility creates (1 to 8 each: writes
  // share requests, so counting every request would let the window fall
  // where only outcome polls are left, which wait it out), openIMIS starts
  // answering 503 to everything for 3 s: longer than a write's own retries,
  // so the writes of the rest of the run fail. The 15 requests before it
  // created at least one facility each.
  auto fault = stack_->Http("openimis", "POST", "/$testbed/faults",
                            json::array({{{"kind", "down"},
                                          {"seconds", 3},
                                          {"method", "POST"},
                                          {"path", "/api/graphql"},
                                          {"contains", "createHealthFacility"},
                                          {"skip", 15}}}));
  ASSERT_TRUE(fault.ok()) << fault.status();
  absl::StatusOr<v1::Run> run = stack_->SyncAndWait(false);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->state(), v1::RUN_STATE_SUCCEEDED) << run->error();
  EXPECT_GT(run->counts().failed(), 0);
  EXPECT_GE(run->counts().created(), 15);
  auto during = ExpectConsistent();
  int transient = 0;
  for (const auto& [id, f] : during) transient += f.transient() ? 1 : 0;
  EXPECT_EQ(transient, run->counts().failed());
  // openIMIS comes back; the transient entries retry by themselves.
  EXPECT_EQ(WaitNoTransientFailures(absl::Seconds(90)), 0);
  auto after = ExpectConsistent();
  for (const auto& [id, f] : after) EXPECT_FALSE(f.transient()) << id;
  EXPECT_EQ(OpenImisMutations("updateHealthFacility", "received"), 0);  // nothing written twice
  ExpectOneCreatePerFacility();
}

// The fetcher killed mid-fetch (the MFL answers slowly) and back: the broken
// fetch resumes from the last committed point and the run succeeds, every
// facility written once.
TEST_F(E2eTest, FetcherRestartedMidFetchTheFetchResumes) {
  StackOptions options;
  options.extra_config["scheduler"] = {
      {"peer_retry", {{"backoff", "200ms"}, {"outage", "60s"}}}};
  ASSERT_NO_FATAL_FAILURE(StartStack(options));
  auto fault = stack_->Http("mfl", "POST", "/$testbed/faults",
                            json::array({{{"kind", "delay"}, {"seconds", 0.3}, {"times", -1}}}));
  ASSERT_TRUE(fault.ok()) << fault.status();
  auto stub = stack_->Scheduler();
  const std::string run_id = StartSync();
  absl::Time deadline = absl::Now() + absl::Seconds(60);
  int64_t fetched = 0;
  while (absl::Now() < deadline && fetched < 600) {
    grpc::ClientContext c;
    v1::GetRunRequest gr;
    gr.set_run_id(run_id);
    v1::GetRunResponse got;
    ASSERT_TRUE(stub->GetRun(&c, gr, &got).ok());
    fetched = got.run().counts().fetched();
    absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_GE(fetched, 600);
  stack_->StopService("fetcher", SIGKILL);
  absl::SleepFor(absl::Seconds(1));
  ASSERT_TRUE(stack_->StartService("fetcher").ok());
  ASSERT_TRUE(stack_->Http("mfl", "DELETE", "/$testbed/faults").ok());

  auto run = stack_->WaitRun(run_id, absl::Minutes(3));
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->state(), v1::RUN_STATE_SUCCEEDED) << run->error();
  EXPECT_NE(stack_->LogTail("scheduler", 2000).find("the fetch broke; resuming"),
            std::string::npos);
  auto parked = ExpectConsistent();
  for (const auto& [id, f] : parked) EXPECT_FALSE(f.transient()) << id << ": " << f.reason();
  ExpectOneCreatePerFacility();
  EXPECT_EQ(OpenImisMutations("updateHealthFacility", "received"), 0);
}

TEST_F(E2eTest, SchedulerKilledMidRunResumesWithoutLossOrDuplicates) {
  StackOptions options;
  options.synthetic_facilities = 400;
  ASSERT_NO_FATAL_FAILURE(StartStack(options));
  ASSERT_NO_FATAL_FAILURE(SlowOpenImisWrites());  // so that the kill lands mid-run
  const std::string killed_run = StartSync();
  // Wait until some facilities are written, then SIGKILL the scheduler.
  ASSERT_GE(WaitForFacilities(60), 60u);
  EXPECT_EQ(stack_->StopService("scheduler", SIGKILL), 128 + SIGKILL);
  auto at_kill = stack_->OpenImisFacilities();
  ASSERT_TRUE(at_kill.ok());
  ASSERT_LT(at_kill->size(), 350u) << "the run ended before the kill; slow writes more";

  // Restart: the interrupted run is closed and resumed by itself.
  ASSERT_TRUE(stack_->StartService("scheduler").ok());
  auto stub = stack_->Scheduler();
  std::string resume_id;
  absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (absl::Now() < deadline && resume_id.empty()) {
    grpc::ClientContext c;
    v1::ListRunsRequest lr;
    lr.set_page_size(5);
    v1::ListRunsResponse runs;
    grpc::Status ls = stub->ListRuns(&c, lr, &runs);
    // The first call may meet the killed process's connection: retry.
    if (ls.error_code() == grpc::StatusCode::UNAVAILABLE) continue;
    ASSERT_TRUE(ls.ok()) << ls.error_message();
    for (const v1::Run& r : runs.runs()) {
      if (r.trigger() == v1::RUN_TRIGGER_RESUME) resume_id = r.run_id();
    }
    if (resume_id.empty()) absl::SleepFor(absl::Milliseconds(100));
  }
  ASSERT_FALSE(resume_id.empty()) << "no resume run started";
  auto resumed = stack_->WaitRun(resume_id, absl::Minutes(3));
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_EQ(resumed->state(), v1::RUN_STATE_SUCCEEDED) << resumed->error();
  auto killed = stack_->WaitRun(killed_run, absl::Seconds(5));
  ASSERT_TRUE(killed.ok());
  EXPECT_EQ(killed->state(), v1::RUN_STATE_FAILED);
  EXPECT_NE(killed->error().find("interrupted"), std::string::npos);

  auto parked = ExpectConsistent();
  auto oi = stack_->OpenImisFacilities();
  ASSERT_TRUE(oi.ok());
  // Exactly one create per facility, and no update: nothing written twice.
  ExpectOneCreatePerFacility();
  EXPECT_EQ(OpenImisMutations("updateHealthFacility", "received"), 0);
  for (const auto& [id, f] : parked) EXPECT_FALSE(f.transient()) << id << ": " << f.reason();
}

}  // namespace
}  // namespace mflsync::e2e
