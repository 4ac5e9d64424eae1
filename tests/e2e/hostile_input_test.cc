// Hostile MFL input to the fetcher through the real services (issue #11):
// each class with its record-level outcome. Two classes are in
// e2e_test.cc: an unparseable meta.lastUpdated (AnEntryWithABadTimeIs
// ParkedAndThePageGoesOn) and OperationOutcome entries (TheMflsOperation
// OutcomeIssuesAreRunWarnings). The fetcher's unit tests cover each rule;
// these check what reaches openIMIS, the failure queue and the watermark.
#include <set>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "google/protobuf/util/time_util.h"
#include "tests/e2e/e2e_fixture.h"

namespace mflsync::e2e {
namespace {

using nlohmann::json;

// A facility entry in the fetcher's order: its page (1-based, 200 a page,
// as the harness's fetcher asks) and index on that page.
struct Placed {
  int page = 0;
  size_t index = 0;
  std::string id;
  std::string last_updated;
};

class HostileInputTest : public E2eFixture {
 protected:
  void SetUp() override {
    StackOptions options;
    options.extra_config["scheduler"] = {{"rerun", {{"max_attempts", 0}}}};
    ASSERT_NO_FATAL_FAILURE(StartStack(options));
  }

  // Every facility Location in the fetcher's order (jurisdictions first).
  std::vector<Placed> FacilityOrder() {
    std::vector<Placed> out;
    auto facilities = stack_->MflFacilities();
    EXPECT_TRUE(facilities.ok()) << facilities.status();
    if (!facilities.ok()) return out;
    for (int page = 1; page < 100; ++page) {
      auto bundle = stack_->Http(
          "mfl", "GET",
          absl::StrCat("/fhir/Location?_sort=_lastUpdated&_count=200&_getpagesoffset=",
                       (page - 1) * 200));
      EXPECT_TRUE(bundle.ok()) << bundle.status();
      if (!bundle.ok() || (*bundle)["entry"].empty()) break;
      const json& entries = (*bundle)["entry"];
      for (size_t i = 0; i < entries.size(); ++i) {
        const json& r = entries[i]["resource"];
        if (facilities->count(r.value("id", ""))) {
          out.push_back({page, i, r.value("id", ""), r["meta"].value("lastUpdated", "")});
        }
      }
    }
    return out;
  }

  // The first facility on `page`.
  static Placed FirstOn(const std::vector<Placed>& order, int page) {
    for (const Placed& p : order) {
      if (p.page == page) return p;
    }
    return {};
  }

  absl::Time Watermark() {
    grpc::ClientContext ctx;
    v1::GetWatermarkRequest req;
    v1::GetWatermarkResponse resp;
    grpc::Status s = stack_->Scheduler()->GetWatermark(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    if (!resp.has_watermark()) return absl::InfinitePast();
    return absl::FromUnixMicros(
        google::protobuf::util::TimeUtil::TimestampToMicroseconds(resp.watermark()));
  }

  static absl::Time Instant(const std::string& text) {
    absl::Time t;
    std::string err;
    EXPECT_TRUE(absl::ParseTime(absl::RFC3339_full, text, &t, &err)) << text << ": " << err;
    return t;
  }

  v1::Run SyncOk(bool full = false) {
    absl::StatusOr<v1::Run> run = stack_->SyncAndWait(full);
    EXPECT_TRUE(run.ok()) << run.status();
    if (!run.ok()) return {};
    EXPECT_EQ(run->state(), v1::RUN_STATE_SUCCEEDED) << run->error();
    return *run;
  }

  // The open failure-queue entries at stage FETCH.
  std::vector<v1::Failure> FetchFailures() {
    std::vector<v1::Failure> out;
    auto open = stack_->Failures();
    EXPECT_TRUE(open.ok()) << open.status();
    if (!open.ok()) return out;
    for (const v1::Failure& f : *open) {
      if (f.stage() == v1::FAILURE_STAGE_FETCH) out.push_back(f);
    }
    return out;
  }

  void Dismiss(const std::vector<v1::Failure>& failures) {
    grpc::ClientContext ctx;
    v1::DismissFailuresRequest req;
    for (const v1::Failure& f : failures) req.add_failure_ids(f.failure_id());
    req.set_reason("hostile test input");  // a dismissal needs one
    v1::DismissFailuresResponse resp;
    grpc::Status s = stack_->Scheduler()->DismissFailures(&ctx, req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
};

// A record dated a day ahead is written and counted as future; the watermark
// stays behind the MFL's time less clock_skew (60 s), so the changes of the
// last minute (a touched facility) are fetched again.
TEST_F(HostileInputTest, AFutureDatedRecordIsWrittenAndHoldsTheWatermarkBack) {
  std::vector<Placed> order = FacilityOrder();
  ASSERT_FALSE(order.empty());
  const Placed target = order[3];
  auto touched = stack_->Http("mfl", "POST", "/$testbed/touch", json{{"ids", {order[10].id}}});
  ASSERT_TRUE(touched.ok()) << touched.status();
  // The touched record changed within the second the MFL's HTTP Date
  // truncates (or during the fetch): it is not from the future.
  ASSERT_NO_FATAL_FAILURE(AddFaults("mfl", json::array({{{"kind", "future_last_updated"},
                                                         {"seconds", 86400},
                                                         {"page", target.page},
                                                         {"index", target.index}}})));
  v1::Run run = SyncOk();
  const absl::Time after = absl::Now();
  EXPECT_EQ(run.counts().future(), 1);
  auto parked = ExpectConsistent();
  auto oi = stack_->OpenImisFacilities();
  ASSERT_TRUE(oi.ok());
  // Written (unless its mapping refuses it, like any record).
  EXPECT_TRUE(oi->count(CodeOf(target.id)) ||
              (parked.count(target.id) && parked[target.id].stage() != v1::FAILURE_STAGE_FETCH))
      << target.id;
  const absl::Time watermark = Watermark();
  EXPECT_GT(watermark, Instant(order.front().last_updated));  // it moved
  EXPECT_LE(watermark, after - absl::Seconds(60)) << absl::FormatTime(watermark);
}

// An older version re-delivered after the newer one was written is counted
// stale and never written: openIMIS keeps the newer name.
TEST_F(HostileInputTest, AnOlderVersionRedeliveredIsStaleAndNeverWritten) {
  SyncOk();
  std::vector<std::string> ids = SyncedIds(1);
  ASSERT_EQ(ids.size(), 1u);
  auto mfl = stack_->MflFacilities();
  ASSERT_TRUE(mfl.ok());
  json renamed = (*mfl)[ids[0]];
  renamed["name"] = "Renamed Before The Replay";
  renamed.erase("meta");
  ASSERT_NO_FATAL_FAILURE(PutLocation(renamed));
  EXPECT_EQ(SyncOk().counts().updated(), 1);
  const int64_t updates = OpenImisMutations("updateHealthFacility", "received");

  ASSERT_NO_FATAL_FAILURE(
      AddFaults("mfl", json::array({{{"kind", "old_version"}, {"id", ids[0]}}})));
  v1::Run replay = SyncOk();
  EXPECT_GE(replay.counts().stale(), 1);
  EXPECT_EQ(replay.counts().updated(), 0);
  EXPECT_EQ(OpenImisMutations("updateHealthFacility", "received"), updates);
  ExpectConsistent();
  auto oi = stack_->OpenImisFacilities();
  ASSERT_TRUE(oi.ok());
  EXPECT_EQ(oi->at(CodeOf(ids[0])).value("name", ""), "Renamed Before The Replay");
}

// An entry without a resource and a Location without an id are parked at
// stage FETCH under an unidentified- name; the rest of their pages is
// written. A full sync, once the MFL serves them well, writes both.
TEST_F(HostileInputTest, BadEntriesAreParkedAtFetchAndTheirPagesGoOn) {
  std::vector<Placed> order = FacilityOrder();
  ASSERT_FALSE(order.empty());
  const Placed first = order.front();
  const Placed second = FirstOn(order, first.page + 1);
  ASSERT_FALSE(second.id.empty()) << "one page of facilities only";
  ASSERT_NO_FATAL_FAILURE(AddFaults(
      "mfl", json::array({{{"kind", "entry_without_resource"},
                           {"page", first.page},
                           {"index", first.index}},
                          {{"kind", "location_without_id"},
                           {"page", second.page},
                           {"index", second.index}}})));
  SyncOk();
  std::vector<v1::Failure> parked = FetchFailures();
  ASSERT_EQ(parked.size(), 2u);
  std::string reasons;
  for (const v1::Failure& f : parked) {
    EXPECT_TRUE(absl::StartsWith(f.location_id(), "unidentified-")) << f.location_id();
    absl::StrAppend(&reasons, f.reason(), "\n");
  }
  EXPECT_TRUE(absl::StrContains(
      reasons, absl::StrCat("fetch.entry.no_resource at Bundle.entry[", first.index,
                            "].resource")))
      << reasons;
  EXPECT_TRUE(absl::StrContains(reasons, absl::StrCat("fetch.location.id_missing at Bundle.entry[",
                                                      second.index, "]")))
      << reasons;
  auto oi = stack_->OpenImisFacilities();
  auto open = stack_->Failures();
  ASSERT_TRUE(oi.ok() && open.ok());
  std::set<std::string> open_ids;
  for (const v1::Failure& f : *open) open_ids.insert(f.location_id());
  for (const Placed& p : order) {
    const bool held = oi->count(CodeOf(p.id)) > 0;
    if (p.id == first.id || p.id == second.id) {
      EXPECT_FALSE(held) << p.id;
    } else if (p.page == first.page || p.page == second.page) {
      EXPECT_TRUE(held || open_ids.count(p.id)) << p.id << " of a bad entry's page was lost";
    }
  }

  ASSERT_NO_FATAL_FAILURE(Dismiss(parked));
  EXPECT_EQ(SyncOk(/*full=*/true).counts().created(), 2);
  ExpectConsistent();
}

// NUL and other control characters in a name are refused at validation with
// the FHIR path; the facility is parked, the rest written.
TEST_F(HostileInputTest, ControlCharactersInANameAreRejectedAtValidation) {
  auto mfl = stack_->MflFacilities();
  ASSERT_TRUE(mfl.ok());
  std::vector<std::string> ids;
  for (const auto& [id, loc] : *mfl) {
    if (ids.size() < 2) ids.push_back(id);
  }
  ASSERT_EQ(ids.size(), 2u);
  const std::string names[] = {std::string("Nul\0Clinic", 10), "Bell\aClinic"};
  for (int i = 0; i < 2; ++i) {
    json loc = (*mfl)[ids[i]];
    loc["name"] = names[i];
    loc.erase("meta");
    ASSERT_NO_FATAL_FAILURE(PutLocation(loc));
  }
  v1::Run run = SyncOk();
  EXPECT_GE(run.counts().rejected(), 2);
  auto parked = ExpectConsistent();
  const char* characters[] = {"U+0000", "U+0007"};
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(parked.count(ids[i])) << ids[i] << " was not parked";
    const v1::Failure& f = parked[ids[i]];
    EXPECT_EQ(f.stage(), v1::FAILURE_STAGE_VALIDATE) << f.reason();
    EXPECT_FALSE(f.transient());
    EXPECT_TRUE(absl::StrContains(f.reason(), "Location.name")) << f.reason();
    EXPECT_TRUE(absl::StrContains(f.reason(), characters[i])) << f.reason();
  }
}

// A Location that is not a site (a building) is skipped and listed.
TEST_F(HostileInputTest, ANonFacilityLocationIsSkippedAndListed) {
  json building = {{"resourceType", "Location"},
                   {"id", "building-annex-1"},
                   {"status", "active"},
                   {"name", "Annex Building"},
                   {"physicalType", {{"coding", {{{"system", "http://terminology.hl7.org/"
                                                               "CodeSystem/location-physical-type"},
                                                  {"code", "bu"}}}}}}};
  ASSERT_NO_FATAL_FAILURE(PutLocation(building));
  v1::Run run = SyncOk();
  ExpectConsistent();
  std::string found;
  std::string token;
  do {
    grpc::ClientContext ctx;
    v1::ListSkippedRequest req;
    req.set_run_id(run.run_id());
    req.set_page_size(1000);
    req.set_page_token(token);
    v1::ListSkippedResponse resp;
    grpc::Status s = stack_->Scheduler()->ListSkipped(&ctx, req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    for (const v1::SkippedRecord& r : resp.records()) {
      if (r.location_id() == "building-annex-1") found = r.reason();
    }
    token = resp.next_page_token();
  } while (!token.empty());
  EXPECT_EQ(found, "physicalType bu: not a site (si)");
}

// --- defects of a page itself ---------------------------------------------

struct PageDefect {
  std::string name;
  json fault;
  std::string error;  // what the run's error says
};

void PrintTo(const PageDefect& d, std::ostream* os) { *os << d.name; }

class PageDefectTest : public HostileInputTest,
                       public ::testing::WithParamInterface<PageDefect> {};

// The run fails naming the byte offset; the watermark does not pass the bad
// page; once the MFL serves it well, the next run loses nothing.
TEST_P(PageDefectTest, TheRunFailsAtTheByteAndLosesNothing) {
  std::vector<Placed> order = FacilityOrder();
  ASSERT_FALSE(order.empty());
  const Placed bad = FirstOn(order, order.front().page + 1);
  ASSERT_FALSE(bad.id.empty()) << "one page of facilities only";
  json fault = GetParam().fault;
  fault["page"] = bad.page;
  fault["index"] = bad.index;
  fault["times"] = -1;
  ASSERT_NO_FATAL_FAILURE(AddFaults("mfl", json::array({fault})));

  absl::StatusOr<v1::Run> run = stack_->SyncAndWait(false);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->state(), v1::RUN_STATE_FAILED);
  EXPECT_TRUE(absl::StrContains(run->error(), GetParam().error)) << run->error();
  EXPECT_TRUE(absl::StrContains(run->error(), "byte ")) << run->error();
  EXPECT_LT(Watermark(), Instant(bad.last_updated));
  auto oi = stack_->OpenImisFacilities();
  ASSERT_TRUE(oi.ok());
  EXPECT_FALSE(oi->count(CodeOf(bad.id))) << "a facility of the bad page was written";

  ASSERT_TRUE(stack_->Http("mfl", "DELETE", "/$testbed/faults").ok());
  SyncOk();
  auto parked = ExpectConsistent();
  for (const auto& [id, f] : parked) EXPECT_NE(f.stage(), v1::FAILURE_STAGE_FETCH) << id;
  ExpectOneCreatePerFacility();
}

INSTANTIATE_TEST_SUITE_P(
    Pages, PageDefectTest,
    ::testing::Values(
        PageDefect{"invalid_utf8", {{"kind", "invalid_utf8"}}, "the body is not JSON"},
        PageDefect{"not_json", {{"kind", "not_json"}}, "the body is not JSON"},
        PageDefect{"nested_deeper_than_64",
                   {{"kind", "deep_nesting"}, {"depth", 100}},
                   "nested deeper than 64 levels"},
        PageDefect{"string_over_1_mib", {{"kind", "long_string"}}, "a JSON string longer than"}),
    [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace mflsync::e2e
