// Unit tests of the fetcher's plain classes: Bundle parsing and joining, the
// next-link policy, de-duplication, Retry-After, configuration.
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

#include "common/config.h"
#include "common/fhir.h"
#include "common/url.h"
#include "fetcher/bundle_page.h"
#include "fetcher/deduper.h"
#include "fetcher/mfl_client.h"
#include "fetcher/next_link.h"
#include "fetcher/source_config.h"

namespace mflsync::fetcher {
namespace {

PageContext Ctx(bool history = false) {
  return PageContext{.source_id = "kenya", .page = 3, .url = "http://h/fhir/Location",
                     .resource_type = "Location", .history = history};
}

absl::Time T(const char* s) { return *ParseFhirInstant(s); }

constexpr char kSearchPage[] = R"({
  "resourceType": "Bundle", "type": "searchset", "total": 7,
  "link": [{"relation": "self", "url": "http://h/fhir/Location?x"},
           {"relation": "next", "url": "http://h/fhir/Location?x&_getpagesoffset=2"}],
  "entry": [
    {"fullUrl": "http://h/fhir/Location/fac-1", "search": {"mode": "match"},
     "resource": {"resourceType": "Location", "id": "fac-1",
                  "meta": {"versionId": "2", "lastUpdated": "2014-02-01T10:00:00.000Z"},
                  "physicalType": {"coding": [{"code": "jdn"}]},
                  "managingOrganization": {"reference": "Organization/owner-a"},
                  "endpoint": [{"reference": "Endpoint/ep-1"}]}},
    {"search": {"mode": "include"},
     "resource": {"resourceType": "Organization", "id": "owner-a", "name": "A"}},
    {"search": {"mode": "include"},
     "resource": {"resourceType": "Endpoint", "id": "ep-1"}},
    {"fullUrl": "http://h/fhir/Location/fac-2", "search": {"mode": "match"},
     "resource": {"resourceType": "Location", "id": "fac-2",
                  "meta": {"lastUpdated": "2014-02-01T10:00:01.000+03:00"},
                  "managingOrganization": {"reference": "http://h/fhir/Organization/owner-b"}}},
    {"search": {"mode": "outcome"},
     "resource": {"resourceType": "OperationOutcome", "issue": []}}
  ]})";

TEST(BundlePageTest, JoinsIncludesAndFlagsMissingReferences) {
  absl::StatusOr<BundlePage> page = ParseBundlePage(kSearchPage, Ctx());
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(page->total, 7);
  ASSERT_TRUE(page->next_link.has_value());
  EXPECT_EQ(*page->next_link, "http://h/fhir/Location?x&_getpagesoffset=2");
  ASSERT_EQ(page->records.size(), 2u);
  const v1::SourceRecord& a = page->records[0];
  EXPECT_EQ(a.source_id(), "kenya");
  EXPECT_EQ(a.location_id(), "fac-1");
  EXPECT_EQ(a.version_id(), "2");
  EXPECT_EQ(RecordTime(a), T("2014-02-01T10:00:00.000Z"));
  EXPECT_NE(a.organization_json().find("\"owner-a\""), std::string::npos);
  ASSERT_EQ(a.endpoint_json_size(), 1);
  EXPECT_NE(a.endpoint_json(0).find("\"ep-1\""), std::string::npos);
  EXPECT_TRUE(a.unresolved_references().empty());
  EXPECT_NE(a.location_json().find("\"fac-1\""), std::string::npos);
  // physicalType read once here, for the scheduler's site check.
  ASSERT_EQ(a.physical_type().codes_size(), 1);
  EXPECT_EQ(a.physical_type().codes(0), "jdn");
  const v1::SourceRecord& b = page->records[1];
  EXPECT_TRUE(b.has_physical_type());
  EXPECT_TRUE(b.physical_type().codes().empty());
  EXPECT_EQ(b.version_id(), "");
  EXPECT_EQ(RecordTime(b), T("2014-02-01T07:00:01.000Z"));
  EXPECT_TRUE(b.organization_json().empty());
  ASSERT_EQ(b.unresolved_references_size(), 1);
  EXPECT_EQ(b.unresolved_references(0), "http://h/fhir/Organization/owner-b");
}

TEST(BundlePageTest, ReferencesNotAskedForAreNotFlagged) {
  PageContext ctx = Ctx();
  ctx.expect_organization = false;
  absl::StatusOr<BundlePage> page = ParseBundlePage(kSearchPage, ctx);
  ASSERT_TRUE(page.ok());
  EXPECT_TRUE(page->records[1].unresolved_references().empty());
}

// Checks that a status message contains `part`.
::testing::AssertionResult HasMessage(const absl::Status& status, absl::string_view part) {
  if (std::string(status.message()).find(std::string(part)) != std::string::npos)
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "'" << status.message() << "' lacks '" << part << "'";
}

TEST(BundlePageTest, BodyThatIsNotJson) {
  absl::StatusOr<BundlePage> page = ParseBundlePage("<html>busy</html>", Ctx());
  ASSERT_EQ(page.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(HasMessage(page.status(), "page 3"));
  EXPECT_TRUE(HasMessage(page.status(), "not JSON"));
  EXPECT_TRUE(HasMessage(page.status(), "<html>"));
}

TEST(BundlePageTest, JsonThatIsNotABundle) {
  absl::StatusOr<BundlePage> page = ParseBundlePage(
      R"({"resourceType":"OperationOutcome","issue":[{"diagnostics":"db down"}]})", Ctx());
  ASSERT_EQ(page.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(HasMessage(page.status(), "expected a FHIR Bundle"));
  EXPECT_TRUE(HasMessage(page.status(), "OperationOutcome"));
  EXPECT_TRUE(HasMessage(page.status(), "db down"));
  EXPECT_TRUE(HasMessage(ParseBundlePage("[1,2]", Ctx()).status(), "without resourceType"));
  EXPECT_TRUE(HasMessage(ParseBundlePage(R"({"resourceType":"Bundle","entry":{}})", Ctx()).status(), "Bundle.entry is not an array"));
}

// The one rejection a defect record carries.
const v1::Rejection& OnlyRejection(const v1::SourceRecord& r) {
  EXPECT_EQ(r.fetch_rejections_size(), 1) << r.DebugString();
  return r.fetch_rejections(0);
}

TEST(BundlePageTest, EntryWithoutResourceIsADefectRecordInItsPlace) {
  absl::StatusOr<BundlePage> page = ParseBundlePage(
      R"({"resourceType":"Bundle","entry":[
          {"resource":{"resourceType":"Location","id":"fac-1",
                       "meta":{"lastUpdated":"2014-01-01T00:00:00Z"}}},
          {"fullUrl":"http://h/fhir/Location/x"},
          {"resource":{"resourceType":"Location","id":"fac-2",
                       "meta":{"lastUpdated":"2014-01-02T00:00:00Z"}}}]})",
      Ctx());
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->records.size(), 3u);
  EXPECT_EQ(page->records[0].location_id(), "fac-1");
  EXPECT_EQ(page->records[0].fetch_rejections_size(), 0);
  EXPECT_EQ(page->records[2].location_id(), "fac-2");
  const v1::SourceRecord& defect = page->records[1];
  const v1::Rejection& r = OnlyRejection(defect);
  EXPECT_EQ(r.fhir_path(), "Bundle.entry[1].resource");
  EXPECT_EQ(r.rule(), "fetch.entry.no_resource");
  EXPECT_EQ(r.value(), "http://h/fhir/Location/x");
  EXPECT_TRUE(absl::StrContains(r.message(), "source 'kenya', page 3")) << r.message();
  // Named from its content, the same on every run; the raw entry is kept.
  EXPECT_TRUE(absl::StartsWith(defect.location_id(), "unidentified-")) << defect.location_id();
  EXPECT_EQ(defect.location_id().size(), std::string("unidentified-").size() + 16);
  EXPECT_EQ(defect.location_json(), R"({"fullUrl":"http://h/fhir/Location/x"})");
  EXPECT_EQ(defect.source_id(), "kenya");
  absl::StatusOr<BundlePage> again = ParseBundlePage(
      R"({"resourceType":"Bundle","entry":[{"fullUrl":"http://h/fhir/Location/x"}]})", Ctx());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->records[0].location_id(), defect.location_id());
}

TEST(BundlePageTest, LocationWithoutIdOrLastUpdatedIsADefectRecord) {
  absl::StatusOr<BundlePage> page = ParseBundlePage(
      R"({"resourceType":"Bundle","entry":[
          {"resource":{"resourceType":"Location","meta":{"lastUpdated":"2014-01-01T00:00:00Z"}}},
          {"resource":{"resourceType":"Location","id":"fac-9","meta":{"lastUpdated":"yesterday"}}},
          7]})",
      Ctx());
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->records.size(), 3u);
  EXPECT_EQ(OnlyRejection(page->records[0]).rule(), "fetch.location.id_missing");
  EXPECT_EQ(OnlyRejection(page->records[0]).fhir_path(), "Bundle.entry[0].resource.id");
  // The id is kept when there is one, so the entry is found by it.
  EXPECT_EQ(page->records[1].location_id(), "fac-9");
  EXPECT_FALSE(page->records[1].has_last_updated());
  const v1::Rejection& time = OnlyRejection(page->records[1]);
  EXPECT_EQ(time.rule(), "fetch.location.last_updated");
  EXPECT_EQ(time.fhir_path(), "Bundle.entry[1].resource.meta.lastUpdated");
  EXPECT_EQ(time.value(), "yesterday");
  EXPECT_TRUE(absl::StrContains(time.message(), "Location/fac-9 has no usable meta.lastUpdated"))
      << time.message();
  EXPECT_EQ(OnlyRejection(page->records[2]).rule(), "fetch.entry.not_object");
  EXPECT_EQ(OnlyRejection(page->records[2]).fhir_path(), "Bundle.entry[2]");
  EXPECT_EQ(page->records[2].location_json(), "7");
}

TEST(BundlePageTest, OperationOutcomeIssuesBecomeWarnings) {
  absl::StatusOr<BundlePage> page = ParseBundlePage(
      absl::StrCat(R"({"resourceType":"Bundle","entry":[
          {"resource":{"resourceType":"Location","id":"fac-1",
                       "meta":{"lastUpdated":"2014-01-01T00:00:00Z"}}},
          {"resource":{"resourceType":"OperationOutcome","issue":[
             {"severity":"warning","code":"processing","diagnostics":"_sort\nignored"},
             {"severity":"information","code":"informational","details":{"text":"té"}},
             {"severity":"warning","code":"too-costly","diagnostics":")",
                   std::string(600, 'x'), R"("}]},
           "search":{"mode":"outcome"}}]})"),
      Ctx());
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->records.size(), 1u);
  ASSERT_EQ(page->warnings.size(), 3u);
  EXPECT_EQ(page->warnings[0], "warning (processing): _sort ignored");
  EXPECT_EQ(page->warnings[1], "information (informational): t\xc3\xa9");
  EXPECT_EQ(page->warnings[2].size(), 503u);
  EXPECT_TRUE(absl::EndsWith(page->warnings[2], "..."));
}

TEST(BundlePageTest, DefectEntryIsKeptBoundedAndAscii) {
  const std::string big(100 * 1024, 'x');
  absl::StatusOr<BundlePage> page = ParseBundlePage(
      absl::StrCat(R"({"resourceType":"Bundle","entry":[{"fullUrl":"Kisumu \u00e9)", big,
                   R"("}]})"),
      Ctx());
  ASSERT_TRUE(page.ok()) << page.status();
  const std::string& raw = page->records[0].location_json();
  EXPECT_LE(raw.size(), 64 * 1024 + 16);
  EXPECT_TRUE(absl::EndsWith(raw, "...(cut)"));
  EXPECT_TRUE(absl::StrContains(raw, R"(Kisumu \u00e9)")) << raw.substr(0, 40);
  EXPECT_EQ(OnlyRejection(page->records[0]).value().size(), 200u);
}

TEST(BundlePageTest, JsonAndUtf8ErrorsFailThePageWithTheByteOffset) {
  absl::StatusOr<BundlePage> page = ParseBundlePage(R"({"resourceType":"Bundle",,})", Ctx());
  ASSERT_EQ(page.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(HasMessage(page.status(), "error at byte 25")) << page.status();
  const std::string bad_utf8 =
      "{\"resourceType\":\"Bundle\",\"entry\":[{\"fullUrl\":\"a\xff\"}]}";
  page = ParseBundlePage(bad_utf8, Ctx());
  ASSERT_EQ(page.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(HasMessage(page.status(), "error at byte 47")) << page.status();
  EXPECT_TRUE(HasMessage(page.status(), "UTF-8")) << page.status();
  // The message itself stays valid UTF-8: the bad byte is escaped.
  EXPECT_FALSE(absl::StrContains(page.status().message(), "\xff"));
  EXPECT_TRUE(absl::StrContains(page.status().message(), "\\xff")) << page.status();
  // Nesting a parser would turn into far more memory than the body is
  // refused before parsing, with the offset.
  page = ParseBundlePage(absl::StrCat(R"({"resourceType":"Bundle","entry":[{"x":)",
                                      std::string(100000, '['), std::string(100000, ']'),
                                      "}]}"),
                         Ctx());
  ASSERT_EQ(page.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(HasMessage(page.status(), "JSON nested deeper than 64 levels at byte 100"))
      << page.status();
}

TEST(BundlePageTest, HistoryDeletesBecomeDeletedRecords) {
  absl::StatusOr<BundlePage> page = ParseBundlePage(
      R"({"resourceType":"Bundle","type":"history","entry":[
          {"resource":{"resourceType":"Location","id":"fac-1",
             "meta":{"versionId":"1","lastUpdated":"2014-01-01T00:00:00Z"}},
           "request":{"method":"POST","url":"Location/fac-1"}},
          {"request":{"method":"DELETE","url":"Location/fac-1"},
           "response":{"status":"204","etag":"W/\"2\"",
                       "lastModified":"2024-05-01T10:00:00.123Z"}}]})",
      Ctx(/*history=*/true));
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->records.size(), 2u);
  EXPECT_FALSE(page->records[0].deleted());
  const v1::SourceRecord& del = page->records[1];
  EXPECT_TRUE(del.deleted());
  EXPECT_EQ(del.location_id(), "fac-1");
  EXPECT_EQ(del.version_id(), "2");
  EXPECT_EQ(RecordTime(del), T("2024-05-01T10:00:00.123Z"));
  EXPECT_TRUE(del.location_json().empty());
  // A DELETE without a time cannot be placed on the watermark: parked by
  // its id; one naming no Location is parked by its content.
  page = ParseBundlePage(
      R"({"resourceType":"Bundle","entry":[{"request":{"method":"DELETE",
          "url":"Location/fac-1"}},{"request":{"method":"DELETE","url":"Patient/p"}}]})",
      Ctx(true));
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->records.size(), 2u);
  EXPECT_EQ(page->records[0].location_id(), "fac-1");
  EXPECT_FALSE(page->records[0].deleted());
  EXPECT_EQ(OnlyRejection(page->records[0]).rule(), "fetch.entry.delete_time");
  EXPECT_TRUE(absl::StrContains(OnlyRejection(page->records[0]).message(),
                                "the DELETE of fac-1 has no usable response.lastModified"));
  EXPECT_EQ(OnlyRejection(page->records[1]).rule(), "fetch.entry.delete_target");
  EXPECT_EQ(OnlyRejection(page->records[1]).fhir_path(), "Bundle.entry[1].request.url");
  EXPECT_EQ(OnlyRejection(page->records[1]).value(), "Patient/p");
}

TEST(NextLinkTest, SameOriginIsFollowed) {
  Url base = *ParseUrl("http://127.0.0.1:8091/fhir");
  EXPECT_EQ(*ResolveNextLink(base, "http://127.0.0.1:8091/fhir/Location?_getpagesoffset=20"),
            "http://127.0.0.1:8091/fhir/Location?_getpagesoffset=20");
  EXPECT_EQ(*ResolveNextLink(base, "/fhir/Location?a=1"), "http://127.0.0.1:8091/fhir/Location?a=1");
  EXPECT_EQ(*ResolveNextLink(*ParseUrl("https://mfl.example/fhir"),
                             "HTTPS://MFL.example:443/fhir/Location?p=2"),
            "HTTPS://MFL.example:443/fhir/Location?p=2");
}

TEST(NextLinkTest, LinkEncodedAsAWholeIsDecoded) {
  Url base = *ParseUrl("http://127.0.0.1:8091/fhir");
  absl::StatusOr<std::string> next = ResolveNextLink(
      base, "http%3A%2F%2F127.0.0.1%3A8091%2Ffhir%2FLocation%3F_count%3D2%26page-offset%3D2");
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(*next, "http://127.0.0.1:8091/fhir/Location?_count=2&page-offset=2");
}

TEST(NextLinkTest, OtherHostPortOrSchemeIsRefused) {
  Url base = *ParseUrl("http://127.0.0.1:8091/fhir");
  for (const char* link : {"http://evil.example:80/fhir/Location?x",
                           "http://127.0.0.1:8092/fhir/Location",
                           "https://127.0.0.1:8091/fhir/Location",
                           "//evil.example/fhir/Location",
                           "http%3A%2F%2Fevil.example%2Ffhir"}) {
    absl::StatusOr<std::string> next = ResolveNextLink(base, link);
    EXPECT_FALSE(next.ok()) << link;
    if (next.status().code() == absl::StatusCode::kPermissionDenied) {
      EXPECT_TRUE(HasMessage(next.status(), "not to the configured origin"));
    }
  }
  EXPECT_EQ(ResolveNextLink(base, "http://evil.example:80/x").status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(ResolveNextLink(base, "ftp://127.0.0.1:8091/x").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ResolveNextLink(base, "http://user:pw@127.0.0.1:8091/x").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(NextLinkTest, UpstreamLinksAreRepointedToTheBase) {
  Url base = *ParseUrl("http://ohim:5001/mfl/fhir");
  NextLinkRebase rebase{*ParseUrl("http://mfl:8080/fhir/"), "http://ohim:5001/mfl/fhir"};
  absl::StatusOr<std::string> next =
      ResolveNextLink(base, "http://mfl:8080/fhir/Location?_getpagesoffset=20", &rebase);
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(*next, "http://ohim:5001/mfl/fhir/Location?_getpagesoffset=20");
  for (const char* link : {"http://mfl:8080/admin/Location", "http://mfl:8080/fhirx/Location",
                           "http://mfl:8081/fhir/Location", "http://evil:8080/fhir/Location"}) {
    EXPECT_EQ(ResolveNextLink(base, link, &rebase).status().code(),
              absl::StatusCode::kPermissionDenied)
        << link;
  }
  EXPECT_EQ(ResolveNextLink(base, "http://mfl:8080/fhir/Location").status().code(),
            absl::StatusCode::kPermissionDenied);
}

TEST(DeduperTest, DropsRepeatsByVersionOrTime) {
  Deduper d(absl::Seconds(60));
  absl::Time t0 = T("2024-01-01T00:00:00Z");
  EXPECT_TRUE(d.Offer("a", "1", t0));
  EXPECT_FALSE(d.Offer("a", "1", t0));
  EXPECT_TRUE(d.Offer("a", "2", t0 + absl::Seconds(1)));
  EXPECT_TRUE(d.Offer("b", "", t0));
  EXPECT_FALSE(d.Offer("b", "", t0));
  EXPECT_TRUE(d.Offer("b", "", t0 + absl::Milliseconds(1)));
  EXPECT_EQ(d.dropped(), 2);
}

TEST(DeduperTest, SeedsFromEarlierRunsAreDropped) {
  Deduper d(absl::Seconds(60));
  absl::Time t0 = T("2024-01-01T00:00:00Z");
  d.Seed("a", "3", t0);
  EXPECT_FALSE(d.Offer("a", "3", t0));
  EXPECT_TRUE(d.Offer("a", "4", t0 + absl::Seconds(5)));
}

TEST(DeduperTest, MemoryIsBoundedByTheWindow) {
  Deduper d(absl::Seconds(10));
  absl::Time t0 = T("2024-01-01T00:00:00Z");
  for (int i = 0; i < 100000; ++i)
    ASSERT_TRUE(d.Offer(absl::StrCat("fac-", i), "1", t0 + absl::Seconds(i)));
  EXPECT_LE(d.size(), 12u);
  // Keys inside the window still drop repeats.
  EXPECT_FALSE(d.Offer("fac-99995", "1", t0 + absl::Seconds(99995)));
}

TEST(RetryAfterTest, SecondsAndHttpDates) {
  absl::Time now = T("2015-10-21T07:28:00Z");
  EXPECT_EQ(*ParseRetryAfter("3", now), absl::Seconds(3));
  EXPECT_EQ(*ParseRetryAfter(" 0 ", now), absl::ZeroDuration());
  EXPECT_EQ(*ParseRetryAfter("Wed, 21 Oct 2015 07:28:30 GMT", now), absl::Seconds(30));
  EXPECT_EQ(*ParseRetryAfter("Wed, 21 Oct 2015 07:00:00 GMT", now), absl::ZeroDuration());
  EXPECT_FALSE(ParseRetryAfter("soon", now).has_value());
  EXPECT_FALSE(ParseRetryAfter("-1", now).has_value());
  EXPECT_FALSE(ParseRetryAfter("", now).has_value());
}

TEST(SourceConfigTest, LoadsSourcesWithSafeDefaults) {
  absl::StatusOr<Config> config = Config::Load(
      SourceSchema(), "",
      {{"MFLSYNC_SOURCES__KENYA__BASE_URL", "https://ohim.example:5000/mfl/fhir"},
       {"MFLSYNC_SOURCES__KENYA__AUTH__TYPE", "custom"},
       {"MFLSYNC_SOURCES__KENYA__AUTH__TOKEN", "tok-secret-1"}});
  ASSERT_TRUE(config.ok()) << config.status();
  absl::StatusOr<std::vector<SourceConfig>> sources = LoadSources(*config);
  ASSERT_TRUE(sources.ok()) << sources.status();
  ASSERT_EQ(sources->size(), 1u);
  const SourceConfig& s = (*sources)[0];
  EXPECT_EQ(s.name, "kenya");
  EXPECT_TRUE(s.tls.verify);
  EXPECT_EQ(s.auth_type, AuthType::kCustom);
  EXPECT_EQ(s.mode, FetchModeKind::kSearch);
  EXPECT_EQ(s.overlap, absl::Seconds(60));
  EXPECT_EQ(s.page_size, 500);
  EXPECT_EQ(config->DescribeRedacted().find("tok-secret-1"), std::string::npos);
}

TEST(SourceConfigTest, BasicAuthNeedsAUser) {
  absl::StatusOr<Config> config = Config::Load(
      SourceSchema(), "",
      {{"MFLSYNC_SOURCES__KENYA__BASE_URL", "https://ohim.example/fhir"},
       {"MFLSYNC_SOURCES__KENYA__AUTH__TYPE", "basic"}});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(HasMessage(LoadSources(*config).status(), "sources.kenya.auth.username"));
}

TEST(SourceConfigTest, NoSourcesIsAllowed) {
  absl::StatusOr<Config> config = Config::Load(SourceSchema(), "", {});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(LoadSources(*config)->empty());
}

}  // namespace
}  // namespace mflsync::fetcher
