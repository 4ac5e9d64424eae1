// The writer against the real openIMIS backend (released PyPI modules on
// PostgreSQL; testbed/openimis-real), started by the ctest fixture: create,
// update, deactivate, unchanged, every rejection rule with openIMIS's own
// message, an answer lost after commit, concurrent creates of the same codes.
// ctest runs this binary twice: ASYNC=False (mutations final when answered)
// and the server's default asynchronous mutations (Celery worker).
// Independent checks read openIMIS's tblHF with SQL.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/writer/real_openimis.h"
#include "writer/writer_core.h"

namespace mflsync::writer {
namespace {

using mflsync::v1::HealthFacility;
using mflsync::v1::WriteFacilitiesRequest;
using mflsync::v1::WriteResult;
using testing::FaultProxy;
using testing::RealOpenImis;

constexpr char kEnv[] = "MFLSYNC_OPENIMIS_REAL_ENV";
constexpr char kDistrict[] = "R1D1";  // a demo district (demo_db.sql)

HealthFacility Facility(const std::string& code, const std::string& name) {
  HealthFacility f;
  f.set_code(code);
  f.set_name(name);
  f.set_level(mflsync::v1::FACILITY_LEVEL_HOSPITAL);
  f.set_care_type(mflsync::v1::CARE_TYPE_BOTH);
  f.set_legal_form("G");
  f.set_district_code(kDistrict);
  f.set_address("Lantern Road 7");
  f.set_phone("+254 700 000 001");
  f.set_fax("+254 700 000 002");
  f.set_email("records@example.org");
  f.set_active(true);
  return f;
}

WriteFacilitiesRequest Request(mflsync::v1::WriteAction action, const HealthFacility& f) {
  WriteFacilitiesRequest request;
  auto* item = request.add_items();
  item->set_record_key(f.code());
  item->set_action(action);
  *item->mutable_facility() = f;
  return request;
}

class RealOpenImisTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<RealOpenImis> real = RealOpenImis::FromEnv(kEnv);
    if (real.ok()) {
      real_ = new RealOpenImis(*real);
    } else {
      skip_reason_ = new std::string(real.status().message());
    }
  }
  static void TearDownTestSuite() {
    delete real_;
    real_ = nullptr;
  }
  void SetUp() override {
    if (real_ == nullptr) GTEST_SKIP() << *skip_reason_;
  }

  // A writer with a loaded index, talking to `api_root` (the server, or a
  // proxy in front of it).
  std::unique_ptr<WriterCore> Core(const std::string& api_root, int connections = 4,
                                   absl::Duration index_overlap = absl::Minutes(5)) {
    WriterCoreOptions options;
    options.index_overlap = index_overlap;
    options.openimis.base_url = api_root;
    options.openimis.username = real_->user;
    options.openimis.password = real_->password;
    options.openimis.http.request_timeout = absl::Seconds(60);
    options.connections = connections;
    options.graphql.mutation_timeout = absl::Seconds(60);
    options.write.retry.initial_backoff = absl::Milliseconds(100);
    auto core = std::make_unique<WriterCore>(options);
    absl::StatusOr<mflsync::v1::RefreshIndexResponse> refreshed = core->Refresh();
    EXPECT_TRUE(refreshed.ok()) << refreshed.status();
    return core;
  }

  // The code, unique in this run and mode (the database is fresh per run).
  static std::string Code(const std::string& stem) {
    return absl::StrCat(real_->async ? "A" : "S", stem);
  }

  WriteResult WriteOne(WriterCore& core, mflsync::v1::WriteAction action,
                       const HealthFacility& f) {
    auto response = core.Write(Request(action, f));
    EXPECT_TRUE(response.ok()) << response.status();
    if (!response.ok() || response->results_size() != 1) return WriteResult();
    return response->results(0);
  }

  // What a fresh index (a second writer) reads back for `code`.
  std::optional<HealthFacility> ReadBack(const std::string& code) {
    std::unique_ptr<WriterCore> fresh = Core(real_->api_root, 1);
    return fresh->index().ByCode(code);
  }

  inline static RealOpenImis* real_ = nullptr;
  inline static std::string* skip_reason_ = nullptr;
};

TEST_F(RealOpenImisTest, CreateStoresEveryColumnAndReadsBackExactly) {
  auto core = Core(real_->api_root);
  HealthFacility f = Facility(Code("C001"), "Mflsync Create Hospital");
  WriteResult result = WriteOne(*core, mflsync::v1::WRITE_ACTION_CREATE, f);
  ASSERT_EQ(result.outcome(), mflsync::v1::WRITE_OUTCOME_CREATED) << result.message();
  EXPECT_FALSE(result.uuid().empty());
  EXPECT_EQ(real_->CurrentRows(f.code()), 1);
  std::optional<HealthFacility> back = ReadBack(f.code());
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->uuid(), result.uuid());
  EXPECT_EQ(back->name(), f.name());
  EXPECT_EQ(back->level(), f.level());
  EXPECT_EQ(back->care_type(), f.care_type());
  EXPECT_EQ(back->legal_form(), "G");
  EXPECT_EQ(back->district_code(), kDistrict);
  EXPECT_EQ(back->address(), f.address());
  EXPECT_EQ(back->phone(), f.phone());
  EXPECT_EQ(back->fax(), f.fax());
  EXPECT_EQ(back->email(), f.email());
  EXPECT_TRUE(back->active());
  absl::StatusOr<std::string> status = real_->Sql(absl::StrCat(
      "SELECT status FROM \\\"tblHF\\\" WHERE \\\"HFCode\\\" = '", f.code(),
      "' AND \\\"ValidityTo\\\" IS NULL"));
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(*status, "AC");
}

TEST_F(RealOpenImisTest, UpdateReplacesTheRecordAndDeactivationReadsBack) {
  auto core = Core(real_->api_root);
  HealthFacility f = Facility(Code("U001"), "Mflsync Update Clinic");
  WriteResult created = WriteOne(*core, mflsync::v1::WRITE_ACTION_CREATE, f);
  ASSERT_EQ(created.outcome(), mflsync::v1::WRITE_OUTCOME_CREATED) << created.message();
  f.set_uuid(created.uuid());
  f.set_name("Mflsync Update Clinic (renamed)");
  f.set_level(mflsync::v1::FACILITY_LEVEL_HEALTH_CENTRE);
  f.set_care_type(mflsync::v1::CARE_TYPE_OUT_PATIENT);
  f.set_legal_form("P");
  f.set_phone("+254 711 111 111");
  f.clear_fax();  // an update replaces the record: the fax must go
  WriteResult updated = WriteOne(*core, mflsync::v1::WRITE_ACTION_UPDATE, f);
  ASSERT_EQ(updated.outcome(), mflsync::v1::WRITE_OUTCOME_UPDATED) << updated.message();
  std::optional<HealthFacility> back = ReadBack(f.code());
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->uuid(), created.uuid());
  EXPECT_EQ(back->name(), f.name());
  EXPECT_EQ(back->level(), mflsync::v1::FACILITY_LEVEL_HEALTH_CENTRE);
  EXPECT_EQ(back->care_type(), mflsync::v1::CARE_TYPE_OUT_PATIENT);
  EXPECT_EQ(back->legal_form(), "P");
  EXPECT_EQ(back->phone(), "+254 711 111 111");
  EXPECT_EQ(back->fax(), "");

  f.set_active(false);
  WriteResult closed = WriteOne(*core, mflsync::v1::WRITE_ACTION_UPDATE, f);
  ASSERT_EQ(closed.outcome(), mflsync::v1::WRITE_OUTCOME_UPDATED) << closed.message();
  back = ReadBack(f.code());
  ASSERT_TRUE(back.has_value());
  EXPECT_FALSE(back->active());
  EXPECT_EQ(real_->CurrentRows(f.code()), 1);
}

TEST_F(RealOpenImisTest, UnchangedFacilityCausesNoWrite) {
  auto core = Core(real_->api_root);
  HealthFacility f = Facility(Code("N001"), "Mflsync Noop Dispensary");
  WriteResult created = WriteOne(*core, mflsync::v1::WRITE_ACTION_CREATE, f);
  ASSERT_EQ(created.outcome(), mflsync::v1::WRITE_OUTCOME_CREATED) << created.message();
  auto history = [&] {
    absl::StatusOr<std::string> n = real_->Sql(absl::StrCat(
        "SELECT count(*) FROM \\\"tblHF\\\" WHERE \\\"HFCode\\\" = '", f.code(), "'"));
    return n.ok() ? *n : n.status().ToString();
  };
  const std::string rows_before = history();
  // A NOOP item, and a CREATE of content openIMIS already holds: no mutation.
  f.set_uuid(created.uuid());
  EXPECT_EQ(WriteOne(*core, mflsync::v1::WRITE_ACTION_NOOP, f).outcome(),
            mflsync::v1::WRITE_OUTCOME_UNCHANGED);
  f.clear_uuid();
  WriteResult again = WriteOne(*core, mflsync::v1::WRITE_ACTION_CREATE, f);
  EXPECT_EQ(again.outcome(), mflsync::v1::WRITE_OUTCOME_UNCHANGED) << again.message();
  EXPECT_EQ(history(), rows_before);  // no history row: nothing was written
}

TEST_F(RealOpenImisTest, EachRejectionCarriesOpenImisOwnMessage) {
  auto core = Core(real_->api_root);
  struct Case {
    std::string what;
    HealthFacility facility;
    std::string message;
  };
  std::vector<Case> cases;
  cases.push_back({"code too long", Facility(Code("TOOLONG99"), "Too long code"),
                   "core.string.over_max_length"});
  HealthFacility legal = Facility(Code("R002"), "Bad legal form");
  legal.set_legal_form("Z");
  cases.push_back({"bad legal form", legal, "HealthFacilityLegalForm matching query does not exist"});
  HealthFacility name = Facility(Code("R003"), std::string(101, 'N'));
  cases.push_back({"name too long", name, "at most 100 characters"});
  HealthFacility district = Facility(Code("R004"), "Unknown district");
  district.clear_district_code();
  district.set_district_uuid("00000000-0000-4000-8000-000000000000");
  cases.push_back({"unknown district", district, "openIMIS has no location with uuid"});
  for (const Case& c : cases) {
    WriteResult result = WriteOne(*core, mflsync::v1::WRITE_ACTION_CREATE, c.facility);
    EXPECT_EQ(result.outcome(), mflsync::v1::WRITE_OUTCOME_REJECTED) << c.what << ": "
                                                                     << result.message();
    EXPECT_NE(result.message().find(c.message), std::string::npos)
        << c.what << ": " << result.message();
    EXPECT_EQ(real_->CurrentRows(c.facility.code()), 0) << c.what;
  }
}

TEST_F(RealOpenImisTest, DuplicateCodeRefusalIsUnderstood) {
  auto core = Core(real_->api_root);
  HealthFacility f = Facility(Code("D001"), "Mflsync Duplicate One");
  ASSERT_EQ(WriteOne(*core, mflsync::v1::WRITE_ACTION_CREATE, f).outcome(),
            mflsync::v1::WRITE_OUTCOME_CREATED);
  // A second writer whose index predates the create: openIMIS refuses the
  // code; the writer looks it up and sees another facility (other name).
  auto stale = Core(real_->api_root, 1);
  auto other_core = Core(real_->api_root, 1);
  HealthFacility other = Facility(Code("D002"), "Mflsync Duplicate Two");
  ASSERT_EQ(WriteOne(*other_core, mflsync::v1::WRITE_ACTION_CREATE, other).outcome(),
            mflsync::v1::WRITE_OUTCOME_CREATED);
  HealthFacility clash = other;
  clash.set_name("Another facility, same code");
  WriteResult result = WriteOne(*stale, mflsync::v1::WRITE_ACTION_CREATE, clash);
  EXPECT_EQ(result.outcome(), mflsync::v1::WRITE_OUTCOME_REJECTED) << result.message();
  EXPECT_NE(result.message().find("hf_code_duplicated"), std::string::npos) << result.message();
  EXPECT_EQ(real_->CurrentRows(other.code()), 1);
}

TEST_F(RealOpenImisTest, AnswerLostAfterCommitIsResolvedWithoutASecondCreate) {
  const std::string origin = real_->api_root.substr(0, real_->api_root.rfind("/api"));
  auto proxy = FaultProxy::Start(origin);
  ASSERT_TRUE(proxy.ok()) << proxy.status();
  auto core = Core((*proxy)->origin() + "/api");
  HealthFacility f = Facility(Code("L001"), "Mflsync Lost Answer");
  ASSERT_TRUE((*proxy)
                  ->AddRule({{"contains", "createHealthFacility"},
                             {"action", "drop_response"},
                             {"times", 1}})
                  .ok());
  WriteResult result = WriteOne(*core, mflsync::v1::WRITE_ACTION_CREATE, f);
  EXPECT_EQ(result.outcome(), mflsync::v1::WRITE_OUTCOME_CREATED) << result.message();
  EXPECT_FALSE(result.uuid().empty());
  EXPECT_EQ((*proxy)->Stats()["dropped"], 1) << (*proxy)->Stats().dump();
  EXPECT_EQ(real_->CurrentRows(f.code()), 1);

  // Refused before it reached openIMIS: sent again, created once.
  HealthFacility g = Facility(Code("L002"), "Mflsync Refused Once");
  ASSERT_TRUE((*proxy)
                  ->AddRule({{"contains", "createHealthFacility"}, {"action", "refuse"}})
                  .ok());
  result = WriteOne(*core, mflsync::v1::WRITE_ACTION_CREATE, g);
  EXPECT_EQ(result.outcome(), mflsync::v1::WRITE_OUTCOME_CREATED) << result.message();
  EXPECT_EQ(real_->CurrentRows(g.code()), 1);
}

TEST_F(RealOpenImisTest, FourConnectionsCreatingTheSameCodesMakeOneFacilityEach) {
  auto core = Core(real_->api_root, 4);
  WriteFacilitiesRequest request;
  for (int i = 0; i < 12; ++i) {
    HealthFacility f = Facility(Code(absl::StrCat("K", 100 + i)), absl::StrCat("Same Code ", i));
    auto* item = request.add_items();
    item->set_record_key(f.code());
    item->set_action(mflsync::v1::WRITE_ACTION_CREATE);
    *item->mutable_facility() = f;
  }
  // Four callers (sync, retry, push, ...) send the same creates at once.
  std::vector<std::thread> callers;
  std::vector<int> created(4, 0);
  for (int c = 0; c < 4; ++c) {
    callers.emplace_back([&, c] {
      auto response = core->Write(request);
      ASSERT_TRUE(response.ok()) << response.status();
      for (const WriteResult& r : response->results()) {
        EXPECT_TRUE(r.outcome() == mflsync::v1::WRITE_OUTCOME_CREATED ||
                    r.outcome() == mflsync::v1::WRITE_OUTCOME_UNCHANGED)
            << r.message();
        if (r.outcome() == mflsync::v1::WRITE_OUTCOME_CREATED) ++created[c];
      }
    });
  }
  for (std::thread& t : callers) t.join();
  EXPECT_EQ(created[0] + created[1] + created[2] + created[3], 12);
  for (const auto& item : request.items()) {
    EXPECT_EQ(real_->CurrentRows(item.facility().code()), 1) << item.facility().code();
  }
}

// Writes on several connections share mutation requests (aliased fields,
// openimis.mutations_per_request): each facility is created once, and one
// that openIMIS refuses, in the request or in its own mutation log, leaves
// the others of its request written. A code over 8 characters makes the
// released server refuse the whole request (HTTP 400) before any mutation
// runs, so the writer sends each again alone: were any run before the
// refusal, its second create would leave two rows or a duplicate-code
// refusal.
TEST_F(RealOpenImisTest, SharedMutationRequestsWriteEachFacilityOnce) {
  auto core = Core(real_->api_root, 8);
  WriteFacilitiesRequest request;
  for (int i = 0; i < 24; ++i) {
    HealthFacility f = Facility(Code(absl::StrCat("M", 100 + i)), absl::StrCat("Shared ", i));
    if (i % 8 == 3) f.set_code(Code(absl::StrCat("LONG", 10000 + i)));
    if (i % 8 == 6) f.set_legal_form("Z");
    auto* item = request.add_items();
    item->set_record_key(f.code());
    item->set_action(mflsync::v1::WRITE_ACTION_CREATE);
    *item->mutable_facility() = f;
  }
  auto response = core->Write(request);
  ASSERT_TRUE(response.ok()) << response.status();
  for (int i = 0; i < request.items_size(); ++i) {
    const WriteResult& r = response->results(i);
    const std::string& code = request.items(i).facility().code();
    if (i % 8 == 3 || i % 8 == 6) {
      EXPECT_EQ(r.outcome(), mflsync::v1::WRITE_OUTCOME_REJECTED) << code << ": " << r.message();
      EXPECT_NE(r.message().find(i % 8 == 3 ? "core.string.over_max_length"
                                            : "HealthFacilityLegalForm matching query"),
                std::string::npos)
          << r.message();
      EXPECT_EQ(real_->CurrentRows(code), 0) << code;
    } else {
      EXPECT_EQ(r.outcome(), mflsync::v1::WRITE_OUTCOME_CREATED) << code << ": " << r.message();
      EXPECT_EQ(real_->CurrentRows(code), 1) << code;
    }
  }
}

TEST_F(RealOpenImisTest, FhirApiNamesTheKnownUpstreamDefectInOneLineWithoutRetries) {
  WriterCoreOptions options;
  options.openimis.base_url = real_->api_root;
  options.openimis.username = real_->user;
  options.openimis.password = real_->password;
  options.api = OpenImisApiKind::kFhir;
  options.connections = 1;
  WriterCore core(options);
  absl::StatusOr<mflsync::v1::RefreshIndexResponse> refreshed = core.Refresh();
  ASSERT_TRUE(refreshed.ok()) << refreshed.status();
  HealthFacility f = Facility(Code("F001"), "Through the FHIR module");
  WriteResult result = WriteOne(core, mflsync::v1::WRITE_ACTION_CREATE, f);
  EXPECT_EQ(result.outcome(), mflsync::v1::WRITE_OUTCOME_FAILED) << result.message();
  EXPECT_EQ(result.attempts(), 1) << result.message();
  EXPECT_NE(result.message().find("known defect of openimis-be-api_fhir_r4 1.10.0"),
            std::string::npos)
      << result.message();
  EXPECT_NE(result.message().find("set openimis.api to graphql"), std::string::npos)
      << result.message();
  EXPECT_EQ(result.message().find('\n'), std::string::npos) << result.message();
  EXPECT_EQ(real_->CurrentRows(f.code()), 0);
}

// The writer's incremental index refresh on the real server: it reads only
// what changed (newest validityFrom first; the GraphQL API has no "changed
// since" filter), sees another writer's create and update, and a facility
// deleted in openIMIS (here by SQL, as openIMIS's own delete does: the
// current row gets a ValidityTo) makes the count differ, so that a full read
// removes it.
TEST_F(RealOpenImisTest, TheIndexRefreshesIncrementallyAndFindsADeletion) {
  auto index = Core(real_->api_root, 1, absl::ZeroDuration());
  auto other = Core(real_->api_root, 1);
  HealthFacility f = Facility(Code("I001"), "Mflsync Incremental Clinic");
  WriteResult created = WriteOne(*other, mflsync::v1::WRITE_ACTION_CREATE, f);
  ASSERT_EQ(created.outcome(), mflsync::v1::WRITE_OUTCOME_CREATED) << created.message();
  // The demo rows share one validityFrom (2017-01-01): if theirs is the
  // newest change the index saw, this refresh reads them all again (a
  // refresh reads from its mark inclusive).
  auto first = index->Refresh();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->mode(), mflsync::v1::REFRESH_MODE_INCREMENTAL);
  EXPECT_EQ(first->facilities_added(), 1);
  ASSERT_TRUE(index->index().ByCode(f.code()).has_value());

  f.set_uuid(created.uuid());
  f.set_name("Mflsync Incremental Clinic Renamed");
  WriteResult updated = WriteOne(*other, mflsync::v1::WRITE_ACTION_UPDATE, f);
  ASSERT_EQ(updated.outcome(), mflsync::v1::WRITE_OUTCOME_UPDATED) << updated.message();
  auto second = index->Refresh();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->mode(), mflsync::v1::REFRESH_MODE_INCREMENTAL);
  EXPECT_EQ(second->facilities_read(), 1) << "the update only: it is the newest change";
  EXPECT_EQ(second->facilities_changed(), 1);
  EXPECT_EQ(index->index().ByCode(f.code())->name(), f.name());

  ASSERT_TRUE(real_->Sql(absl::StrCat("UPDATE \\\"tblHF\\\" SET \\\"ValidityTo\\\" = now() "
                                      "WHERE \\\"HFCode\\\" = '", f.code(),
                                      "' AND \\\"ValidityTo\\\" IS NULL")).ok());
  auto third = index->Refresh();
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_EQ(third->mode(), mflsync::v1::REFRESH_MODE_FULL) << "the count differed";
  EXPECT_EQ(third->facilities_removed(), 1);
  EXPECT_EQ(third->drift(), 1);
  EXPECT_FALSE(index->index().ByCode(f.code()).has_value());
}

}  // namespace
}  // namespace mflsync::writer
