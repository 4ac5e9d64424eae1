#include "scheduler/raw_record_json.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/scheduler/test_util.h"

namespace mflsync::scheduler {
namespace {

using testing::TestRecord;

TEST(RawRecordJsonTest, ShowsTheFhirResourcesAsJson) {
  v1::SourceRecord r = TestRecord("a", "1", 100);
  r.add_endpoint_json(R"({"resourceType":"Endpoint"})");
  r.add_endpoint_json("not json");
  r.add_unresolved_references("Organization/o9");
  nlohmann::json j = nlohmann::json::parse(RawRecordJson(r));
  EXPECT_EQ(j["location_id"], "a");
  EXPECT_EQ(j["location"]["resourceType"], "Location");
  EXPECT_EQ(j["organization"]["id"], "o1");
  EXPECT_EQ(j["endpoints"][0]["resourceType"], "Endpoint");
  EXPECT_EQ(j["endpoints"][1], "not json") << "text that is not JSON is kept as text";
  EXPECT_EQ(j["unresolved_references"][0], "Organization/o9");
  EXPECT_FALSE(j.contains("entry"));
}

TEST(RawRecordJsonTest, APageEntryTheFetcherCouldNotUseShowsItsRejections) {
  v1::SourceRecord r = TestRecord("a", "1", 100);
  v1::Rejection* rejection = r.add_fetch_rejections();
  rejection->set_rule("json");
  rejection->set_message("not an object");
  nlohmann::json j = nlohmann::json::parse(RawRecordJson(r));
  EXPECT_EQ(j["entry"]["resourceType"], "Location");
  EXPECT_EQ(j["fetch_rejections"][0]["rule"], "json");
  EXPECT_FALSE(j.contains("location"));
  EXPECT_FALSE(j.contains("organization"));
}

TEST(RawRecordJsonTest, OnlyTheAdministratorsCopyIsCut) {
  v1::SourceRecord r = TestRecord("a", "1", 100);
  r.set_location_json(std::string(kMaxRawJson + 10, 'x'));
  const std::string full = FullRawRecordJson(r);
  EXPECT_GT(full.size(), kMaxRawJson);
  const std::string shown = RawRecordJson(r);
  EXPECT_EQ(shown.substr(0, kMaxRawJson), full.substr(0, kMaxRawJson));
  EXPECT_NE(shown.find("...(cut: " + std::to_string(full.size()) + " bytes in all"),
            std::string::npos);
}

}  // namespace
}  // namespace mflsync::scheduler
