// Parsing and joining of pushed FHIR payloads (no network).
#include "mediator/push_bundle.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace mflsync::mediator {
namespace {

using nlohmann::json;

json Location(const std::string& id, const std::string& org_ref) {
  json l = {{"resourceType", "Location"}, {"id", id}, {"name", "Facility " + id},
            {"meta", {{"versionId", "3"}, {"lastUpdated", "2024-05-01T10:00:00.000Z"}}}};
  if (!org_ref.empty()) l["managingOrganization"] = {{"reference", org_ref}};
  return l;
}

TEST(PushBundleTest, WholePayloadErrorsSayWhy) {
  EXPECT_NE(ParsePushedPayload("{not json", 10).status().message().find("not JSON"),
            std::string::npos);
  EXPECT_NE(ParsePushedPayload("[1]", 10).status().message().find("got a JSON array"),
            std::string::npos);
  EXPECT_NE(ParsePushedPayload(R"({"resourceType":"Patient"})", 10)
                .status().message().find("resourceType is 'Patient'"),
            std::string::npos);
  EXPECT_NE(ParsePushedPayload(R"({"resourceType":"Bundle","type":"searchset"})", 10)
                .status().message().find("Bundle.type is 'searchset'"),
            std::string::npos);
  EXPECT_NE(ParsePushedPayload(R"({"resourceType":"Bundle","type":"batch","entry":{}})", 10)
                .status().message().find("must be an array"),
            std::string::npos);
  json big = {{"resourceType", "Bundle"}, {"type", "collection"}, {"entry", json::array()}};
  for (int i = 0; i < 3; ++i) big["entry"].push_back({{"resource", Location("l" + std::to_string(i), "")}});
  auto too_many = ParsePushedPayload(big.dump(), 2);
  EXPECT_NE(too_many.status().message().find("3 entries; push accepts at most 2"),
            std::string::npos);
  EXPECT_TRUE(ParsePushedPayload(big.dump(), 3).ok());
}

TEST(PushBundleTest, SingleLocationWithContainedOrganization) {
  json l = Location("fac-1", "#owner");
  l["contained"] = {{{"resourceType", "Organization"}, {"id", "owner"}, {"name", "MoH"}}};
  l["physicalType"] = {{"coding", {{{"code", "si"}}}}};
  auto p = ParsePushedPayload(l.dump(), 10);
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_EQ(p->records.size(), 1u);
  const v1::SourceRecord& r = p->records[0].record;
  EXPECT_EQ(r.source_id(), "push");
  EXPECT_EQ(r.location_id(), "fac-1");
  EXPECT_EQ(r.version_id(), "3");
  EXPECT_EQ(r.last_updated().seconds(), 1714557600);
  EXPECT_NE(r.organization_json().find("MoH"), std::string::npos);
  EXPECT_EQ(r.unresolved_references_size(), 0);
  // Read once here, for the scheduler's site check.
  ASSERT_TRUE(r.has_physical_type());
  ASSERT_EQ(r.physical_type().codes_size(), 1);
  EXPECT_EQ(r.physical_type().codes(0), "si");
}

TEST(PushBundleTest, JoinsByFullUrlAndTypeIdAndListsRefusedEntries) {
  json org = {{"resourceType", "Organization"}, {"id", "o1"}, {"name", "Owner one"}};
  json endpoint = {{"resourceType", "Endpoint"}, {"id", "e1"}, {"status", "active"}};
  json l1 = Location("fac-1", "urn:uuid:0000-org");
  l1["endpoint"] = {{{"reference", "Endpoint/e1"}}, {{"reference", "Endpoint/missing"}}};
  json l2 = Location("fac-2", "Organization/o1");
  json l3 = Location("fac-3", "Organization/absent");
  json bundle = {
      {"resourceType", "Bundle"},
      {"type", "transaction"},
      {"entry",
       {{{"fullUrl", "urn:uuid:0000-org"}, {"resource", org}},
        {{"resource", endpoint}},
        {{"resource", l1}},
        {{"resource", l2}},
        {{"resource", l3}},
        {{"resource", l1}},                                              // duplicate
        {{"resource", {{"resourceType", "Patient"}, {"id", "p1"}}}},     // not synchronised
        {{"fullUrl", "x"}},                                              // no resource
        {{"request", {{"method", "DELETE"}, {"url", "Location/fac-9"}}}},
        {{"request", {{"method", "DELETE"}, {"url", "Patient/p1"}}}},
        42}}};
  auto p = ParsePushedPayload(bundle.dump(), 100);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->kind, "transaction");
  EXPECT_EQ(p->entries, 11);
  ASSERT_EQ(p->records.size(), 4u);
  EXPECT_EQ(p->records[0].entry, 2);
  EXPECT_NE(p->records[0].record.organization_json().find("Owner one"), std::string::npos);
  ASSERT_EQ(p->records[0].record.endpoint_json_size(), 1);
  ASSERT_EQ(p->records[0].record.unresolved_references_size(), 1);
  EXPECT_EQ(p->records[0].record.unresolved_references(0), "Endpoint/missing");
  EXPECT_NE(p->records[1].record.organization_json().find("Owner one"), std::string::npos);
  EXPECT_TRUE(p->records[2].record.organization_json().empty());
  EXPECT_EQ(p->records[2].record.unresolved_references(0), "Organization/absent");
  EXPECT_TRUE(p->records[3].record.deleted());
  EXPECT_EQ(p->records[3].record.location_id(), "fac-9");
  std::vector<std::pair<int, std::string>> refused;
  for (const RejectedEntry& e : p->rejected) refused.push_back({e.entry, e.reasons[0].rule()});
  EXPECT_EQ(refused, (std::vector<std::pair<int, std::string>>{
                         {5, "push.entry.duplicate"},
                         {6, "push.entry.resource_type"},
                         {7, "push.entry.no_resource"},
                         {9, "push.entry.delete_not_location"},
                         {10, "push.entry.not_object"}}));
  EXPECT_EQ(p->rejected[0].reasons[0].fhir_path(), "Bundle.entry[5].resource.meta.lastUpdated");
  EXPECT_NE(p->rejected[0].reasons[0].message().find("entry 2 is processed"), std::string::npos)
      << p->rejected[0].reasons[0].message();
}

// Two versions of one facility in one Bundle: the newest is written, in
// whichever order they come; the other is refused naming it.
TEST(PushBundleTest, OnlyTheNewestVersionOfALocationGoesOn) {
  json v1 = Location("fac-1", "Organization/o1");
  v1["meta"] = {{"versionId", "1"}, {"lastUpdated", "2024-01-01T00:00:00Z"}};
  v1["name"] = "Old name";
  json v2 = v1;
  v2["meta"] = {{"versionId", "2"}, {"lastUpdated", "2024-02-01T00:00:00Z"}};
  v2["name"] = "New name";
  for (bool newest_first : {true, false}) {
    json bundle = {{"resourceType", "Bundle"},
                   {"type", "collection"},
                   {"entry", {{{"resource", newest_first ? v2 : v1}},
                              {{"resource", newest_first ? v1 : v2}}}}};
    auto p = ParsePushedPayload(bundle.dump(), 10);
    ASSERT_TRUE(p.ok()) << p.status();
    ASSERT_EQ(p->records.size(), 1u);
    EXPECT_EQ(p->records[0].record.version_id(), "2") << "newest first: " << newest_first;
    EXPECT_EQ(p->records[0].entry, newest_first ? 0 : 1);
    ASSERT_EQ(p->rejected.size(), 1u);
    EXPECT_EQ(p->rejected[0].entry, newest_first ? 1 : 0);
    EXPECT_EQ(p->rejected[0].reasons[0].rule(), "push.entry.duplicate");
  }
}

}  // namespace
}  // namespace mflsync::mediator
