#include "common/url.h"

#include <gtest/gtest.h>

namespace mflsync {
namespace {

TEST(UrlTest, ParsesAndDefaultsPorts) {
  absl::StatusOr<Url> u = ParseUrl("HTTPS://OpenHIM.example/fhir/Location?_count=10#x");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->scheme, "https");
  EXPECT_EQ(u->host, "openhim.example");
  EXPECT_EQ(u->port, 443);
  EXPECT_EQ(u->path, "/fhir/Location");
  EXPECT_EQ(u->query, "_count=10");
  EXPECT_EQ(u->Origin(), "https://openhim.example:443");
  absl::StatusOr<Url> v6 = ParseUrl("http://[::1]:5001/fhir");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 5001);
}

TEST(UrlTest, Rejects) {
  EXPECT_FALSE(ParseUrl("ftp://x/").ok());
  EXPECT_FALSE(ParseUrl("http://u:p@x/").ok());
  EXPECT_FALSE(ParseUrl("http://x:0/").ok());
  EXPECT_FALSE(ParseUrl("http://x:70000/").ok());
  EXPECT_FALSE(ParseUrl("/relative").ok());
  EXPECT_FALSE(ParseUrl("http:///path").ok());
}

TEST(UrlTest, SameOriginIsSchemeHostPort) {
  Url a = *ParseUrl("http://127.0.0.1:8081/fhir");
  EXPECT_TRUE(SameOrigin(a, *ParseUrl("http://127.0.0.1:8081/other?x=1")));
  EXPECT_FALSE(SameOrigin(a, *ParseUrl("https://127.0.0.1:8081/fhir")));
  EXPECT_FALSE(SameOrigin(a, *ParseUrl("http://127.0.0.1:8082/fhir")));
  EXPECT_FALSE(SameOrigin(a, *ParseUrl("http://evil.example:8081/fhir")));
}

TEST(UrlTest, PercentRoundTrip) {
  EXPECT_EQ(PercentEncode("ge2024-01-01T00:00:00+03:00"), "ge2024-01-01T00%3A00%3A00%2B03%3A00");
  EXPECT_EQ(*PercentDecode("http%3A%2F%2Fh%3A1%2Ff%3Fa%3D1"), "http://h:1/f?a=1");
  EXPECT_EQ(*PercentDecode("a+b", true), "a b");
  EXPECT_FALSE(PercentDecode("%zz").ok());
  EXPECT_FALSE(PercentDecode("abc%4").ok());
  EXPECT_EQ(BuildQuery({{"_count", "50"}, {"_include", "Location:organization"}}),
            "_count=50&_include=Location%3Aorganization");
  EXPECT_EQ(JoinUrl("http://h/fhir/", "/Location"), "http://h/fhir/Location");
}

}  // namespace
}  // namespace mflsync
