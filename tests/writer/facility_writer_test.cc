// FacilityWriter against the openIMIS stand-in: every write rule and every
// fault, each ending with the stand-in's facilities counted.
#include "writer/facility_writer.h"

#include <memory>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "tests/writer/standin_suite.h"
#include "writer/writer_core.h"

namespace mflsync::writer {
namespace {

using mflsync::v1::HealthFacility;
using mflsync::v1::WriteFacilitiesRequest;
using mflsync::v1::WriteResult;
using testing::OpenImisStandin;

constexpr char kOrgPath[] = "/api/api_fhir_r4/Organization/";

class FacilityWriterTest : public testing::StandinSuite {
 protected:
  void SetUp() override {
    StandinSuite::SetUp();
    if (HasFatalFailure()) return;
    Build(1);
  }

  void Build(int connections, int max_attempts = 3) {
    WriterCoreOptions options;
    options.openimis.base_url = standin_->api_root();
    options.api = OpenImisApiKind::kFhir;
    options.openimis.username = "Admin";
    options.openimis.password = "admin123";
    options.openimis.http.request_timeout = absl::Seconds(1);
    options.connections = connections;
    options.write.retry.max_attempts = max_attempts;
    options.write.retry.initial_backoff = absl::Milliseconds(10);
    options.write.retry.max_backoff = absl::Milliseconds(50);
    options.index_page_size = 50;
    core_.reset();
    core_ = std::make_unique<WriterCore>(options);
    auto refreshed = core_->Refresh();
    ASSERT_TRUE(refreshed.ok()) << refreshed.status();
  }

  HealthFacility Facility(const std::string& code, const std::string& name,
                          const std::string& district = "D0101") {
    HealthFacility f;
    f.set_code(code);
    f.set_name(name);
    f.set_level(mflsync::v1::FACILITY_LEVEL_DISPENSARY);
    f.set_care_type(mflsync::v1::CARE_TYPE_BOTH);
    f.set_legal_form("G");
    auto d = core_->index().DistrictByCode(district);
    EXPECT_TRUE(d.has_value()) << district;
    if (d.has_value()) f.set_district_uuid(d->uuid());
    f.set_district_code(district);
    f.set_address("Main road 1");
    f.set_phone("+254700000001");
    f.set_email("info@example.org");
    f.set_active(true);
    return f;
  }

  WriteResult WriteOne(mflsync::v1::WriteAction action, const HealthFacility& f,
                       const std::string& key = "rec-1") {
    WriteFacilitiesRequest request;
    request.set_run_id("test");
    auto* item = request.add_items();
    item->set_record_key(key);
    item->set_action(action);
    *item->mutable_facility() = f;
    auto response = core_->Write(request);
    EXPECT_TRUE(response.ok()) << response.status();
    if (!response.ok() || response->results_size() != 1) return WriteResult();
    return response->results(0);
  }

  WriteResult Create(const HealthFacility& f) {
    return WriteOne(mflsync::v1::WRITE_ACTION_CREATE, f);
  }

  int Count() { return standin_->Facilities().value("count", -1); }

  std::unique_ptr<WriterCore> core_;
};


TEST_F(FacilityWriterTest, CreatesThroughOrganizationWithEveryColumn) {
  WriteResult r = Create(Facility("HF0001", "Lakeside Dispensary"));
  EXPECT_EQ(r.outcome(), mflsync::v1::WRITE_OUTCOME_CREATED) << r.message();
  EXPECT_EQ(r.http_status(), 201);
  EXPECT_EQ(r.record_key(), "rec-1");
  EXPECT_FALSE(r.uuid().empty());
  EXPECT_EQ(r.attempts(), 1);
  auto facilities = standin_->Facilities();
  ASSERT_EQ(facilities["count"], 1);
  const auto& f = facilities["facilities"][0];
  EXPECT_EQ(f["code"], "HF0001");
  EXPECT_EQ(f["uuid"], r.uuid());
  EXPECT_EQ(f["name"], "Lakeside Dispensary");
  EXPECT_EQ(f["level"], "D");
  EXPECT_EQ(f["legal_form"], "G");
  EXPECT_EQ(f["care_type"], "B");
  EXPECT_EQ(f["district_code"], "D0101");
  EXPECT_EQ(f["address"], "Main road 1");
  EXPECT_EQ(f["phone"], "+254700000001");
  EXPECT_EQ(f["email"], "info@example.org");
  // Never through Location (which would fail with 500 in openIMIS).
  EXPECT_EQ(standin_->Requests("POST", "/api/api_fhir_r4/Location/"), 0);
  // The index sees it at once.
  auto indexed = core_->index().ByCode("HF0001");
  ASSERT_TRUE(indexed.has_value());
  EXPECT_EQ(indexed->uuid(), r.uuid());
}

TEST_F(FacilityWriterTest, UpdatesByUuidAndNoopMakesNoCall) {
  WriteResult created = Create(Facility("HF0002", "Old Name"));
  ASSERT_EQ(created.outcome(), mflsync::v1::WRITE_OUTCOME_CREATED) << created.message();
  HealthFacility f = Facility("HF0002", "New Name", "D0102");
  f.set_uuid(created.uuid());
  f.set_care_type(mflsync::v1::CARE_TYPE_IN_PATIENT);
  f.set_level(mflsync::v1::FACILITY_LEVEL_HOSPITAL);
  WriteResult updated = WriteOne(mflsync::v1::WRITE_ACTION_UPDATE, f);
  EXPECT_EQ(updated.outcome(), mflsync::v1::WRITE_OUTCOME_UPDATED) << updated.message();
  EXPECT_EQ(updated.http_status(), 200);
  EXPECT_EQ(updated.uuid(), created.uuid());
  auto facilities = standin_->Facilities();
  ASSERT_EQ(facilities["count"], 1);
  EXPECT_EQ(facilities["facilities"][0]["name"], "New Name");
  EXPECT_EQ(facilities["facilities"][0]["district_code"], "D0102");
  EXPECT_EQ(facilities["facilities"][0]["care_type"], "I");
  EXPECT_EQ(facilities["facilities"][0]["level"], "H");
  EXPECT_EQ(core_->index().ByCode("HF0002")->name(), "New Name");
  EXPECT_EQ(core_->index().ByName("new  NAME", "D0102").size(), 1u);
  EXPECT_TRUE(core_->index().ByName("Old Name", "D0101").empty());

  const int puts = standin_->Requests("PUT", "/api/api_fhir_r4/Organization/{id}");
  const int gets = standin_->Requests("GET", "/api/api_fhir_r4/Location/{id}");
  WriteResult noop = WriteOne(mflsync::v1::WRITE_ACTION_NOOP, f);
  EXPECT_EQ(noop.outcome(), mflsync::v1::WRITE_OUTCOME_UNCHANGED);
  EXPECT_EQ(noop.attempts(), 0);
  EXPECT_EQ(standin_->Requests("PUT", "/api/api_fhir_r4/Organization/{id}"), puts);
  EXPECT_EQ(standin_->Requests("GET", "/api/api_fhir_r4/Location/{id}"), gets);
}

TEST_F(FacilityWriterTest, ValidationErrorsAreRejectedWithOpenImisText) {
  HealthFacility bad_legal = Facility("HF0003", "Bad Legal Form");
  bad_legal.set_legal_form("X");
  WriteResult r = Create(bad_legal);
  EXPECT_EQ(r.outcome(), mflsync::v1::WRITE_OUTCOME_REJECTED);
  EXPECT_EQ(r.http_status(), 400);
  EXPECT_NE(r.message().find("Invalid HF legal form code, has to be one of"),
            std::string::npos) << r.message();
  EXPECT_EQ(r.attempts(), 1);

  HealthFacility no_care = Facility("HF0004", "No Care Type");
  no_care.set_care_type(mflsync::v1::CARE_TYPE_UNSPECIFIED);
  r = Create(no_care);
  EXPECT_EQ(r.outcome(), mflsync::v1::WRITE_OUTCOME_REJECTED);
  EXPECT_NE(r.message().find("Extension with HF care type not found"), std::string::npos)
      << r.message();

  r = Create(Facility("HF000005X", "Code Too Long"));
  EXPECT_EQ(r.outcome(), mflsync::v1::WRITE_OUTCOME_REJECTED);
  EXPECT_NE(r.message().find("HF code is too long: 9 characters, at most 8 allowed"),
            std::string::npos) << r.message();

  HealthFacility long_phone = Facility("HF0006", "Long Phone");
  long_phone.set_phone(std::string(51, '1'));
  r = Create(long_phone);
  EXPECT_EQ(r.outcome(), mflsync::v1::WRITE_OUTCOME_REJECTED);
  EXPECT_NE(r.message().find("HF phone is too long"), std::string::npos) << r.message();

  HealthFacility bad_district = Facility("HF0007", "Unknown District");
  bad_district.set_district_uuid("00000000-0000-0000-0000-000000000000");
  r = Create(bad_district);
  EXPECT_EQ(r.outcome(), mflsync::v1::WRITE_OUTCOME_REJECTED);
  EXPECT_NE(r.message().find("Invalid location reference"), std::string::npos)
      << r.message();
  EXPECT_EQ(Count(), 0);
}

TEST_F(FacilityWriterTest, LocalRefusalsMakeNoCall) {
  HealthFacility f = Facility("HF0008", "No Uuid");
  WriteResult r = WriteOne(mflsync::v1::WRITE_ACTION_UPDATE, f);
  EXPECT_EQ(r.outcome(), mflsync::v1::WRITE_OUTCOME_REJECTED);
  EXPECT_NE(r.message().find("UPDATE needs the facility's openIMIS uuid"), std::string::npos);
  HealthFacility no_district = Facility("HF0009", "Nowhere");
  no_district.clear_district_uuid();
  no_district.set_district_code("D9999");
  r = Create(no_district);
  EXPECT_EQ(r.outcome(), mflsync::v1::WRITE_OUTCOME_REJECTED);
  EXPECT_NE(r.message().find("'D9999' is not an openIMIS district"), std::string::npos)
      << r.message();
  r = WriteOne(mflsync::v1::WRITE_ACTION_REJECT, f);
  EXPECT_EQ(r.outcome(), mflsync::v1::WRITE_OUTCOME_REJECTED);
  EXPECT_EQ(r.attempts(), 0);
  EXPECT_EQ(standin_->Requests("POST", kOrgPath), 0);
  EXPECT_EQ(standin_->Requests("PUT", "/api/api_fhir_r4/Organization/{id}"), 0);
}

TEST_F(FacilityWriterTest, DistrictCodeAloneIsResolvedThroughTheIndex) {
  HealthFacility f = Facility("HF0010", "By District Code", "D0201");
  f.clear_district_uuid();
  WriteResult r = Create(f);
  EXPECT_EQ(r.outcome(), mflsync::v1::WRITE_OUTCOME_CREATED) << r.message();
  EXPECT_EQ(standin_->Facilities()["facilities"][0]["district_code"], "D0201");
}

TEST_F(FacilityWriterTest, UpdateOfUnknownUuidIsRejected) {
  HealthFacility f = Facility("HF0011", "Ghost");
  f.set_uuid("11111111-2222-3333-4444-555555555555");
  WriteResult r = WriteOne(mflsync::v1::WRITE_ACTION_UPDATE, f);
  EXPECT_EQ(r.outcome(), mflsync::v1::WRITE_OUTCOME_REJECTED);
  EXPECT_EQ(r.http_status(), 404);
  EXPECT_NE(r.message().find("no facility with this uuid"), std::string::npos);
  EXPECT_EQ(Count(), 0);
}

TEST_F(FacilityWriterTest, CodeTakenInOpenImisButNotInIndexIsRejected) {
  // Seeded after the index load: the writer does not know it.
  ASSERT_TRUE(standin_->Testbed("POST", "facilities",
                                {{{"code", "HF0012"}, {"name", "Someone Else"},
                                  {"district_code", "D0101"}}}).ok());
  WriteResult r = Create(Facility("HF0012", "Mine"));
  EXPECT_EQ(r.outcome(), mflsync::v1::WRITE_OUTCOME_REJECTED);
  EXPECT_NE(r.message().find("HF code HF0012 already exists"), std::string::npos)
      << r.message();
  EXPECT_EQ(Count(), 1);
  EXPECT_EQ(standin_->CountCode("HF0012"), 1);
}

TEST_F(FacilityWriterTest, CodeInIndexIsNeverPostedAgain) {
  WriteResult first = Create(Facility("HF0013", "Once"));
  ASSERT_EQ(first.outcome(), mflsync::v1::WRITE_OUTCOME_CREATED);
  const int posts = standin_->Requests("POST", kOrgPath);
  WriteResult same = Create(Facility("HF0013", "Once"));
  EXPECT_EQ(same.outcome(), mflsync::v1::WRITE_OUTCOME_UNCHANGED) << same.message();
  EXPECT_EQ(same.uuid(), first.uuid());
  WriteResult other = Create(Facility("HF0013", "Another Facility"));
  EXPECT_EQ(other.outcome(), mflsync::v1::WRITE_OUTCOME_REJECTED);
  EXPECT_NE(other.message().find("already has HF code HF0013"), std::string::npos);
  EXPECT_EQ(standin_->Requests("POST", kOrgPath), posts);
  EXPECT_EQ(Count(), 1);
}

TEST_F(FacilityWriterTest, ServerErrorsFailAfterBoundedRetries) {
  standin_->AddFaults({{"kind", "status"}, {"status", 500}, {"method", "PUT"},
                       {"path", "Organization/"}, {"times", -1}});
  WriteResult created = Create(Facility("HF0014", "Before"));
  ASSERT_EQ(created.outcome(), mflsync::v1::WRITE_OUTCOME_CREATED);
  HealthFacility f = Facility("HF0014", "After");
  f.set_uuid(created.uuid());
  WriteResult r = WriteOne(mflsync::v1::WRITE_ACTION_UPDATE, f);
  EXPECT_EQ(r.outcome(), mflsync::v1::WRITE_OUTCOME_FAILED);
  EXPECT_EQ(r.http_status(), 500);
  EXPECT_EQ(r.attempts(), 3);
  EXPECT_NE(r.message().find("Injected status 500"), std::string::npos) << r.message();
  EXPECT_EQ(standin_->Requests("PUT", "/api/api_fhir_r4/Organization/{id}"), 3);
  EXPECT_EQ(standin_->Facilities()["facilities"][0]["name"], "Before");
}

// The facility's status lives only in its Location view (the Organization
// has none). When the view update fails, the write is a failed one (queued,
// retried) with the uuid, and the index keeps what it had, so that writing
// it again finishes it: never "updated" while openIMIS still says active.
TEST_F(FacilityWriterTest, AFailedLocationViewUpdateFailsTheWriteUntilFinished) {
  WriteResult created = Create(Facility("HF0040", "Closing Soon"));
  ASSERT_EQ(created.outcome(), mflsync::v1::WRITE_OUTCOME_CREATED) << created.message();
  HealthFacility closed = Facility("HF0040", "Closing Soon");
  closed.set_uuid(created.uuid());
  closed.set_active(false);
  standin_->AddFaults({{"kind", "status"}, {"status", 503}, {"method", "PUT"},
                       {"path", "Location/"}, {"times", -1}});
  WriteResult r = WriteOne(mflsync::v1::WRITE_ACTION_UPDATE, closed);
  EXPECT_EQ(r.outcome(), mflsync::v1::WRITE_OUTCOME_FAILED) << r.message();
  EXPECT_EQ(r.uuid(), created.uuid());
  EXPECT_NE(r.message().find("its Location view (status, level, parent) could not be"),
            std::string::npos)
      << r.message();
  EXPECT_NE(r.message().find("HTTP 503"), std::string::npos) << r.message();
  EXPECT_TRUE(core_->index().ByCode("HF0040")->active()) << "the index kept what it had";

  ASSERT_TRUE(standin_->Testbed("DELETE", "faults").ok());
  r = WriteOne(mflsync::v1::WRITE_ACTION_UPDATE, closed);
  EXPECT_EQ(r.outcome(), mflsync::v1::WRITE_OUTCOME_UPDATED) << r.message();
  EXPECT_FALSE(core_->index().ByCode("HF0040")->active());
  EXPECT_EQ(standin_->Facilities()["facilities"][0]["status"], "inactive");
}

// A create whose view update fails is retried as a create: openIMIS refuses
// the code as taken, the lookup finds ours, and the view is finished then.
TEST_F(FacilityWriterTest, AnUnfinishedCreateIsFinishedByTheRetry) {
  HealthFacility closed = Facility("HF0041", "Born Closed");
  closed.set_active(false);
  standin_->AddFaults({{"kind", "status"}, {"status", 502}, {"method", "PUT"},
                       {"path", "Location/"}, {"times", 1}});
  WriteResult r = Create(closed);
  EXPECT_EQ(r.outcome(), mflsync::v1::WRITE_OUTCOME_FAILED) << r.message();
  EXPECT_FALSE(r.uuid().empty());
  EXPECT_FALSE(core_->index().ByCode("HF0041").has_value());
  EXPECT_EQ(standin_->Facilities()["facilities"][0]["status"], "active");

  r = Create(closed);
  EXPECT_EQ(r.outcome(), mflsync::v1::WRITE_OUTCOME_CREATED) << r.message();
  EXPECT_NE(r.message().find("created once"), std::string::npos) << r.message();
  EXPECT_EQ(Count(), 1);
  EXPECT_EQ(standin_->Facilities()["facilities"][0]["status"], "inactive");
  EXPECT_FALSE(core_->index().ByCode("HF0041")->active());
}

TEST_F(FacilityWriterTest, PostWith5xxIsLookedUpBeforeEveryRetry) {
  standin_->AddFaults({{"kind", "status"}, {"status", 500}, {"method", "POST"},
                       {"path", "Organization/"}, {"times", -1}});
  const int gets = standin_->Requests("GET", "/api/api_fhir_r4/Location/");
  WriteResult r = Create(Facility("HF0015", "Never"));
  EXPECT_EQ(r.outcome(), mflsync::v1::WRITE_OUTCOME_FAILED);
  EXPECT_NE(r.message().find("a lookup by code found no facility"), std::string::npos)
      << r.message();
  // 3 attempts: POST, lookup, POST; then the final lookup.
  EXPECT_EQ(standin_->Requests("POST", kOrgPath), 2);
  EXPECT_EQ(standin_->Requests("GET", "/api/api_fhir_r4/Location/"), gets + 2);
  EXPECT_EQ(Count(), 0);
}

TEST_F(FacilityWriterTest, Unavailable503IsRetriedWithoutLookup) {
  standin_->AddFaults({{"kind", "status"}, {"status", 503}, {"method", "POST"},
                       {"path", "Organization/"}, {"times", 2}});
  const int gets = standin_->Requests("GET", "/api/api_fhir_r4/Location/");
  WriteResult r = Create(Facility("HF0016", "Third Time"));
  EXPECT_EQ(r.outcome(), mflsync::v1::WRITE_OUTCOME_CREATED) << r.message();
  EXPECT_EQ(r.attempts(), 3);
  EXPECT_EQ(standin_->Requests("GET", "/api/api_fhir_r4/Location/"), gets);  // no lookup
  EXPECT_EQ(Count(), 1);
}

TEST_F(FacilityWriterTest, DropAfterCommitCreatesExactlyOnce) {
  standin_->AddFaults({{"kind", "drop_after_commit"}, {"method", "POST"},
                       {"path", "Organization/"}});
  WriteResult r = Create(Facility("HF0017", "Lost Answer"));
  EXPECT_EQ(r.outcome(), mflsync::v1::WRITE_OUTCOME_CREATED) << r.message();
  EXPECT_NE(r.message().find("a lookup by code found the facility"), std::string::npos)
      << r.message();
  EXPECT_FALSE(r.uuid().empty());
  // libcurl itself re-sends a request whose reused connection closed without
  // an answer; openIMIS refuses that second POST (code taken) and the writer
  // recognises its own facility: still exactly one.
  EXPECT_LE(standin_->Requests("POST", kOrgPath), 2);
  EXPECT_EQ(Count(), 1);
  EXPECT_EQ(standin_->CountCode("HF0017"), 1);
  auto indexed = core_->index().ByCode("HF0017");
  ASSERT_TRUE(indexed.has_value());
  EXPECT_EQ(indexed->uuid(), r.uuid());
}

TEST_F(FacilityWriterTest, BadGatewayAfterCommitCreatesExactlyOnce) {
  standin_->AddFaults({{"kind", "drop_after_commit"}, {"as", "502"}, {"method", "POST"},
                       {"path", "Organization/"}});
  WriteResult r = Create(Facility("HF0018", "Gateway"));
  EXPECT_EQ(r.outcome(), mflsync::v1::WRITE_OUTCOME_CREATED) << r.message();
  EXPECT_NE(r.message().find("HTTP 502"), std::string::npos) << r.message();
  EXPECT_EQ(standin_->Requests("POST", kOrgPath), 1);  // looked up, not re-posted
  EXPECT_EQ(standin_->CountCode("HF0018"), 1);
  EXPECT_EQ(Count(), 1);
}

TEST_F(FacilityWriterTest, TimeoutBeforeHandlingIsLookedUpThenPosted) {
  standin_->AddFaults({{"kind", "timeout"}, {"seconds", 2}, {"method", "POST"},
                       {"path", "Organization/"}});
  WriteResult r = Create(Facility("HF0019", "Slow"));
  EXPECT_EQ(r.outcome(), mflsync::v1::WRITE_OUTCOME_CREATED) << r.message();
  EXPECT_EQ(r.attempts(), 3);  // POST (timeout), lookup (404), POST
  EXPECT_EQ(standin_->CountCode("HF0019"), 1);
  EXPECT_EQ(Count(), 1);
}

TEST_F(FacilityWriterTest, TimeoutWithLateCommitNeverDuplicates) {
  // The server handles the POST after the client gave up: the lookup may run
  // before or after that commit; either way exactly one facility.
  standin_->AddFaults({{"kind", "latency"}, {"ms", 1500}, {"method", "POST"},
                       {"path", "Organization/"}});
  WriteResult r = Create(Facility("HF0020", "Late Commit"));
  EXPECT_EQ(r.outcome(), mflsync::v1::WRITE_OUTCOME_CREATED) << r.message();
  absl::SleepFor(absl::Milliseconds(800));  // let the delayed POST finish
  EXPECT_EQ(standin_->CountCode("HF0020"), 1);
  EXPECT_EQ(Count(), 1);
}

TEST_F(FacilityWriterTest, OpenImisDownFailsThenSucceedsOnceBack) {
  ASSERT_TRUE(standin_->Testbed("POST", "faults",
                                {{"kind", "down"}, {"seconds", 1}, {"now", true}}).ok());
  WriteResult r = Create(Facility("HF0021", "During Outage"));
  EXPECT_EQ(r.outcome(), mflsync::v1::WRITE_OUTCOME_FAILED);
  EXPECT_EQ(r.http_status(), 503);
  EXPECT_EQ(Count(), 0);
  absl::SleepFor(absl::Milliseconds(1200));
  r = Create(Facility("HF0021", "During Outage"));
  EXPECT_EQ(r.outcome(), mflsync::v1::WRITE_OUTCOME_CREATED) << r.message();
  EXPECT_EQ(Count(), 1);
}

TEST_F(FacilityWriterTest, TokenExpiryMidRunIsTransparent) {
  const int64_t logins_before = core_->logins();
  standin_->AddFaults({{"kind", "expire_tokens"}, {"method", "POST"},
                       {"path", "Organization/"}, {"skip", 2}});
  WriteFacilitiesRequest request;
  for (int i = 0; i < 5; ++i) {
    auto* item = request.add_items();
    item->set_record_key(absl::StrCat("rec-", i));
    item->set_action(mflsync::v1::WRITE_ACTION_CREATE);
    *item->mutable_facility() = Facility(absl::StrCat("TK", i), absl::StrCat("Token ", i));
  }
  auto response = core_->Write(request);
  ASSERT_TRUE(response.ok());
  for (const auto& r : response->results()) {
    EXPECT_EQ(r.outcome(), mflsync::v1::WRITE_OUTCOME_CREATED) << r.message();
  }
  EXPECT_EQ(core_->logins(), logins_before + 1);
  EXPECT_GE(standin_->Stats()["auth_rejections"].get<int>(), 1);
  EXPECT_EQ(Count(), 5);
}

TEST_F(FacilityWriterTest, ParallelWritesWithFaultsLeaveNoDuplicate) {
  // Nine faults in all: with four workers any one facility may draw several
  // of them, so each item gets more attempts than there are faults; the
  // bounded-retry outcome (FAILED) is tested on its own above.
  Build(4, /*max_attempts=*/10);
  standin_->AddFaults({{{"kind", "drop_after_commit"}, {"method", "POST"},
                        {"path", "Organization/"}, {"times", 3}, {"skip", 5}},
                       {{"kind", "status"}, {"status", 502}, {"method", "POST"},
                        {"path", "Organization/"}, {"times", 3}, {"skip", 10}},
                       {{"kind", "drop_after_commit"}, {"as", "502"}, {"method", "POST"},
                        {"path", "Organization/"}, {"times", 3}, {"skip", 20}}});
  WriteFacilitiesRequest request;
  const char* districts[] = {"D0101", "D0102", "D0201", "D0202"};
  for (int i = 0; i < 40; ++i) {
    auto* item = request.add_items();
    item->set_record_key(absl::StrCat("rec-", i));
    item->set_action(mflsync::v1::WRITE_ACTION_CREATE);
    *item->mutable_facility() =
        Facility(absl::StrFormat("P%04d", i), absl::StrCat("Parallel ", i), districts[i % 4]);
  }
  // The same code twice in one batch: written once, in order.
  auto* repeat = request.add_items();
  repeat->set_record_key("rec-repeat");
  repeat->set_action(mflsync::v1::WRITE_ACTION_CREATE);
  *repeat->mutable_facility() = Facility("P0007", "Parallel 7", "D0202");
  auto response = core_->Write(request);
  ASSERT_TRUE(response.ok());
  ASSERT_EQ(response->results_size(), 41);
  std::set<std::string> uuids;
  for (int i = 0; i < 40; ++i) {
    const auto& r = response->results(i);
    EXPECT_EQ(r.record_key(), absl::StrCat("rec-", i));
    EXPECT_EQ(r.outcome(), mflsync::v1::WRITE_OUTCOME_CREATED) << r.message();
    uuids.insert(r.uuid());
  }
  EXPECT_EQ(uuids.size(), 40u);
  EXPECT_EQ(response->results(40).outcome(), mflsync::v1::WRITE_OUTCOME_UNCHANGED)
      << response->results(40).message();
  EXPECT_EQ(response->results(40).uuid(), response->results(7).uuid());
  auto facilities = standin_->Facilities();
  EXPECT_EQ(facilities["count"], 40);
  std::set<std::string> codes;
  for (const auto& f : facilities["facilities"]) codes.insert(f["code"].get<std::string>());
  EXPECT_EQ(codes.size(), 40u);
}

}  // namespace
}  // namespace mflsync::writer
