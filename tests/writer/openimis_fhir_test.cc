// Conversions between HealthFacility and openIMIS FHIR resources.
#include "writer/openimis_fhir.h"

#include <gtest/gtest.h>

#include "writer/facility_identity.h"

namespace mflsync::writer {
namespace {

using mflsync::v1::HealthFacility;
using nlohmann::json;

HealthFacility Sample() {
  HealthFacility f;
  f.set_uuid("u-1");
  f.set_code("HF01");
  f.set_name("Lakeside");
  f.set_level(mflsync::v1::FACILITY_LEVEL_HEALTH_CENTRE);
  f.set_care_type(mflsync::v1::CARE_TYPE_OUT_PATIENT);
  f.set_legal_form("P");
  f.set_district_uuid("d-1");
  f.set_district_code("D0101");
  f.set_address("Road 2");
  f.set_phone("123");
  f.set_fax("456");
  f.set_email("a@b.org");
  f.set_active(true);
  return f;
}

std::string ExtCode(const json& org, const std::string& suffix) {
  for (const auto& e : org["extension"]) {
    std::string url = e["url"];
    if (url.size() >= suffix.size() &&
        url.compare(url.size() - suffix.size(), suffix.size(), suffix) == 0) {
      return e["valueCodeableConcept"]["coding"][0]["code"];
    }
  }
  return "";
}

TEST(OpenImisFhirTest, OrganizationBodyCarriesEveryColumn) {
  json org = OrganizationBody(Sample());
  EXPECT_EQ(org["resourceType"], "Organization");
  EXPECT_EQ(org["id"], "u-1");
  EXPECT_EQ(org["type"][0]["coding"][0]["code"], "prov");
  bool code_found = false;
  for (const auto& id : org["identifier"]) {
    if (id["type"]["coding"][0]["code"] == "Code") {
      EXPECT_EQ(id["value"], "HF01");
      code_found = true;
    }
  }
  EXPECT_TRUE(code_found);
  EXPECT_EQ(ExtCode(org, "organization-hf-level"), "C");
  EXPECT_EQ(ExtCode(org, "organization-hf-care-type"), "O");
  EXPECT_EQ(ExtCode(org, "organization-legal-form"), "P");
  EXPECT_EQ(org["address"][0]["line"][0], "Road 2");
  EXPECT_EQ(org["address"][0]["extension"][0]["valueReference"]["reference"],
            "Location/d-1");
  ASSERT_EQ(org["telecom"].size(), 3u);  // each system once
  // Round trip through the reader.
  auto back = FacilityFromOrganization(org);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(SameContent(*back, Sample()));
}

TEST(OpenImisFhirTest, CreateBodyHasNoIdAndLeavesOutUnspecifiedCodes) {
  HealthFacility f = Sample();
  f.clear_uuid();
  f.set_care_type(mflsync::v1::CARE_TYPE_UNSPECIFIED);
  f.clear_phone();
  f.clear_fax();
  f.clear_email();
  json org = OrganizationBody(f);
  EXPECT_FALSE(org.contains("id"));
  EXPECT_EQ(org["identifier"].size(), 1u);
  EXPECT_EQ(ExtCode(org, "organization-hf-care-type"), "");
  EXPECT_FALSE(org.contains("telecom"));
}

TEST(OpenImisFhirTest, ReadsAFacilityLocation) {
  json loc = json::parse(R"({"resourceType":"Location","id":"u-9",
    "identifier":[{"type":{"coding":[{"code":"UUID"}]},"value":"u-9"},
                  {"type":{"coding":[{"code":"FI"}]},"value":"HF9"}],
    "name":"Nine","status":"active","type":[{"coding":[{"code":"HOSP"}]}],
    "physicalType":{"coding":[{"code":"si"}]},
    "partOf":{"reference":"Location/d-7","identifier":{"type":{"coding":[{"code":"UUID"}]},"value":"d-7"},"display":"D07"}})");
  auto f = FacilityFromLocation(loc);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->uuid(), "u-9");
  EXPECT_EQ(f->code(), "HF9");
  EXPECT_EQ(f->level(), mflsync::v1::FACILITY_LEVEL_HOSPITAL);
  EXPECT_EQ(f->district_uuid(), "d-7");
  EXPECT_EQ(f->district_code(), "D07");
  EXPECT_TRUE(f->active());
  // The Location body for the repair path reads back the same view.
  auto again = FacilityFromLocation(LocationSiteBody(*f));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(SameLocationView(*again, *f));
}

TEST(OpenImisFhirTest, MalformedResourcesGiveSpecificErrors) {
  auto no_code = FacilityFromLocation(json::parse(
      R"({"resourceType":"Location","id":"x","identifier":[]})"));
  ASSERT_FALSE(no_code.ok());
  EXPECT_NE(no_code.status().message().find("FI-typed code identifier"), std::string::npos);
  auto not_location = FacilityFromLocation(json::parse(R"({"resourceType":"Patient"})"));
  EXPECT_FALSE(not_location.ok());
  auto no_id = FacilityFromOrganization(json::parse(R"({"resourceType":"Organization"})"));
  ASSERT_FALSE(no_id.ok());
  EXPECT_NE(no_id.status().message().find("without an id"), std::string::npos);
  auto area = AreaFromLocation(json::parse(R"([1,2])"));
  EXPECT_FALSE(area.ok());
}

TEST(OpenImisFhirTest, OrganizationAddressBugDoesNotInventADistrict) {
  // openIMIS's bug: the address reference names the HF Organization itself.
  json org = OrganizationBody(Sample());
  org["address"][0]["extension"][0]["valueReference"] = {
      {"reference", "Organization/u-1"}, {"type", "Organization"}};
  auto f = FacilityFromOrganization(org);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->district_uuid(), "");
}

TEST(OpenImisFhirTest, ReadsAreasWithLcOrCodeIdentifiers) {
  json lc = json::parse(R"({"resourceType":"Location","id":"a1",
    "identifier":[{"type":{"coding":[{"code":"LC"}]},"value":"D01"}],"name":"Dist",
    "physicalType":{"coding":[{"code":"D"}]},"partOf":{"reference":"Location/r1"}})");
  auto area = AreaFromLocation(lc);
  ASSERT_TRUE(area.ok()) << area.status();
  EXPECT_EQ(area->code, "D01");
  EXPECT_EQ(area->type, "D");
  EXPECT_EQ(area->parent_uuid, "r1");
  lc["identifier"][0]["type"]["coding"][0]["code"] = "Code";
  EXPECT_EQ(AreaFromLocation(lc)->code, "D01");
}

TEST(OpenImisFhirTest, LevelAndCareTypeCodes) {
  EXPECT_EQ(LevelCode(mflsync::v1::FACILITY_LEVEL_DISPENSARY), "D");
  EXPECT_EQ(LevelFromCode("H"), mflsync::v1::FACILITY_LEVEL_HOSPITAL);
  EXPECT_EQ(LevelFromCode("X"), mflsync::v1::FACILITY_LEVEL_UNSPECIFIED);
  EXPECT_EQ(CareTypeCode(mflsync::v1::CARE_TYPE_BOTH), "B");
  EXPECT_EQ(CareTypeFromCode("I"), mflsync::v1::CARE_TYPE_IN_PATIENT);
}

}  // namespace
}  // namespace mflsync::writer
