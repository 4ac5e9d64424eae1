#include "common/fhir.h"

#include <gtest/gtest.h>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"

namespace mflsync {
namespace {

TEST(FhirInstantTest, FormatIsAlwaysAValidInstant) {
  EXPECT_EQ(FormatFhirInstant(absl::FromUnixSeconds(0)), "1970-01-01T00:00:00.000Z");
  absl::Time year_42 = absl::FromCivil(absl::CivilSecond(42, 3, 4, 5, 6, 7), absl::UTCTimeZone());
  EXPECT_EQ(FormatFhirInstant(year_42), "0042-03-04T05:06:07.000Z");
  EXPECT_EQ(FormatFhirInstant(absl::InfinitePast()), "0001-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatFhirInstant(absl::UniversalEpoch() - absl::Hours(24 * 365)),
            "0001-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatFhirInstant(absl::InfiniteFuture()), "9999-12-31T23:59:59.000Z");
  for (absl::Time t : {year_42, absl::InfinitePast(), absl::InfiniteFuture()})
    EXPECT_TRUE(ParseFhirInstant(FormatFhirInstant(t)).ok()) << FormatFhirInstant(t);
}

TEST(FhirInstantTest, ParsesZonesAndFractions) {
  absl::StatusOr<absl::Time> t = ParseFhirInstant("2024-05-01T10:00:00Z");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(absl::ToUnixSeconds(*t), 1714557600);
  absl::StatusOr<absl::Time> t2 = ParseFhirInstant("2024-05-01T13:00:00.250+03:00");
  ASSERT_TRUE(t2.ok()) << t2.status();
  EXPECT_EQ(*t2 - *t, absl::Milliseconds(250));
  EXPECT_EQ(FormatFhirInstant(*t2), "2024-05-01T10:00:00.250Z");
}

TEST(FhirInstantTest, RejectsWithReason) {
  for (const char* bad : {"2024-05-01", "2024-05-01T10:00:00", "2024-13-01T10:00:00Z",
                          "2024-02-30T10:00:00Z", "2024-05-01T10:00:00.Z",
                          "2024-05-01 10:00:00Z", "2024-05-01T25:00:00Z",
                          "2024-05-01T10:00:00+3:00"}) {
    absl::StatusOr<absl::Time> t = ParseFhirInstant(bad);
    EXPECT_FALSE(t.ok()) << bad;
    EXPECT_NE(t.status().message().find("is not a FHIR instant"), std::string::npos);
  }
}

TEST(FhirReferenceTest, Forms) {
  absl::StatusOr<FhirReference> r = ParseFhirReference("Organization/owner-1");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->type, "Organization");
  EXPECT_EQ(r->id, "owner-1");
  r = ParseFhirReference("https://mfl.example/fhir/Endpoint/e1/_history/3");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->type, "Endpoint");
  EXPECT_EQ(r->id, "e1");
  EXPECT_FALSE(ParseFhirReference("owner-1").ok());
  EXPECT_FALSE(ParseFhirReference("organization/x").ok());
  EXPECT_FALSE(ParseFhirReference("Organization/").ok());
}

TEST(OperationOutcomeTest, ExtractsDiagnostics) {
  EXPECT_EQ(OperationOutcomeText(
                R"({"resourceType":"OperationOutcome","issue":[{"severity":"error",
                "code":"invalid","diagnostics":"Missing location code"}]})"),
            "Missing location code");
  EXPECT_EQ(OperationOutcomeText(R"({"detail":"Invalid token."})"), "Invalid token.");
  EXPECT_EQ(OperationOutcomeText("<html>Bad Gateway</html>"), "<html>Bad Gateway</html>");
  EXPECT_EQ(OperationOutcomeText(std::string(400, 'x'), 10), "xxxxxxxxxx…");
}

TEST(ParseJsonTest, ErrorNamesOffset) {
  EXPECT_TRUE(ParseJson("{\"a\":1}").ok());
  absl::StatusOr<nlohmann::json> bad = ParseJson("{\"a\":");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("not JSON: syntax error at line 1, column 6: "),
            std::string::npos)
      << bad.status();
  // Within JsonBounds: deep nesting is refused before the parser sees it.
  bad = ParseJson(std::string(1000000, '[') + std::string(1000000, ']'));
  ASSERT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message(), "JSON nested deeper than 64 levels at byte 64");
}

}  // namespace
}  // namespace mflsync
