// WriterCore and its gRPC edge: start without openIMIS, index load with
// paging, lookups and districts, the index kept current by writes.
#include "writer/writer_core.h"

#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "mflsync/v1/writer.grpc.pb.h"
#include "common/sqlite.h"
#include "tests/support/child_process.h"
#include "tests/writer/standin_process.h"
#include "writer/writer_module.h"

namespace mflsync::writer {
namespace {

using testing::OpenImisStandin;

WriterCoreOptions Options(const std::string& base) {
  WriterCoreOptions options;
  options.openimis.base_url = base;
  options.openimis.username = "Admin";
  options.openimis.password = "admin123";
  options.openimis.http.connect_timeout = absl::Seconds(2);
  options.openimis.http.request_timeout = absl::Seconds(5);
  options.index_page_size = 4;
  options.index_retry_interval = absl::Milliseconds(100);
  return options;
}

TEST(WriterCoreTest, StartsWithoutOpenImisAndAnswersUnavailable) {
  // Port 9 on loopback: nothing listens.
  WriterCore core(Options("http://127.0.0.1:9/api"));
  core.StartBackgroundLoad();
  auto lookup = core.Lookup({});
  ASSERT_FALSE(lookup.ok());
  EXPECT_EQ(lookup.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(lookup.status().message().find("index is not loaded yet"), std::string::npos);
  auto write = core.Write({});
  EXPECT_EQ(write.status().code(), absl::StatusCode::kUnavailable);
  auto refresh = core.Refresh();
  ASSERT_FALSE(refresh.ok());
  EXPECT_NE(refresh.status().message().find("openIMIS login"), std::string::npos)
      << refresh.status();
  core.Stop();
}

TEST(WriterCoreTest, WithoutUsernameSaysWhichSettingIsMissing) {
  WriterCoreOptions options = Options("http://127.0.0.1:9/api");
  options.openimis.username.clear();
  WriterCore core(options);
  auto refresh = core.Refresh();
  ASSERT_FALSE(refresh.ok());
  EXPECT_NE(refresh.status().message().find("openimis.username is not set"),
            std::string::npos);
}

class WriterCoreStandinTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto standin = OpenImisStandin::Start({"--fast"});
    ASSERT_TRUE(standin.ok()) << standin.status();
    standin_ = *std::move(standin);
    nlohmann::json seed = nlohmann::json::array();
    for (int i = 0; i < 10; ++i) {
      seed.push_back({{"code", absl::StrCat("S", i)}, {"name", absl::StrCat("Seeded Clinic ", i)},
                      {"district_code", i < 5 ? "D0101" : "D0202"}, {"legal_form", "C"},
                      {"care_type", "O"}, {"level", "C"}, {"phone", "555"}});
    }
    ASSERT_TRUE(standin_->Testbed("POST", "facilities", seed).ok());
  }
  std::unique_ptr<OpenImisStandin> standin_;
};

TEST_F(WriterCoreStandinTest, BackgroundLoadThenLookupsAndDistricts) {
  WriterCore core(Options(standin_->api_root()));
  core.StartBackgroundLoad();
  for (int i = 0; i < 200 && !core.index().loaded(); ++i) absl::SleepFor(absl::Milliseconds(50));
  ASSERT_TRUE(core.index().loaded());
  mflsync::v1::LookupFacilitiesRequest request;
  request.add_codes("S1");
  request.add_codes("S404");
  auto* name = request.add_names();
  name->set_name("  seeded CLINIC 7 ");
  name->set_district_code("D0202");
  auto found = core.Lookup(request);
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_EQ(found->facilities_size(), 2);
  EXPECT_EQ(found->facilities(0).code(), "S1");
  EXPECT_EQ(found->facilities(0).district_code(), "D0101");
  EXPECT_EQ(found->facilities(0).legal_form(), "C");  // from the Organization
  EXPECT_EQ(found->facilities(0).care_type(), mflsync::v1::CARE_TYPE_OUT_PATIENT);
  EXPECT_EQ(found->facilities(0).level(), mflsync::v1::FACILITY_LEVEL_HEALTH_CENTRE);
  EXPECT_EQ(found->facilities(0).phone(), "555");
  EXPECT_EQ(found->facilities(1).code(), "S7");
  EXPECT_GT(found->index_loaded_at().seconds(), 0);
  auto districts = core.ListDistricts();
  ASSERT_TRUE(districts.ok());
  ASSERT_EQ(districts->districts_size(), 4);
  EXPECT_EQ(districts->districts(0).code(), "D0101");
  EXPECT_EQ(districts->districts(0).region_code(), "R01");
  EXPECT_EQ(districts->districts(3).region_code(), "R02");
  core.Stop();
}

// openIMIS answers 503 to two reads of the third facility page in a row:
// the page is read again (GraphqlApi::ReadPage) and the load goes on; before,
// the whole load failed.
TEST_F(WriterCoreStandinTest, AnIndexPageThatFailsIsReadAgainAndTheLoadGoesOn) {
  standin_->AddFaults({{"kind", "status"}, {"status", 503}, {"method", "POST"},
                       {"path", "/api/graphql"}, {"contains", "query mflsyncFacilities"},
                       {"skip", 2}, {"times", 2}});
  WriterCore core(Options(standin_->api_root()));
  auto loaded = core.Refresh();
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->facilities(), 10);
  EXPECT_TRUE(core.index().ByCode("S9").has_value());
  auto faults = standin_->Testbed("GET", "faults");
  ASSERT_TRUE(faults.ok());
  EXPECT_EQ((*faults)["fired"].value("status", 0), 2) << faults->dump();
}

TEST_F(WriterCoreStandinTest, RefreshSeesChangesMadeOutsideTheWriter) {
  WriterCore core(Options(standin_->api_root()));
  auto first = core.Refresh();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->facilities(), 10);
  EXPECT_EQ(first->districts(), 4);
  ASSERT_TRUE(standin_->Testbed("POST", "facilities",
                                {{{"code", "LATE"}, {"name", "Late"},
                                  {"district_code", "D0102"}}}).ok());
  auto second = core.Refresh();
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->facilities(), 11);
  EXPECT_TRUE(core.index().ByCode("LATE").has_value());
}

TEST_F(WriterCoreStandinTest, GrpcEdgeServesTheRpcs) {
  std::unique_ptr<ServiceModule> module = MakeWriterModule(Options(standin_->api_root()));
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  for (grpc::Service* s : module->GrpcServices()) builder.RegisterService(s);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  auto stub = mflsync::v1::WriterService::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  {
    grpc::ClientContext ctx;
    mflsync::v1::ListDistrictsResponse response;
    grpc::Status status = stub->ListDistricts(&ctx, {}, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);  // not loaded yet
  }
  {
    grpc::ClientContext ctx;
    mflsync::v1::RefreshIndexResponse response;
    ASSERT_TRUE(stub->RefreshIndex(&ctx, {}, &response).ok());
    EXPECT_EQ(response.facilities(), 10);
  }
  {
    grpc::ClientContext ctx;
    mflsync::v1::WriteFacilitiesRequest request;
    auto* item = request.add_items();
    item->set_record_key("k");
    item->set_action(mflsync::v1::WRITE_ACTION_CREATE);
    auto* f = item->mutable_facility();
    f->set_code("G1");
    f->set_name("Over gRPC");
    f->set_level(mflsync::v1::FACILITY_LEVEL_HOSPITAL);
    f->set_care_type(mflsync::v1::CARE_TYPE_IN_PATIENT);
    f->set_legal_form("P");
    f->set_district_code("D0201");
    mflsync::v1::WriteFacilitiesResponse response;
    ASSERT_TRUE(stub->WriteFacilities(&ctx, request, &response).ok());
    ASSERT_EQ(response.results_size(), 1);
    EXPECT_EQ(response.results(0).outcome(), mflsync::v1::WRITE_OUTCOME_CREATED)
        << response.results(0).message();
  }
  {
    grpc::ClientContext ctx;
    mflsync::v1::LookupFacilitiesRequest request;
    request.add_codes("G1");
    mflsync::v1::LookupFacilitiesResponse response;
    ASSERT_TRUE(stub->LookupFacilities(&ctx, request, &response).ok());
    ASSERT_EQ(response.facilities_size(), 1);
    EXPECT_EQ(response.facilities(0).district_code(), "D0201");
  }
  EXPECT_EQ(standin_->CountCode("G1"), 1);
  module->Stop();
  server->Shutdown();
}

// The incremental refresh, the index store and the verification.
class WriterCoreRefreshTest : public WriterCoreStandinTest {
 protected:
  void SetUp() override {
    WriterCoreStandinTest::SetUp();
    absl::StatusOr<std::string> dir = mflsync::testing::MakeTempDir("writer-index");
    ASSERT_TRUE(dir.ok()) << dir.status();
    dir_ = *dir;
  }

  // Options with the index kept in this test's folder; no overlap, so that
  // a refresh reads exactly what changed after the last one.
  WriterCoreOptions StoredOptions() {
    WriterCoreOptions options = Options(standin_->api_root());
    options.index_path = dir_ + "/index.db";
    options.index_overlap = absl::ZeroDuration();
    return options;
  }

  // Renames `code` through another writer (an update moves validityFrom).
  void RenameOutside(const std::string& code, const std::string& name) {
    WriterCore other(Options(standin_->api_root()));
    ASSERT_TRUE(other.Refresh().ok());
    mflsync::v1::WriteFacilitiesRequest request;
    auto* item = request.add_items();
    item->set_record_key(code);
    item->set_action(mflsync::v1::WRITE_ACTION_UPDATE);
    *item->mutable_facility() = *other.index().ByCode(code);
    item->mutable_facility()->set_name(name);
    auto written = other.Write(request);
    ASSERT_TRUE(written.ok()) << written.status();
    ASSERT_EQ(written->results(0).outcome(), mflsync::v1::WRITE_OUTCOME_UPDATED)
        << written->results(0).message();
  }

  // Requests openIMIS answered on /api/graphql so far.
  // A writer on `connections` connections with its index loaded, or null
  // (a failed expectation says why).
  std::unique_ptr<WriterCore> RefreshedCore(int connections) {
    WriterCoreOptions options = StoredOptions();
    options.connections = connections;
    auto core = std::make_unique<WriterCore>(options);
    absl::StatusOr<mflsync::v1::RefreshIndexResponse> refreshed = core->Refresh();
    EXPECT_TRUE(refreshed.ok()) << refreshed.status();
    return refreshed.ok() ? std::move(core) : nullptr;
  }

  // Adds the create of a dispensary in district D0101.
  static void AddCreate(mflsync::v1::WriteFacilitiesRequest* request, const std::string& code,
                        const std::string& name) {
    auto* item = request->add_items();
    item->set_record_key(code);
    item->set_action(mflsync::v1::WRITE_ACTION_CREATE);
    auto* f = item->mutable_facility();
    f->set_code(code);
    f->set_name(name);
    f->set_level(mflsync::v1::FACILITY_LEVEL_DISPENSARY);
    f->set_care_type(mflsync::v1::CARE_TYPE_BOTH);
    f->set_legal_form("G");
    f->set_district_code("D0101");
  }

  int64_t GraphqlRequests() {
    int64_t n = 0;
    const nlohmann::json stats = standin_->Stats();  // alive through the loop
    for (const auto& r : stats["requests"]) {
      if (r.value("path", "") == "/api/graphql") n += r.value("count", 0);
    }
    return n;
  }

  std::string dir_;
};

TEST_F(WriterCoreRefreshTest, ARefreshReadsOnlyWhatChangedSinceTheLastOne) {
  WriterCore core(StoredOptions());
  auto first = core.Refresh();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->mode(), mflsync::v1::REFRESH_MODE_FULL);
  EXPECT_EQ(first->facilities_read(), 10);
  RenameOutside("S3", "Renamed Three");
  ASSERT_TRUE(standin_->Testbed("POST", "facilities",
                                {{{"code", "LATE"}, {"name", "Late"},
                                  {"district_code", "D0102"}}}).ok());
  auto second = core.Refresh();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->mode(), mflsync::v1::REFRESH_MODE_INCREMENTAL);
  // S3, LATE, and the row at the previous high-water mark (read again: >=).
  EXPECT_LE(second->facilities_read(), 3);
  EXPECT_EQ(second->facilities_added(), 1);
  EXPECT_EQ(second->facilities_changed(), 1);
  EXPECT_EQ(second->facilities(), 11);
  EXPECT_EQ(core.index().ByCode("S3")->name(), "Renamed Three");
  EXPECT_TRUE(core.index().ByCode("LATE").has_value());
}

TEST_F(WriterCoreRefreshTest, AFacilityDeletedInOpenImisIsFoundByTheCountAndRemoved) {
  WriterCore core(StoredOptions());
  ASSERT_TRUE(core.Refresh().ok());
  ASSERT_TRUE(standin_->Testbed("DELETE", "facilities?code=S4").ok());
  auto second = core.Refresh();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->mode(), mflsync::v1::REFRESH_MODE_FULL) << "the count differed";
  EXPECT_EQ(second->facilities_removed(), 1);
  EXPECT_EQ(second->drift(), 1);
  EXPECT_FALSE(core.index().ByCode("S4").has_value());
  EXPECT_EQ(second->facilities(), 9);
}

TEST_F(WriterCoreRefreshTest, ARestartRestoresTheIndexAndReadsOnlyWhatChanged) {
  {
    WriterCore core(StoredOptions());
    ASSERT_TRUE(core.Refresh().ok());
    core.Stop();
  }
  ASSERT_TRUE(standin_->Testbed("POST", "facilities",
                                {{{"code", "AFTER"}, {"name", "After"},
                                  {"district_code", "D0102"}}}).ok());
  const int64_t requests_before = GraphqlRequests();
  WriterCore again(StoredOptions());
  again.StartBackgroundLoad();
  for (int i = 0; i < 200 && !again.index().loaded(); ++i) absl::SleepFor(absl::Milliseconds(20));
  ASSERT_TRUE(again.index().loaded());
  EXPECT_EQ(again.index().facility_count(), 10u) << "restored from the store, as saved";
  EXPECT_EQ(GraphqlRequests(), requests_before) << "the restore read nothing from openIMIS";
  auto refreshed = again.Refresh();
  ASSERT_TRUE(refreshed.ok()) << refreshed.status();
  EXPECT_EQ(refreshed->mode(), mflsync::v1::REFRESH_MODE_INCREMENTAL);
  EXPECT_LE(refreshed->facilities_read(), 2);
  EXPECT_EQ(refreshed->facilities(), 11);
}

TEST_F(WriterCoreRefreshTest, AStoreOfAnotherOpenImisIsReadInFull) {
  {
    WriterCoreOptions options = StoredOptions();
    options.openimis.base_url = "http://127.0.0.1:9/api";  // another server, down
    WriterCore elsewhere(options);
    ASSERT_FALSE(elsewhere.Refresh().ok());
  }
  WriterCore core(StoredOptions());
  auto first = core.Refresh();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->mode(), mflsync::v1::REFRESH_MODE_FULL);
  EXPECT_EQ(first->facilities(), 10);
}

// An index that went wrong behind the incremental refreshes' back (here:
// its store edited) is repaired by a full read, which reports the drift.
TEST_F(WriterCoreRefreshTest, AFullRefreshRepairsTheIndexAndReportsDrift) {
  {
    WriterCore core(StoredOptions());
    ASSERT_TRUE(core.Refresh().ok());
    core.Stop();
  }
  {
    auto db = SqliteDb::Open(dir_ + "/index.db");
    ASSERT_TRUE(db.ok()) << db.status();
    ASSERT_TRUE((*db)->Exec("UPDATE facilities SET name = 'Wrong' WHERE code = 'S2'").ok());
  }
  WriterCore core(StoredOptions());
  auto incremental = core.Refresh(mflsync::v1::REFRESH_MODE_INCREMENTAL);
  ASSERT_TRUE(incremental.ok()) << incremental.status();
  EXPECT_EQ(incremental->mode(), mflsync::v1::REFRESH_MODE_INCREMENTAL);
  EXPECT_EQ(core.index().ByCode("S2")->name(), "Wrong") << "no change in openIMIS to read";
  auto full = core.Refresh(mflsync::v1::REFRESH_MODE_FULL);
  ASSERT_TRUE(full.ok()) << full.status();
  EXPECT_EQ(full->mode(), mflsync::v1::REFRESH_MODE_FULL);
  EXPECT_EQ(full->facilities_read(), 10);
  EXPECT_EQ(full->drift(), 1);
  EXPECT_EQ(full->facilities_changed(), 1);
  EXPECT_EQ(core.index().ByCode("S2")->name(), "Seeded Clinic 2");
}

TEST_F(WriterCoreRefreshTest, AVerificationIsDueAfterTheConfiguredInterval) {
  WriterCoreOptions options = StoredOptions();
  options.index_verify_interval = absl::ZeroDuration();
  WriterCore core(options);
  ASSERT_TRUE(core.Refresh().ok());
  auto due = core.Refresh();
  ASSERT_TRUE(due.ok()) << due.status();
  EXPECT_EQ(due->mode(), mflsync::v1::REFRESH_MODE_FULL);
  EXPECT_EQ(due->drift(), 0);
}

// Writes running at once on several connections share their mutation
// requests (MutationBatcher) and their outcome polls (OutcomeBatcher): one
// mutation per facility, fewer requests than writes.
TEST_F(WriterCoreRefreshTest, ConcurrentWritesShareTheirMutationsAndOutcomePolls) {
  constexpr int kWrites = 40;
  std::unique_ptr<WriterCore> refreshed = RefreshedCore(8);
  ASSERT_NE(refreshed, nullptr);
  WriterCore& core = *refreshed;
  mflsync::v1::WriteFacilitiesRequest request;
  for (int i = 0; i < kWrites; ++i) {
    AddCreate(&request, absl::StrCat("B", i), absl::StrCat("Batched ", i));
  }
  const int64_t before = GraphqlRequests();
  const int64_t mutation_requests_before = standin_->Stats()["graphql_mutation_requests"];
  auto written = core.Write(request);
  ASSERT_TRUE(written.ok()) << written.status();
  const int64_t requests = GraphqlRequests() - before;
  for (const auto& result : written->results()) {
    EXPECT_EQ(result.outcome(), mflsync::v1::WRITE_OUTCOME_CREATED) << result.message();
    EXPECT_FALSE(result.uuid().empty()) << "the uuid read back in the shared poll";
  }
  const nlohmann::json stats = standin_->Stats();
  EXPECT_EQ(stats["facilities"], 10 + kWrites);
  EXPECT_EQ(stats["graphql_mutations"]["createHealthFacility"]["received"], kWrites)
      << "one mutation per facility";
  const int64_t mutation_requests =
      stats["graphql_mutation_requests"].get<int64_t>() - mutation_requests_before;
  EXPECT_LT(mutation_requests, kWrites) << "each mutation was sent alone";
  EXPECT_LT(requests, 2 * kWrites) << "each write polled alone";
}

// openIMIS refuses a request of several mutations as a whole when one
// holds a code over its 8 characters (HTTP 400, nothing run): that one is
// refused, every other is created once.
TEST_F(WriterCoreRefreshTest, OneRefusedMutationInASharedRequestLeavesTheOthersWritten) {
  constexpr int kWrites = 24;
  std::unique_ptr<WriterCore> refreshed = RefreshedCore(8);
  ASSERT_NE(refreshed, nullptr);
  WriterCore& core = *refreshed;
  mflsync::v1::WriteFacilitiesRequest request;
  for (int i = 0; i < kWrites; ++i) {
    AddCreate(&request, i % 8 == 5 ? absl::StrCat("LONGCODE", i) : absl::StrCat("R", i),
              absl::StrCat("Refusal neighbour ", i));
  }
  auto written = core.Write(request);
  ASSERT_TRUE(written.ok()) << written.status();
  int created = 0;
  for (int i = 0; i < kWrites; ++i) {
    const auto& result = written->results(i);
    if (i % 8 == 5) {
      EXPECT_EQ(result.outcome(), mflsync::v1::WRITE_OUTCOME_REJECTED) << result.message();
      EXPECT_NE(result.message().find("over_max_length"), std::string::npos)
          << result.message();
    } else {
      EXPECT_EQ(result.outcome(), mflsync::v1::WRITE_OUTCOME_CREATED) << result.message();
      ++created;
    }
  }
  const nlohmann::json stats = standin_->Stats();
  EXPECT_EQ(stats["facilities"], 10 + created);
  EXPECT_EQ(stats["graphql_mutations"]["createHealthFacility"]["received"], created)
      << "a mutation ran twice";
}

// Without openimis.read_back (the default) an update's poll asks only its
// mutation log and a create's only where the facility is; no poll asks the
// whole row. Every request that reads the whole row (its selection has
// `legalForm { code }`) fails here, and no write meets that fault; with
// read_back the same update's poll does.
TEST_F(WriterCoreRefreshTest, WithoutReadBackAPollAsksNoWholeRow) {
  WriterCoreOptions options = StoredOptions();
  options.graphql.mutation_timeout = absl::Seconds(1);
  options.write.retry.max_attempts = 1;
  WriterCore core(options);
  ASSERT_TRUE(core.Refresh().ok());
  standin_->AddFaults({{"kind", "status"}, {"status", 503}, {"path", "/api/graphql"},
                       {"contains", "legalForm { code }"}, {"times", -1}});
  mflsync::v1::WriteFacilitiesRequest request;
  auto* update = request.add_items();
  update->set_record_key("S3");
  update->set_action(mflsync::v1::WRITE_ACTION_UPDATE);
  *update->mutable_facility() = *core.index().ByCode("S3");
  update->mutable_facility()->set_name("Renamed Three");
  auto* create = request.add_items();
  create->set_record_key("NEW1");
  create->set_action(mflsync::v1::WRITE_ACTION_CREATE);
  *create->mutable_facility() = *core.index().ByCode("S4");
  create->mutable_facility()->clear_uuid();
  create->mutable_facility()->set_code("NEW1");
  create->mutable_facility()->set_name("New One");
  auto written = core.Write(request);
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(written->results(0).outcome(), mflsync::v1::WRITE_OUTCOME_UPDATED)
      << written->results(0).message();
  EXPECT_EQ(written->results(1).outcome(), mflsync::v1::WRITE_OUTCOME_CREATED)
      << written->results(1).message();
  EXPECT_FALSE(written->results(1).uuid().empty());
  EXPECT_EQ(core.index().ByCode("S3")->name(), "Renamed Three");
  EXPECT_EQ(core.index().ByCode("NEW1")->uuid(), written->results(1).uuid());
  EXPECT_TRUE(standin_->Stats()["faults_fired"].empty()) << standin_->Stats().dump();

  options.graphql.read_back = true;
  WriterCore reading(options);
  ASSERT_TRUE(standin_->Testbed("DELETE", "faults").ok());
  ASSERT_TRUE(reading.Refresh().ok());
  standin_->AddFaults({{"kind", "status"}, {"status", 503}, {"path", "/api/graphql"},
                       {"contains", "legalForm { code }"}, {"times", -1}});
  request.mutable_items()->DeleteSubrange(1, 1);
  *request.mutable_items(0)->mutable_facility() = *reading.index().ByCode("S3");
  request.mutable_items(0)->mutable_facility()->set_name("Renamed Again");
  auto again = reading.Write(request);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(standin_->Stats()["faults_fired"].empty()) << "the poll read the whole row";
}

// The writer's own writes tell it openIMIS's clock: a refresh that begins
// well after them reads again only the newest change, not the whole overlap.
TEST_F(WriterCoreRefreshTest, OwnWritesLetARefreshSkipTheOverlap) {
  WriterCoreOptions options = StoredOptions();
  options.index_overlap = absl::Seconds(1);
  WriterCore core(options);
  ASSERT_TRUE(core.Refresh().ok());
  mflsync::v1::WriteFacilitiesRequest request;
  for (const char* code : {"W1", "W2", "W3"}) {
    AddCreate(&request, code, absl::StrCat("Written ", code));
  }
  auto written = core.Write(request);
  ASSERT_TRUE(written.ok()) << written.status();
  absl::SleepFor(absl::Milliseconds(1200));
  auto first = core.Refresh();  // the three writes are the newest changes
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_GE(first->facilities_read(), 3);
  auto second = core.Refresh();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->mode(), mflsync::v1::REFRESH_MODE_INCREMENTAL);
  EXPECT_EQ(second->facilities_read(), 1)
      << "the newest change only; the overlap alone would read the three writes again";
}

}  // namespace
}  // namespace mflsync::writer
