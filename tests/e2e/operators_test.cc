// End-to-end scenarios of issue 15's operator tools through the real
// services and the stand-ins: the change history after several runs, a
// retry that reads the MFL's current version, and the failure-queue actions
// (reopen, link, accept), each recorded with who and why.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/e2e/e2e_fixture.h"

namespace mflsync::e2e {
namespace {

using nlohmann::json;

// The principal of the harness's token (stack_harness.cc's access file).
constexpr char kHarness[] = "harness";

class OperatorsTest : public E2eFixture {
 protected:
  // Every change `req` selects (one page of up to 1000).
  std::vector<v1::FacilityChange> Changes(v1::ListChangesRequest req) {
    grpc::ClientContext ctx;
    req.set_page_size(1000);
    v1::ListChangesResponse resp;
    grpc::Status s = stack_->Scheduler()->ListChanges(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return {resp.changes().begin(), resp.changes().end()};
  }
  std::vector<v1::FacilityChange> RunChanges(const std::string& run_id) {
    v1::ListChangesRequest req;
    req.set_run_id(run_id);
    return Changes(req);
  }
  std::vector<v1::FacilityChange> FacilityChanges(const std::string& facility) {
    v1::ListChangesRequest req;
    req.set_facility(facility);
    return Changes(req);
  }
  // The change of `location_id` in `changes`; fails the test when absent.
  static v1::FacilityChange Of(const std::vector<v1::FacilityChange>& changes,
                               const std::string& location_id) {
    for (const v1::FacilityChange& c : changes)
      if (c.entry().location_id() == location_id) return c;
    ADD_FAILURE() << "no change of " << location_id;
    return {};
  }
  static const v1::FieldChange* Field(const v1::FacilityChange& c, const std::string& field) {
    for (const v1::FieldChange& f : c.entry().changes())
      if (f.field() == field) return &f;
    return nullptr;
  }
  // Retries entries (from the MFL unless `stored`) and waits for the run.
  absl::StatusOr<v1::Run> Retry(std::vector<int64_t> ids, bool stored = false) {
    grpc::ClientContext ctx;
    v1::RetryFailuresRequest req;
    for (int64_t id : ids) req.add_failure_ids(id);
    req.set_stored(stored);
    req.set_reason("e2e retry");
    v1::RetryFailuresResponse resp;
    grpc::Status s = stack_->Scheduler()->RetryFailures(&ctx, req, &resp);
    if (!s.ok()) return absl::InternalError(s.error_message());
    return stack_->WaitRun(resp.run().run_id());
  }
  v1::Failure GetFailure(int64_t id) {
    grpc::ClientContext ctx;
    v1::GetFailureRequest req;
    req.set_failure_id(id);
    v1::GetFailureResponse resp;
    grpc::Status s = stack_->Scheduler()->GetFailure(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.failure();
  }
  // A new MFL Location `id` (HF code `code`): a copy of `like` (so the same
  // name and district) unless renamed.
  json CopyOf(const std::string& like, const std::string& id, const std::string& code) {
    auto mfl = stack_->MflFacilities();
    EXPECT_TRUE(mfl.ok()) << mfl.status();
    json copy = (*mfl)[like];
    copy["id"] = id;
    copy["identifier"][0]["value"] = code;
    copy.erase("meta");
    return copy;
  }
  // The open entry of `location_id`; fails the test when none.
  v1::Failure OpenEntry(const std::string& location_id) {
    auto open = stack_->Failures();
    EXPECT_TRUE(open.ok()) << open.status();
    for (const v1::Failure& f : *open)
      if (f.location_id() == location_id) return f;
    ADD_FAILURE() << "no open entry for " << location_id;
    return {};
  }
};

// After several runs the history answers "what changed in run X" (an
// update with the field old -> new, a create, a deactivation) and "what
// happened to facility Y" across runs, by Location id or HF code.
TEST_F(OperatorsTest, TheChangeHistoryAnswersWhatChangedInARunAndToAFacility) {
  ASSERT_NO_FATAL_FAILURE(StartStack());
  absl::StatusOr<v1::Run> full = stack_->SyncAndWait(/*full=*/true);
  ASSERT_TRUE(full.ok()) << full.status();
  std::vector<v1::FacilityChange> created = RunChanges(full->run_id());
  EXPECT_EQ(static_cast<int64_t>(created.size()), full->counts().created());
  std::vector<std::string> ids = SyncedIds(2);
  ASSERT_EQ(ids.size(), 2u);
  auto mfl = stack_->MflFacilities();
  const std::string old_name = (*mfl)[ids[0]].value("name", "");
  auto touched = stack_->Http("mfl", "POST", "/$testbed/touch",
                              json{{"ids", {ids[0]}}, {"name_suffix", " (renamed)"}});
  ASSERT_TRUE(touched.ok()) << touched.status();
  json closed = (*mfl)[ids[1]];
  closed["status"] = "inactive";
  closed.erase("meta");
  PutLocation(closed);
  json opened = CopyOf(ids[0], "fac-99991", "99991");
  opened["name"] = "Newly Opened Dispensary";
  PutLocation(opened);
  absl::StatusOr<v1::Run> second = stack_->SyncAndWait(/*full=*/false);
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_EQ(second->state(), v1::RUN_STATE_SUCCEEDED) << second->error();

  std::vector<v1::FacilityChange> in_run = RunChanges(second->run_id());
  ASSERT_EQ(in_run.size(), 3u);
  v1::FacilityChange renamed = Of(in_run, ids[0]);
  EXPECT_EQ(renamed.entry().action(), v1::PLAN_ACTION_UPDATE);
  const v1::FieldChange* name = Field(renamed, "name");
  ASSERT_NE(name, nullptr);
  EXPECT_EQ(name->old_value(), old_name);
  EXPECT_EQ(name->new_value(), old_name + " (renamed)");
  EXPECT_FALSE(renamed.entry().uuid().empty());
  EXPECT_EQ(renamed.entry().code(), CodeOf(ids[0]));
  v1::FacilityChange deactivated = Of(in_run, ids[1]);
  EXPECT_EQ(deactivated.entry().action(), v1::PLAN_ACTION_DEACTIVATE);
  const v1::FieldChange* status = Field(deactivated, "status");
  ASSERT_NE(status, nullptr);
  EXPECT_EQ(status->old_value(), "active");
  EXPECT_EQ(status->new_value(), "inactive");
  v1::FacilityChange new_one = Of(in_run, "fac-99991");
  EXPECT_EQ(new_one.entry().action(), v1::PLAN_ACTION_CREATE);
  ASSERT_NE(Field(new_one, "name"), nullptr);
  EXPECT_EQ(Field(new_one, "name")->new_value(), "Newly Opened Dispensary");

  // What happened to facility ids[0]: created by the full sync, renamed by
  // the second; newest first, by Location id or HF code alike.
  for (const std::string& key : {ids[0], CodeOf(ids[0])}) {
    std::vector<v1::FacilityChange> history = FacilityChanges(key);
    ASSERT_EQ(history.size(), 2u) << key;
    EXPECT_EQ(history[0].run_id(), second->run_id());
    EXPECT_EQ(history[0].entry().action(), v1::PLAN_ACTION_UPDATE);
    EXPECT_EQ(history[1].run_id(), full->run_id());
    EXPECT_EQ(history[1].entry().action(), v1::PLAN_ACTION_CREATE);
  }
  ExpectConsistent();
}

// A record the mapper rejected, then fixed in the MFL, is retried from the
// MFL without a new sync; --stored replays the stored copy; a Location the
// MFL no longer serves leaves its entry open, saying so.
TEST_F(OperatorsTest, ARejectedRecordFixedOnTheMflIsRetriedWithoutANewSync) {
  ASSERT_NO_FATAL_FAILURE(StartStack());
  auto mfl = stack_->MflFacilities();
  ASSERT_TRUE(mfl.ok());
  auto it = mfl->begin();
  json odd = it->second;
  json gone = (++it)->second;
  const json good_type = odd["type"];
  for (json* loc : {&odd, &gone}) {
    (*loc)["type"][0]["coding"][0]["code"] = "Floating Clinic";
    (*loc)["type"][0]["coding"][0]["display"] = "Floating Clinic";
    loc->erase("meta");
    PutLocation(*loc);
  }
  absl::StatusOr<v1::Run> sync = stack_->SyncAndWait(false);
  ASSERT_TRUE(sync.ok()) << sync.status();
  const v1::Failure entry = OpenEntry(odd.value("id", ""));
  const v1::Failure gone_entry = OpenEntry(gone.value("id", ""));
  EXPECT_EQ(entry.stage(), v1::FAILURE_STAGE_MAP);

  odd["type"] = good_type;  // fixed on the MFL: a new version
  PutLocation(odd);
  absl::StatusOr<v1::Run> stored = Retry({entry.failure_id()}, /*stored=*/true);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->counts().rejected(), 1) << "the stored copy still has the odd type";
  absl::StatusOr<v1::Run> fixed = Retry({entry.failure_id()});
  ASSERT_TRUE(fixed.ok()) << fixed.status();
  EXPECT_EQ(fixed->state(), v1::RUN_STATE_SUCCEEDED) << fixed->error();
  EXPECT_EQ(fixed->trigger(), v1::RUN_TRIGGER_RETRY);
  EXPECT_EQ(fixed->counts().created(), 1);
  auto oi = stack_->OpenImisFacilities();
  ASSERT_TRUE(oi.ok());
  EXPECT_TRUE(oi->count(CodeOf(odd.value("id", ""))));
  v1::Failure resolved = GetFailure(entry.failure_id());
  EXPECT_EQ(resolved.state(), v1::FAILURE_STATE_RESOLVED);
  ASSERT_EQ(resolved.actions_size(), 2);
  EXPECT_EQ(resolved.actions(1).actor(), kHarness);
  EXPECT_EQ(resolved.actions(1).reason(), "e2e retry");
  EXPECT_NE(resolved.actions(1).detail().find("from the MFL"), std::string::npos);
  EXPECT_NE(resolved.actions(0).detail().find("stored copy"), std::string::npos);
  std::vector<v1::FacilityChange> written = RunChanges(fixed->run_id());
  ASSERT_EQ(written.size(), 1u);
  EXPECT_EQ(written[0].trigger(), v1::RUN_TRIGGER_RETRY);
  ExpectConsistent();

  // Deleted on the MFL: the retry says so and leaves the entry open.
  auto deleted = stack_->Http("mfl", "DELETE", absl::StrCat("/fhir/Location/",
                                                              gone.value("id", "")));
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  absl::StatusOr<v1::Run> retry_gone = Retry({gone_entry.failure_id()});
  ASSERT_TRUE(retry_gone.ok()) << retry_gone.status();
  EXPECT_EQ(retry_gone->counts().fetched(), 0);
  ASSERT_EQ(retry_gone->warnings_size(), 1);
  EXPECT_NE(retry_gone->warnings(0).find(absl::StrCat("no longer serves Location ",
                                                      gone.value("id", ""))),
            std::string::npos)
      << retry_gone->warnings(0);
  v1::Failure still = GetFailure(gone_entry.failure_id());
  EXPECT_EQ(still.state(), v1::FAILURE_STATE_OPEN);
  ASSERT_FALSE(still.actions().empty());
  EXPECT_NE(still.actions().rbegin()->detail().find("no longer serves"), std::string::npos);
}

// reopen, link and accept do what they say and are recorded with who and
// why: a dismissed entry opens again; a likely duplicate linked to an
// openIMIS facility is written there (and so are its later versions); one
// accepted is created under its own code (and its later versions flow).
TEST_F(OperatorsTest, ReopenLinkAndAcceptDoWhatTheySayAndAreRecorded) {
  ASSERT_NO_FATAL_FAILURE(StartStack());
  ASSERT_TRUE(stack_->SyncAndWait(false).ok());
  std::vector<std::string> ids = SyncedIds(2);
  ASSERT_EQ(ids.size(), 2u);
  PutLocation(CopyOf(ids[0], "fac-99991", "99991"));  // the same name in the district
  PutLocation(CopyOf(ids[1], "fac-99992", "99992"));
  absl::StatusOr<v1::Run> sync = stack_->SyncAndWait(false);
  ASSERT_TRUE(sync.ok()) << sync.status();
  const v1::Failure to_link = OpenEntry("fac-99991");
  const v1::Failure to_accept = OpenEntry("fac-99992");
  EXPECT_EQ(to_link.stage(), v1::FAILURE_STAGE_RECONCILE);
  EXPECT_NE(to_link.reason().find("name_in_district"), std::string::npos) << to_link.reason();
  auto stub = stack_->Scheduler();

  // Dismissed, then reopened.
  {
    grpc::ClientContext ctx;
    v1::DismissFailuresRequest req;
    req.add_failure_ids(to_link.failure_id());
    v1::DismissFailuresResponse resp;
    EXPECT_EQ(stub->DismissFailures(&ctx, req, &resp).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);  // no reason
    grpc::ClientContext again;
    req.set_reason("looks like a duplicate");
    ASSERT_TRUE(stub->DismissFailures(&again, req, &resp).ok());
    grpc::ClientContext reopen_ctx;
    v1::ReopenFailuresRequest reopen;
    reopen.add_failure_ids(to_link.failure_id());
    reopen.set_reason("it is the clinic openIMIS already has");
    v1::ReopenFailuresResponse reopened;
    ASSERT_TRUE(stub->ReopenFailures(&reopen_ctx, reopen, &reopened).ok());
    EXPECT_EQ(reopened.reopened(), 1);
  }
  EXPECT_EQ(GetFailure(to_link.failure_id()).state(), v1::FAILURE_STATE_OPEN);

  // Linked to the openIMIS facility of ids[0].
  grpc::ClientContext link_ctx;
  v1::LinkFailureRequest link;
  link.set_failure_id(to_link.failure_id());
  link.set_hf_code(CodeOf(ids[0]));
  link.set_reason("the MFL lists the clinic twice");
  v1::LinkFailureResponse linked;
  grpc::Status s = stub->LinkFailure(&link_ctx, link, &linked);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_TRUE(linked.retry_error().empty()) << linked.retry_error();
  absl::StatusOr<v1::Run> link_run = stack_->WaitRun(linked.run().run_id());
  ASSERT_TRUE(link_run.ok()) << link_run.status();
  EXPECT_EQ(link_run->counts().rejected() + link_run->counts().failed(), 0)
      << link_run->error();
  EXPECT_EQ(GetFailure(to_link.failure_id()).state(), v1::FAILURE_STATE_RESOLVED);
  // A later version of the linked Location flows to that facility.
  json renamed = CopyOf(ids[0], "fac-99991", "99991");
  renamed["name"] = "Linked Clinic (renamed)";
  PutLocation(renamed);

  // Accepted as a facility of its own.
  grpc::ClientContext accept_ctx;
  v1::AcceptFailureRequest accept;
  accept.set_failure_id(to_accept.failure_id());
  accept.set_reason("two dispensaries share the name");
  v1::AcceptFailureResponse accepted;
  s = stub->AcceptFailure(&accept_ctx, accept, &accepted);
  ASSERT_TRUE(s.ok()) << s.error_message();
  absl::StatusOr<v1::Run> accept_run = stack_->WaitRun(accepted.run().run_id());
  ASSERT_TRUE(accept_run.ok()) << accept_run.status();
  EXPECT_EQ(accept_run->counts().created(), 1) << accept_run->error();
  // A later version of it (closed) is written despite the namesake.
  json closed = CopyOf(ids[1], "fac-99992", "99992");
  closed["status"] = "inactive";
  PutLocation(closed);

  absl::StatusOr<v1::Run> later = stack_->SyncAndWait(false);
  ASSERT_TRUE(later.ok()) << later.status();
  EXPECT_EQ(later->counts().rejected() + later->counts().failed(), 0);
  auto oi = stack_->OpenImisFacilities();
  ASSERT_TRUE(oi.ok()) << oi.status();
  EXPECT_FALSE(oi->count("99991")) << "a linked Location was created";
  EXPECT_EQ((*oi)[CodeOf(ids[0])].value("name", ""), "Linked Clinic (renamed)");
  ASSERT_TRUE(oi->count("99992"));
  EXPECT_EQ((*oi)["99992"].value("status", ""), "inactive");
  std::vector<v1::FacilityChange> linked_history = FacilityChanges("fac-99991");
  ASSERT_FALSE(linked_history.empty());
  EXPECT_EQ(linked_history[0].entry().code(), CodeOf(ids[0]));

  // Who and why, for each action.
  v1::Failure l = GetFailure(to_link.failure_id());
  ASSERT_GE(l.actions_size(), 4);  // dismiss, reopen, link, retry
  EXPECT_EQ(l.actions(0).kind(), v1::FAILURE_ACTION_KIND_DISMISS);
  EXPECT_EQ(l.actions(0).reason(), "looks like a duplicate");
  EXPECT_EQ(l.actions(1).kind(), v1::FAILURE_ACTION_KIND_REOPEN);
  EXPECT_EQ(l.actions(2).kind(), v1::FAILURE_ACTION_KIND_LINK);
  EXPECT_EQ(l.actions(2).reason(), "the MFL lists the clinic twice");
  EXPECT_EQ(l.actions(3).kind(), v1::FAILURE_ACTION_KIND_RETRY);
  for (const v1::FailureAction& a : l.actions()) EXPECT_EQ(a.actor(), kHarness);
  EXPECT_EQ(l.link().hf_code(), CodeOf(ids[0]));
  v1::Failure a = GetFailure(to_accept.failure_id());
  ASSERT_GE(a.actions_size(), 1);
  EXPECT_EQ(a.actions(0).kind(), v1::FAILURE_ACTION_KIND_ACCEPT);
  EXPECT_EQ(a.actions(0).actor(), kHarness);
  EXPECT_EQ(a.actions(0).reason(), "two dispensaries share the name");
  EXPECT_TRUE(a.link().accept_namesake());
}

}  // namespace
}  // namespace mflsync::e2e
