// The fetch against the MFL stand-in (testbed/mfl, a real HTTP server on
// loopback): paging, _include, auth, updates between pages, equal
// lastUpdated across page boundaries, _history deletes, every transient
// fault and every bad input the issue lists.
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "common/fhir.h"
#include "fetcher/fetcher.h"
#include "tests/fetcher/mfl_standin.h"

namespace mflsync::fetcher {
namespace {

using mflsync::testing::MflStandIn;

constexpr char kUser[] = "sync-client";
constexpr char kPassword[] = "pw-Secret-42";
constexpr char kToken[] = "tok-Custom-77";
constexpr int kFacilities = 300;
// Jurisdictions and owners sit at 2014-01-01T00:00:xx; facilities from 01:00.
constexpr char kSince[] = "2014-01-01T00:50:00Z";

::testing::AssertionResult HasMessage(const absl::Status& status, absl::string_view part) {
  if (std::string(status.message()).find(std::string(part)) != std::string::npos)
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "'" << status.message() << "' lacks '" << part << "'";
}

SourceConfig TestSource(const MflStandIn& mfl) {
  SourceConfig s;
  s.name = "test";
  s.base_url = mfl.BaseUrl();
  s.auth_type = AuthType::kBasic;
  s.username = kUser;
  s.password = kPassword;
  s.page_size = 40;
  s.read_timeout = absl::Seconds(1);
  s.retry.max_attempts = 4;
  s.retry.initial_backoff = absl::Milliseconds(10);
  s.retry.max_backoff = absl::Milliseconds(50);
  return s;
}

struct Result {
  absl::Status status;
  std::vector<v1::SourceRecord> records;
  std::vector<v1::FetchChangesResponse> pages;  // without records
  FetchStats stats;
};

Result RunFetch(const SourceConfig& source, FetchOptions options = {}) {
  if (!options.since.has_value()) options.since = *ParseFhirInstant(kSince);
  Fetcher fetcher(source);
  Result r;
  r.status = fetcher.Fetch(options, [&r](v1::FetchChangesResponse& page) {
    for (v1::SourceRecord& rec : *page.mutable_records()) r.records.push_back(std::move(rec));
    page.clear_records();
    r.pages.push_back(page);
    return true;
  });
  r.stats = fetcher.stats();
  return r;
}

std::map<std::string, int> CountById(const std::vector<v1::SourceRecord>& records) {
  std::map<std::string, int> n;
  for (const v1::SourceRecord& r : records) ++n[r.location_id()];
  return n;
}

std::vector<std::string> StandInArgs(int facilities = kFacilities,
                                     std::vector<std::string> more = {}) {
  std::vector<std::string> args = {"--synthetic", absl::StrCat(facilities),
                                   "--basic-user", kUser, "--basic-password", kPassword,
                                   "--custom-token", kToken};
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

nlohmann::json RequestLog(MflStandIn& mfl) {
  absl::StatusOr<std::string> log = mfl.Admin("GET", "requests");
  if (!log.ok()) return nlohmann::json::array();
  nlohmann::json doc = nlohmann::json::parse(*log, nullptr, false);
  if (doc.is_object() && doc.contains("requests")) return doc["requests"];
  return doc;
}

// One stand-in shared by the tests that do not change its data.
class StandInTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    mfl_ = new MflStandIn();
    start_ = mfl_->Start(StandInArgs());
  }
  static void TearDownTestSuite() {
    delete mfl_;
    mfl_ = nullptr;
  }
  void SetUp() override {
    ASSERT_TRUE(start_.ok()) << start_;
    ASSERT_TRUE(mfl_->Admin("DELETE", "faults").ok());
    ASSERT_TRUE(mfl_->Admin("DELETE", "requests").ok());
  }
  static MflStandIn* mfl_;
  static absl::Status start_;
};
MflStandIn* StandInTest::mfl_ = nullptr;
absl::Status StandInTest::start_;

TEST_F(StandInTest, SeveralPagesWithIncludesArriveExactlyOnce) {
  Result r = RunFetch(TestSource(*mfl_));
  ASSERT_TRUE(r.status.ok()) << r.status;
  std::map<std::string, int> ids = CountById(r.records);
  EXPECT_EQ(ids.size(), static_cast<size_t>(kFacilities));
  for (const auto& [id, n] : ids) EXPECT_EQ(n, 1) << id;
  EXPECT_GE(r.pages.size(), 8u);
  EXPECT_EQ(r.pages.front().page(), 1);
  EXPECT_EQ(r.pages.front().server_total(), kFacilities);
  int with_org = 0, with_endpoint = 0;
  absl::Time max_lu = absl::InfinitePast();
  for (const v1::SourceRecord& rec : r.records) {
    EXPECT_EQ(rec.source_id(), "test");
    EXPECT_TRUE(rec.unresolved_references().empty()) << rec.location_id();
    nlohmann::json loc = nlohmann::json::parse(rec.location_json());
    if (loc.contains("managingOrganization")) {
      ASSERT_FALSE(rec.organization_json().empty()) << rec.location_id();
      nlohmann::json org = nlohmann::json::parse(rec.organization_json());
      EXPECT_EQ(absl::StrCat("Organization/", org["id"].get<std::string>()),
                loc["managingOrganization"]["reference"].get<std::string>());
      ++with_org;
    }
    if (loc.contains("endpoint")) {
      EXPECT_EQ(rec.endpoint_json_size(), static_cast<int>(loc["endpoint"].size()));
      ++with_endpoint;
    }
    max_lu = std::max(max_lu, RecordTime(rec));
  }
  EXPECT_GE(with_org, kFacilities - 5);
  EXPECT_EQ(with_endpoint, kFacilities / 50);
  EXPECT_EQ(FromTimestamp(r.pages.back().high_watermark()), max_lu);
  EXPECT_EQ(r.stats.repair_requests, 0);

  // The query of the workflow, with the overlap subtracted and basic auth.
  nlohmann::json log = RequestLog(*mfl_);
  ASSERT_FALSE(log.empty());
  const std::string query = log[0]["query"].get<std::string>();
  EXPECT_NE(query.find("_lastUpdated=ge2014-01-01T00%3A49%3A00.000Z"), std::string::npos)
      << query;
  EXPECT_NE(query.find("_include=Location%3Aorganization"), std::string::npos) << query;
  EXPECT_NE(query.find("_include=Location%3Aendpoint"), std::string::npos) << query;
  EXPECT_NE(query.find("_count=40"), std::string::npos) << query;
  EXPECT_NE(query.find("_sort=_lastUpdated"), std::string::npos) << query;
  EXPECT_NE(query.find("_total=accurate"), std::string::npos) << query;
  EXPECT_EQ(log[0]["auth"], "basic");
}

// Not asked for (query.total_param empty), a large result's first page has
// no Bundle.total (as HAPI FHIR answers before it has counted): the fetch
// passes -1 until a page gives one, the last.
TEST_F(StandInTest, UnaskedTheTotalComesOnlyOnceTheServerHasCounted) {
  SourceConfig source = TestSource(*mfl_);
  source.total_param = "";
  Result r = RunFetch(source);
  ASSERT_TRUE(r.status.ok()) << r.status;
  ASSERT_GE(r.pages.size(), 2u);
  EXPECT_EQ(r.pages.front().server_total(), -1);
  EXPECT_EQ(r.pages.back().server_total(), kFacilities);
  nlohmann::json log = RequestLog(*mfl_);
  ASSERT_FALSE(log.empty());
  EXPECT_EQ(log[0]["query"].get<std::string>().find("_total"), std::string::npos);
}

TEST_F(StandInTest, CustomTokenAuthAndMissingCredentials) {
  SourceConfig custom = TestSource(*mfl_);
  custom.auth_type = AuthType::kCustom;
  custom.token = kToken;
  Result ok = RunFetch(custom);
  ASSERT_TRUE(ok.status.ok()) << ok.status;
  EXPECT_EQ(ok.records.size(), static_cast<size_t>(kFacilities));
  EXPECT_EQ(RequestLog(*mfl_)[0]["auth"], "custom");

  SourceConfig wrong = custom;
  wrong.token = "not-the-token";
  Result denied = RunFetch(wrong);
  EXPECT_EQ(denied.status.code(), absl::StatusCode::kUnauthenticated) << denied.status;
  EXPECT_TRUE(HasMessage(denied.status, "page 1"));
  EXPECT_TRUE(HasMessage(denied.status, "HTTP 401"));
  EXPECT_EQ(std::string(denied.status.message()).find("not-the-token"), std::string::npos);
  EXPECT_TRUE(denied.records.empty());
}

TEST_F(StandInTest, TransientFaultsAreRetried) {
  ASSERT_TRUE(mfl_->Faults(R"([
      {"kind":"status","status":503,"times":2,"retry_after":1,"page":1},
      {"kind":"status","status":429,"page":2},
      {"kind":"status","status":502,"page":3},
      {"kind":"status","status":504,"page":4},
      {"kind":"reset","page":5},
      {"kind":"delay","seconds":3,"page":6}])").ok());
  Result r = RunFetch(TestSource(*mfl_));
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(CountById(r.records).size(), static_cast<size_t>(kFacilities));
  EXPECT_EQ(r.records.size(), static_cast<size_t>(kFacilities));
  // Every fault was met and the same page asked again until it came through.
  // (A reset on a reused keep-alive connection is retried inside libcurl, so
  // the client's own count may miss that one.)
  EXPECT_GE(r.stats.requests, static_cast<int64_t>(r.pages.size()) + 5);
  nlohmann::json log = RequestLog(*mfl_);
  std::vector<std::pair<int, int>> seen;  // (page, status or 0 for a reset)
  for (const nlohmann::json& e : log)
    seen.emplace_back(e["page"].get<int>(), e["status"].is_null() ? 0 : e["status"].get<int>());
  const std::vector<std::pair<int, int>> expected = {
      {1, 503}, {1, 503}, {1, 200}, {2, 429}, {2, 200}, {3, 502}, {3, 200},
      {4, 504}, {4, 200}, {5, 0},   {5, 200}, {6, 200}};
  ASSERT_GE(seen.size(), expected.size());
  EXPECT_TRUE(std::equal(expected.begin(), expected.end(), seen.begin()));
  // Retry-After: 1 was honoured (each retry came at least a second later).
  auto at = [&log](int i) { return *ParseFhirInstant(log[i]["time"].get<std::string>()); };
  EXPECT_GE(at(1) - at(0), absl::Milliseconds(990));
  EXPECT_GE(at(2) - at(1), absl::Milliseconds(990));
}

TEST_F(StandInTest, RetriesAreBounded) {
  ASSERT_TRUE(mfl_->Faults(R"([{"kind":"status","status":503,"times":-1,"page":2}])").ok());
  Result r = RunFetch(TestSource(*mfl_));
  EXPECT_EQ(r.status.code(), absl::StatusCode::kUnavailable) << r.status;
  EXPECT_TRUE(HasMessage(r.status, "page 2"));
  EXPECT_TRUE(HasMessage(r.status, "gave up after 4 attempts"));
  EXPECT_EQ(r.records.size(), 40u);  // page 1 went through
}

TEST_F(StandInTest, RetryAfterBeyondTheLimitFails) {
  ASSERT_TRUE(
      mfl_->Faults(R"([{"kind":"status","status":429,"retry_after":3600,"page":1}])").ok());
  SourceConfig s = TestSource(*mfl_);
  s.retry.max_retry_after = absl::Seconds(5);
  Result r = RunFetch(s);
  EXPECT_EQ(r.status.code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(HasMessage(r.status, "retry after 1h"));
}

TEST_F(StandInTest, ClientErrorStopsWithTheOperationOutcomeText) {
  ASSERT_TRUE(mfl_->Faults(R"([{"kind":"status","status":400,"page":2,
      "diagnostics":"Unknown search parameter 'foo' for resource type 'Location'"}])").ok());
  Result r = RunFetch(TestSource(*mfl_));
  EXPECT_EQ(r.status.code(), absl::StatusCode::kInvalidArgument) << r.status;
  EXPECT_TRUE(HasMessage(r.status, "page 2"));
  EXPECT_TRUE(HasMessage(r.status, "HTTP 400"));
  EXPECT_TRUE(HasMessage(r.status, "Unknown search parameter 'foo'"));
  EXPECT_EQ(r.stats.requests, 2);  // not retried

  ASSERT_TRUE(mfl_->Faults(R"([{"kind":"status","status":404,"page":1}])").ok());
  EXPECT_EQ(RunFetch(TestSource(*mfl_)).status.code(), absl::StatusCode::kNotFound);
}

struct BadInput {
  const char* fault;
  absl::StatusCode code;
  const char* message;
};

TEST_F(StandInTest, BadInputGetsASpecificError) {
  const BadInput cases[] = {
      {R"({"kind":"not_json","page":2})", absl::StatusCode::kInvalidArgument,
       "page 2 (http://127.0.0.1"},
      {R"({"kind":"not_bundle","page":1})", absl::StatusCode::kInvalidArgument,
       "expected a FHIR Bundle, got resourceType 'OperationOutcome'"},
      {R"({"kind":"not_bundle","as":"Patient","page":1})", absl::StatusCode::kInvalidArgument,
       "resourceType 'Patient'"},
      {R"({"kind":"oversized","bytes":300000,"page":2})",
       absl::StatusCode::kResourceExhausted, "exceeds the limit of 200000 bytes"},
      {R"({"kind":"foreign_next","page":1})", absl::StatusCode::kPermissionDenied,
       "next link points to http://evil.example:80"},
  };
  for (const BadInput& c : cases) {
    SCOPED_TRACE(c.fault);
    ASSERT_TRUE(mfl_->Faults(absl::StrCat("[", c.fault, "]")).ok());
    SourceConfig s = TestSource(*mfl_);
    s.max_body_bytes = 200000;
    Result r = RunFetch(s);
    EXPECT_EQ(r.status.code(), c.code) << r.status;
    EXPECT_TRUE(HasMessage(r.status, c.message));
    EXPECT_TRUE(HasMessage(r.status, "source 'test'"));
  }
  // The foreign host was never contacted: every request stayed on loopback.
  ASSERT_TRUE(mfl_->Admin("DELETE", "faults").ok());
}

// One bad entry is one defect record; the rest of its page, and the pages
// after it, are fetched as usual.
TEST_F(StandInTest, DefectiveEntriesBecomeRecordsAndThePageGoesOn) {
  ASSERT_TRUE(mfl_->Faults(R"([{"kind":"entry_without_resource","index":3,"page":2},
                               {"kind":"location_without_id","index":0,"page":3},
                               {"kind":"bad_last_updated","index":1,"page":4}])").ok());
  Result r = RunFetch(TestSource(*mfl_));
  ASSERT_TRUE(r.status.ok()) << r.status;
  ASSERT_EQ(r.records.size(), static_cast<size_t>(kFacilities));
  std::map<std::string, std::string> rules;  // rule → path
  size_t good = 0;
  for (const v1::SourceRecord& rec : r.records) {
    if (rec.fetch_rejections_size() == 0) {
      ++good;
      continue;
    }
    rules[rec.fetch_rejections(0).rule()] = rec.fetch_rejections(0).fhir_path();
    EXPECT_TRUE(HasMessage(absl::InvalidArgumentError(rec.fetch_rejections(0).message()),
                           "source 'test', page "));
  }
  EXPECT_EQ(good, static_cast<size_t>(kFacilities) - 3);
  EXPECT_EQ(rules["fetch.entry.no_resource"], "Bundle.entry[3].resource");
  EXPECT_EQ(rules["fetch.location.id_missing"], "Bundle.entry[0].resource.id");
  EXPECT_EQ(rules["fetch.location.last_updated"], "Bundle.entry[1].resource.meta.lastUpdated");
}

TEST_F(StandInTest, NextLinkEncodedAsAWholeIsFollowed) {
  ASSERT_TRUE(mfl_->Faults(R"([{"kind":"encoded_next","times":-1}])").ok());
  Result r = RunFetch(TestSource(*mfl_));
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(CountById(r.records).size(), static_cast<size_t>(kFacilities));
  EXPECT_EQ(r.records.size(), static_cast<size_t>(kFacilities));
}

TEST_F(StandInTest, ReferenceNotIncludedIsFlaggedNotDropped) {
  ASSERT_TRUE(mfl_->Faults(R"([{"kind":"missing_include","page":2}])").ok());
  Result r = RunFetch(TestSource(*mfl_));
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.records.size(), static_cast<size_t>(kFacilities));
  int flagged = 0;
  for (const v1::SourceRecord& rec : r.records) {
    if (rec.unresolved_references().empty()) continue;
    ++flagged;
    EXPECT_TRUE(rec.organization_json().empty());
    EXPECT_EQ(rec.unresolved_references(0).rfind("Organization/owner-", 0), 0u)
        << rec.unresolved_references(0);
  }
  EXPECT_GE(flagged, 35);  // page 2 (40 facilities, a few without owner)
  EXPECT_LE(flagged, 40);
}

TEST_F(StandInTest, OverlapAndAlreadySeenDropRepeatsAcrossRuns) {
  SourceConfig s = TestSource(*mfl_);
  s.overlap = absl::Hours(24 * 30);  // a wide window so that run 2 re-reads a month
  FetchOptions first;
  first.since = *ParseFhirInstant("2014-04-20T00:00:00Z");
  Result r1 = RunFetch(s, first);
  ASSERT_TRUE(r1.status.ok()) << r1.status;
  ASSERT_GT(r1.records.size(), 20u);
  const absl::Time high = FromTimestamp(r1.pages.back().high_watermark());
  FetchOptions second;
  second.since = high;
  for (const v1::SourceRecord& rec : r1.records) {
    v1::RecordKey key;
    key.set_location_id(rec.location_id());
    key.set_version_id(rec.version_id());
    *key.mutable_last_updated() = rec.last_updated();
    second.already_seen.push_back(key);
  }
  Result r2 = RunFetch(s, second);
  ASSERT_TRUE(r2.status.ok()) << r2.status;
  EXPECT_TRUE(r2.records.empty());
  ASSERT_FALSE(r2.pages.empty());
  EXPECT_GT(r2.pages.back().duplicates_dropped(), 10);
}

// The real topology: the fetcher calls an openHIM channel (the openHIM
// stand-in's router, with client auth and gzip), which forwards to the MFL.
TEST_F(StandInTest, ThroughAnOpenHimChannel) {
  MflStandIn ohim;
  char tmpl[] = "/tmp/mflsync-ohim-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  nlohmann::json channels = nlohmann::json::array(
      {{{"name", "MFL"},
        {"urlPattern", "^/mfl/fhir/.*$"},
        {"methods", {"GET"}},  // openHIM 8.5.0 routes no method not listed
        {"allow", {"mflsync"}},
        {"authType", "private"},
        {"routes",
         {{{"name", "mfl"},
           {"host", "127.0.0.1"},
           {"port", mfl_->port()},
           {"pathTransform", "s/\\/mfl\\/fhir/\\/fhir/"},
           {"username", kUser},
           {"password", kPassword},
           {"primary", true}}}}}});
  nlohmann::json clients = nlohmann::json::array({{{"clientID", "mflsync-fetcher"},
                                                   {"name", "fetcher"},
                                                   {"roles", {"mflsync"}},
                                                   {"password", "ohim-Pw-1"},
                                                   {"customTokenID", "ohim-Token-1"}}});
  std::ofstream(dir + "/channels.json") << channels.dump();
  std::ofstream(dir + "/clients.json") << clients.dump();
  absl::Status started = ohim.StartCommand(
      {"python3", mflsync::testing::SourceDir() + "/testbed/openhim/openhim_standin.py",
       "--router-port", "0", "--api-port", "0", "--ready-file", "{ready}", "--channels",
       dir + "/channels.json", "--clients", dir + "/clients.json"});
  std::system(absl::StrCat("rm -rf '", dir, "'").c_str());
  ASSERT_TRUE(started.ok()) << started;

  SourceConfig s = TestSource(*mfl_);
  s.base_url = absl::StrCat(ohim.Origin(), "/mfl/fhir");
  s.username = "mflsync-fetcher";
  s.password = "ohim-Pw-1";
  // The MFL writes its own address into next links; openHIM passes them on.
  Result refused = RunFetch(s);
  EXPECT_EQ(refused.status.code(), absl::StatusCode::kPermissionDenied) << refused.status;
  EXPECT_TRUE(HasMessage(refused.status, "page 1"));

  s.upstream_base_url = mfl_->BaseUrl();
  Result r = RunFetch(s);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.records.size(), static_cast<size_t>(kFacilities));
  EXPECT_EQ(CountById(r.records).size(), static_cast<size_t>(kFacilities));
  for (const nlohmann::json& e : RequestLog(*mfl_)) EXPECT_EQ(e["auth"], "basic");

  s.auth_type = AuthType::kCustom;
  s.token = "ohim-Token-1";
  Result custom = RunFetch(s);
  ASSERT_TRUE(custom.status.ok()) << custom.status;
  EXPECT_EQ(custom.records.size(), static_cast<size_t>(kFacilities));

  s.token = "wrong-token";
  EXPECT_EQ(RunFetch(s).status.code(), absl::StatusCode::kUnauthenticated);
}

// TLS: verification is on by default and uses the configured CA file. The
// openHIM stand-in's management API serves HTTPS with a throw-away
// certificate; it answers 401 to the fetcher, which is enough to show that
// the handshake passed or failed.
TEST(TlsTest, VerificationIsOnByDefaultAndUsesTheCaFile) {
  char tmpl[] = "/tmp/mflsync-tls-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  const std::string make_cert = absl::StrCat(
      "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 "
      "-addext subjectAltName=IP:127.0.0.1 -keyout '", dir, "/key.pem' -out '", dir,
      "/cert.pem' > '", dir, "/openssl.log' 2>&1");
  if (std::system(make_cert.c_str()) != 0) GTEST_SKIP() << "needs the openssl command";
  MflStandIn api;
  ASSERT_TRUE(api.StartCommand({"python3",
                                mflsync::testing::SourceDir() +
                                    "/testbed/openhim/openhim_standin.py",
                                "--router-port", "0", "--api-port", "0", "--ready-file",
                                "{ready}", "--api-tls-cert", dir + "/cert.pem",
                                "--api-tls-key", dir + "/key.pem"},
                               absl::Seconds(60), "api")
                  .ok());
  SourceConfig s;
  s.name = "tls";
  s.base_url = absl::StrCat("https://127.0.0.1:", api.port(), "/fhir");
  s.retry.max_attempts = 1;
  ASSERT_TRUE(SourceConfig().tls.verify);  // the default
  Result untrusted = RunFetch(s);
  EXPECT_EQ(untrusted.status.code(), absl::StatusCode::kFailedPrecondition)
      << untrusted.status;
  EXPECT_TRUE(HasMessage(untrusted.status, "TLS"));

  s.tls.ca_file = dir + "/cert.pem";
  Result trusted = RunFetch(s);
  EXPECT_EQ(trusted.status.code(), absl::StatusCode::kUnauthenticated) << trusted.status;
  EXPECT_TRUE(HasMessage(trusted.status, "HTTP 401"));
  std::system(absl::StrCat("rm -rf '", dir, "'").c_str());
}

// Tests that change the data get their own stand-in.
TEST(StandInMutationTest, FacilityUpdatedBetweenTwoPageRequestsIsNotMissed) {
  MflStandIn mfl;
  ASSERT_TRUE(mfl.Start(StandInArgs()).ok());
  ASSERT_TRUE(mfl.Faults(R"([{"kind":"update_between_pages","page":1,"count":2},
                             {"kind":"update_between_pages","page":4,"count":1}])").ok());
  Result r = RunFetch(TestSource(mfl));
  ASSERT_TRUE(r.status.ok()) << r.status;
  std::map<std::string, int> ids = CountById(r.records);
  EXPECT_EQ(ids.size(), static_cast<size_t>(kFacilities));  // nobody skipped
  int twice = 0;
  for (const auto& [id, n] : ids) {
    EXPECT_LE(n, 2) << id;
    if (n == 2) ++twice;
  }
  EXPECT_EQ(twice, 3);  // the three moved facilities: old and new version
  std::set<std::pair<std::string, std::string>> versions;
  for (const v1::SourceRecord& rec : r.records)
    EXPECT_TRUE(versions.emplace(rec.location_id(), rec.version_id()).second)
        << "repeat of " << rec.location_id() << " v" << rec.version_id();
  EXPECT_GT(r.stats.repair_requests, 0);
  EXPECT_GE(r.stats.repaired_records, 3);
}

TEST(StandInMutationTest, WithoutRepairOffsetPagingSkipsFacilities) {
  // Shows the fault the repair exists for: the stand-in is not
  // snapshot-stable, so plain next-link paging loses the shifted records.
  MflStandIn mfl;
  ASSERT_TRUE(mfl.Start(StandInArgs()).ok());
  ASSERT_TRUE(mfl.Faults(R"([{"kind":"update_between_pages","page":1,"count":2}])").ok());
  SourceConfig s = TestSource(mfl);
  s.repair_shifted_pages = false;
  Result r = RunFetch(s);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(CountById(r.records).size(), static_cast<size_t>(kFacilities - 2));
}

TEST(StandInMutationTest, ManyFacilitiesSharingOneLastUpdatedAcrossPageBoundaries) {
  MflStandIn mfl;
  ASSERT_TRUE(mfl.Start(StandInArgs(kFacilities, {"--same-instant-every", "70"})).ok());
  SourceConfig s = TestSource(mfl);
  s.page_size = 25;  // each run of 70 equal instants spans three or four pages
  Result r = RunFetch(s);
  ASSERT_TRUE(r.status.ok()) << r.status;
  std::map<std::string, int> ids = CountById(r.records);
  EXPECT_EQ(ids.size(), static_cast<size_t>(kFacilities));
  for (const auto& [id, n] : ids) EXPECT_EQ(n, 1) << id;
  std::set<absl::Time> instants;
  for (const v1::SourceRecord& rec : r.records) instants.insert(RecordTime(rec));
  EXPECT_LE(instants.size(), 5u);

  // The same with a facility updated mid-fetch: the boundary re-reads cover
  // runs of equal instants without repeating anyone.
  ASSERT_TRUE(mfl.Faults(R"([{"kind":"update_between_pages","page":2,"count":1}])").ok());
  Result moved = RunFetch(s);
  ASSERT_TRUE(moved.status.ok()) << moved.status;
  ids = CountById(moved.records);
  EXPECT_EQ(ids.size(), static_cast<size_t>(kFacilities));
  int twice = 0;
  for (const auto& [id, n] : ids) twice += n == 2;
  EXPECT_EQ(twice, 1);

  EXPECT_EQ(moved.records.size(), static_cast<size_t>(kFacilities + 1));
}

TEST(StandInMutationTest, HistoryModeTurnsDeletesIntoDeactivations) {
  MflStandIn mfl;
  ASSERT_TRUE(mfl.Start(StandInArgs(60)).ok());
  SourceConfig s = TestSource(mfl);
  s.mode = FetchModeKind::kHistory;
  s.page_size = 25;
  // Delete one facility and rename another.
  Result before = RunFetch(s);
  ASSERT_TRUE(before.status.ok()) << before.status;
  ASSERT_EQ(before.records.size(), 60u);
  const std::string gone = before.records[10].location_id();
  ASSERT_TRUE(mfl.Call("DELETE", absl::StrCat(mfl.BaseUrl(), "/Location/", gone), "",
                       {{"Authorization", BasicAuthHeader(kUser, kPassword)}})
                  .ok());
  Result r = RunFetch(s);
  ASSERT_TRUE(r.status.ok()) << r.status;
  ASSERT_EQ(r.records.size(), 61u);
  const v1::SourceRecord& last = r.records.back();
  EXPECT_EQ(last.location_id(), gone);
  EXPECT_TRUE(last.deleted());
  EXPECT_TRUE(last.location_json().empty());
  EXPECT_EQ(last.version_id(), "2");
  // History cannot _include: the Organizations were read by _id.
  int with_org = 0;
  for (const v1::SourceRecord& rec : r.records) {
    if (rec.deleted()) continue;
    EXPECT_TRUE(rec.unresolved_references().empty()) << rec.location_id();
    with_org += !rec.organization_json().empty();
  }
  EXPECT_GE(with_org, 55);
  nlohmann::json log = RequestLog(mfl);
  bool history_query = false;
  for (const nlohmann::json& e : log)
    if (e["path"].get<std::string>().find("/Location/_history") != std::string::npos)
      history_query = true;
  EXPECT_TRUE(history_query);
}

// A retry's fetch of given Locations: each as the MFL serves it now (a
// search by _id with its includes), whatever the watermark and the versions
// seen; a Location the MFL deleted is absent, as from a FHIR server's search.
TEST(StandInMutationTest, GivenLocationsAreFetchedByIdAndADeletedOneIsAbsent) {
  MflStandIn mfl;
  ASSERT_TRUE(mfl.Start(StandInArgs(60)).ok());
  SourceConfig s = TestSource(mfl);
  s.page_size = 2;
  Result all = RunFetch(s);
  ASSERT_TRUE(all.status.ok()) << all.status;
  ASSERT_GE(all.records.size(), 20u);
  const std::string a = all.records[3].location_id();
  const std::string b = all.records[7].location_id();
  const std::string gone = all.records[12].location_id();
  ASSERT_TRUE(mfl.Call("DELETE", absl::StrCat(mfl.BaseUrl(), "/Location/", gone), "",
                       {{"Authorization", BasicAuthHeader(kUser, kPassword)}})
                  .ok());
  ASSERT_TRUE(mfl.Admin("DELETE", "requests").ok());
  FetchOptions options;
  options.location_ids = {a, b, gone};
  options.since = absl::Now();  // ignored: the current versions, whatever the watermark
  v1::RecordKey seen;
  seen.set_location_id(a);
  seen.set_version_id(all.records[3].version_id());
  *seen.mutable_last_updated() = all.records[3].last_updated();
  options.already_seen = {seen};  // ignored too
  Result r = RunFetch(s, options);
  ASSERT_TRUE(r.status.ok()) << r.status;
  std::map<std::string, int> ids = CountById(r.records);
  EXPECT_EQ(ids, (std::map<std::string, int>{{a, 1}, {b, 1}}));
  for (const v1::SourceRecord& rec : r.records) EXPECT_FALSE(rec.organization_json().empty());
  nlohmann::json log = RequestLog(mfl);
  ASSERT_FALSE(log.empty());
  const std::string query = log[0]["query"].get<std::string>();
  EXPECT_NE(query.find(absl::StrCat("_id=", a, "%2C", b, "%2C", gone)), std::string::npos)
      << query;
  EXPECT_EQ(query.find("_lastUpdated="), std::string::npos) << query;  // no since
  EXPECT_NE(query.find("_include=Location%3Aorganization"), std::string::npos) << query;
}

}  // namespace
}  // namespace mflsync::fetcher
