#include "mapper/mapper.h"

#include <string>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "tests/mapper/test_util.h"

namespace mflsync::mapper {
namespace {

using nlohmann::json;
using testing::GoodEndpoint;
using testing::GoodLocation;
using testing::GoodOrganization;
using testing::Record;

class MapperTest : public ::testing::Test {
 protected:
  void SetUp() override { Load(testing::TestMappingJson()); }
  void Load(const json& doc) {
    absl::StatusOr<Mapping> m = Mapping::FromJson(doc, "t.json");
    ASSERT_TRUE(m.ok()) << m.status();
    mapping_ = std::make_unique<Mapping>(std::move(*m));
    mapper_ = std::make_unique<Mapper>(mapping_.get());
  }
  v1::MappedRecord Map(const v1::SourceRecord& r) { return mapper_->Map(r); }
  v1::MappedRecord Map(const json& loc) { return mapper_->Map(Record(loc)); }

  // Asserts the record was rejected with `rule` at `path`; returns it.
  v1::Rejection Expect(const v1::MappedRecord& r, const std::string& rule,
                       const std::string& path) {
    EXPECT_FALSE(r.has_facility());
    for (const auto& rej : r.rejections())
      if (rej.rule() == rule && rej.fhir_path() == path) return rej;
    std::string got;
    for (const auto& rej : r.rejections()) absl::StrAppend(&got, rej.fhir_path(), " ", rej.rule(), "; ");
    ADD_FAILURE() << "no " << rule << " at " << path << "; got: " << got;
    return {};
  }

  std::unique_ptr<Mapping> mapping_;
  std::unique_ptr<Mapper> mapper_;
};

TEST_F(MapperTest, MapsAGoodRecord) {
  v1::SourceRecord rec = Record(GoodLocation());
  rec.add_endpoint_json(GoodEndpoint().dump());
  v1::MappedRecord r = Map(rec);
  ASSERT_EQ(r.rejections_size(), 0) << r.rejections(0).message();
  EXPECT_EQ(r.location_id(), "fac-14180");
  const v1::HealthFacility& f = r.facility();
  EXPECT_EQ(f.code(), "14180");
  EXPECT_EQ(f.name(), "10 Engineer VCT");  // whitespace collapsed
  EXPECT_EQ(f.level(), v1::FACILITY_LEVEL_DISPENSARY);  // "DISPENSARY" normalised
  EXPECT_EQ(f.care_type(), v1::CARE_TYPE_OUT_PATIENT);  // type default
  EXPECT_EQ(f.legal_form(), "G");
  EXPECT_EQ(f.district_code(), "KE0101");  // by partOf ward
  EXPECT_EQ(f.address(), "Nanyuki, Laikipia East, Laikipia");
  EXPECT_EQ(f.phone(), "+254 700 000000");
  EXPECT_EQ(f.email(), "info@example.org");
  EXPECT_EQ(f.fax(), "");
  EXPECT_TRUE(f.active());
  EXPECT_EQ(f.national_id(), "https://kmhfl.health.go.ke/facility-code|14180");
  EXPECT_TRUE(f.uuid().empty());
  EXPECT_TRUE(f.district_uuid().empty());
}

TEST_F(MapperTest, BatchKeepsOrder) {
  v1::MapFacilitiesRequest req;
  json bad = GoodLocation();
  bad["name"] = 1;
  *req.add_records() = Record(GoodLocation());
  *req.add_records() = Record(bad);
  v1::MapFacilitiesResponse resp = mapper_->MapBatch(req);
  ASSERT_EQ(resp.results_size(), 2);
  EXPECT_TRUE(resp.results(0).has_facility());
  EXPECT_FALSE(resp.results(1).has_facility());
}

TEST_F(MapperTest, NotJsonAndMissingLocation) {
  v1::SourceRecord rec = Record(GoodLocation());
  rec.set_location_json("{\"resourceType\": ");
  Expect(Map(rec), "fhir.json.syntax", "Location");
  rec.set_location_json("");
  Expect(Map(rec), "record.location.missing", "Location");
  rec = Record(GoodLocation());
  rec.set_organization_json("not json");
  Expect(Map(rec), "fhir.json.syntax", "Organization");
}

TEST_F(MapperTest, InvalidUtf8IsRejectedAndTheAnswerStillSerialises) {
  v1::SourceRecord rec = Record(GoodLocation());
  rec.set_location_json("{\"resourceType\": \"Location\", \"name\": \"\xff\xfe\"}");
  v1::MappedRecord r = Map(rec);
  Expect(r, "fhir.json.syntax", "Location");
  std::string wire;
  ASSERT_TRUE(r.SerializeToString(&wire));
  v1::MappedRecord back;
  ASSERT_TRUE(back.ParseFromString(wire));
  EXPECT_EQ(back.rejections(0).rule(), "fhir.json.syntax");
}

TEST_F(MapperTest, StructuralProblemsStopMapping) {
  json loc = GoodLocation();
  loc["status"] = "closed";
  loc["type"][0]["coding"][0]["code"] = "Unknown type";  // not reported: structure first
  v1::MappedRecord r = Map(loc);
  ASSERT_EQ(r.rejections_size(), 1);
  EXPECT_EQ(r.rejections(0).rule(), "fhir.code.value_set");
  EXPECT_EQ(r.rejections(0).value(), "closed");
  EXPECT_NE(r.rejections(0).message().find("active, suspended, inactive"), std::string::npos);
}

TEST_F(MapperTest, OrganizationAndEndpointAreValidatedToo) {
  json org = GoodOrganization();
  org["active"] = "true";
  Expect(Map(Record(GoodLocation(), org)), "fhir.boolean.syntax", "Organization.active");
  v1::SourceRecord rec = Record(GoodLocation());
  json ep = GoodEndpoint();
  ep["address"] = "https://example.org/a b";
  rec.add_endpoint_json(ep.dump());
  Expect(Map(rec), "fhir.url.syntax", "Endpoint.address");
}

TEST_F(MapperTest, LocationIdMustMatchTheRecord) {
  v1::SourceRecord rec = Record(GoodLocation());
  rec.set_location_id("fac-99999");
  Expect(Map(rec), "record.location_id.mismatch", "Location.id");
  json loc = GoodLocation();
  loc.erase("id");
  Expect(Map(loc), "fhir.required", "Location.id");
}

TEST_F(MapperTest, NationalId) {
  json loc = GoodLocation();
  loc["identifier"][0]["system"] = "https://other.example/ids";
  v1::Rejection r = Expect(Map(loc), "mapping.national_id.missing", "Location.identifier");
  EXPECT_NE(r.message().find("https://kmhfl.health.go.ke/facility-code"), std::string::npos);
  loc = GoodLocation();
  loc["identifier"].push_back({{"system", testing::kCodeSystem}, {"value", "14181"}});
  Expect(Map(loc), "mapping.national_id.ambiguous", "Location.identifier[1].value");
  loc = GoodLocation();
  loc["identifier"].push_back({{"system", testing::kCodeSystem}, {"value", "14180"}});
  EXPECT_TRUE(Map(loc).has_facility());  // the same value twice is fine
}

TEST_F(MapperTest, HfCodeUsesTheIdOrTheCrosswalk) {
  json loc = GoodLocation();
  loc["identifier"][0]["value"] = "123456789";  // 9 characters, in the crosswalk
  v1::MappedRecord r = Map(loc);
  ASSERT_TRUE(r.has_facility());
  EXPECT_EQ(r.facility().code(), "X0000001");
  EXPECT_EQ(r.facility().national_id(), "https://kmhfl.health.go.ke/facility-code|123456789");
  loc["identifier"][0]["value"] = "987654321";  // 9 characters, not in the crosswalk
  v1::Rejection rej =
      Expect(Map(loc), "openimis.hf_code.max_length", "Location.identifier[0].value");
  EXPECT_EQ(rej.value(), "987654321");
  EXPECT_NE(rej.message().find("crosswalk table of t.json"), std::string::npos);
  loc["identifier"][0]["value"] = "55555";  // crosswalked to X0000002
  EXPECT_EQ(Map(loc).facility().code(), "X0000002");
  loc["identifier"][0]["value"] = "X0000002";  // fits, but the crosswalk gave it away
  rej = Expect(Map(loc), "mapping.hf_code.conflict", "Location.identifier[0].value");
  EXPECT_NE(rej.message().find("'55555'"), std::string::npos);
  loc["identifier"][0]["value"] = "12 34";
  Expect(Map(loc), "openimis.hf_code.syntax", "Location.identifier[0].value");
  loc["identifier"][0]["value"] = "12345678";  // exactly 8
  EXPECT_EQ(Map(loc).facility().code(), "12345678");
}

TEST_F(MapperTest, Name) {
  json loc = GoodLocation();
  loc.erase("name");
  Expect(Map(loc), "openimis.name.missing", "Location.name");
  loc["name"] = std::string(101, 'n');
  v1::Rejection r = Expect(Map(loc), "openimis.name.max_length", "Location.name");
  EXPECT_NE(r.message().find("101 characters"), std::string::npos);
  std::string hundred_chars;
  for (int i = 0; i < 100; ++i) hundred_chars += "\xC3\xA9";  // 100 x "é"
  loc["name"] = hundred_chars;
  EXPECT_TRUE(Map(loc).has_facility());  // characters, not bytes
}

TEST_F(MapperTest, FacilityTypeToLevel) {
  json loc = GoodLocation();
  loc["type"][0]["coding"][0]["code"] = "BASIC health Centre";  // case folded
  loc["extension"][0]["valueCode"] = "OPD";
  v1::MappedRecord r = Map(loc);
  ASSERT_TRUE(r.has_facility());
  EXPECT_EQ(r.facility().level(), v1::FACILITY_LEVEL_HEALTH_CENTRE);
  loc["type"][0]["coding"][0]["code"] = "Primary care hospitals";
  EXPECT_EQ(Map(loc).facility().level(), v1::FACILITY_LEVEL_HOSPITAL);
  loc["type"][0]["coding"][0]["code"] = "Spa";
  v1::Rejection rej = Expect(Map(loc), "mapping.facility_type.unknown",
                             "Location.type[0].coding[0].code");
  EXPECT_EQ(rej.value(), "Spa");
  EXPECT_NE(rej.message().find("facility_types table of t.json"), std::string::npos);
  loc["type"][0]["coding"][0]["code"] = "Farewell Home";
  rej = Expect(Map(loc), "mapping.facility_type.excluded", "Location.type[0].coding[0].code");
  EXPECT_NE(rej.message().find("mortuary"), std::string::npos);
  loc["type"][0]["coding"][0]["system"] = "http://terminology.hl7.org/CodeSystem/v3-RoleCode";
  Expect(Map(loc), "mapping.facility_type.missing", "Location.type");
  loc.erase("type");
  Expect(Map(loc), "mapping.facility_type.missing", "Location.type");
}

TEST_F(MapperTest, OwnerToLegalForm) {
  json org = GoodOrganization();
  org["type"][0]["coding"][0]["code"] = "PRIVATE PRACTICE";
  EXPECT_EQ(Map(Record(GoodLocation(), org)).facility().legal_form(), "P");
  org["type"][0]["coding"][0]["code"] = "Community";
  v1::Rejection r = Expect(Map(Record(GoodLocation(), org)), "mapping.owner.unknown",
                           "Organization.type[0].coding[0].code");
  EXPECT_EQ(r.value(), "Community");
  EXPECT_NE(r.message().find("owners table"), std::string::npos);
  org.erase("type");
  Expect(Map(Record(GoodLocation(), org)), "mapping.owner.missing", "Organization.type");
  // Referenced but not included.
  Expect(Map(Record(GoodLocation(), json())), "record.organization.unresolved",
         "Location.managingOrganization");
  // Not referenced at all.
  json loc = GoodLocation();
  loc.erase("managingOrganization");
  Expect(Map(Record(loc, json())), "mapping.owner.missing", "Location.managingOrganization");
}

TEST_F(MapperTest, OwnerFromReferenceDisplayWhenAllowed) {
  json doc = testing::TestMappingJson();
  doc["owner"]["use_reference_display"] = true;
  Load(doc);
  v1::MappedRecord r = Map(Record(GoodLocation(), json()));
  ASSERT_TRUE(r.has_facility());
  EXPECT_EQ(r.facility().legal_form(), "G");
}

TEST_F(MapperTest, ServicesToCareType) {
  struct Case {
    const char* type;
    std::vector<std::string> services;
    v1::CareType expected;
  };
  for (const Case& c : std::vector<Case>{
           {"Dispensary", {}, v1::CARE_TYPE_OUT_PATIENT},
           {"Dispensary", {"IPD"}, v1::CARE_TYPE_BOTH},
           {"Basic Health Centre", {"IPD"}, v1::CARE_TYPE_IN_PATIENT},
           {"Basic Health Centre", {"OPD"}, v1::CARE_TYPE_OUT_PATIENT},
           {"Basic Health Centre", {"ipd", "OPD"}, v1::CARE_TYPE_BOTH},
           {"Primary care hospitals", {}, v1::CARE_TYPE_BOTH}}) {
    json loc = GoodLocation();
    loc["type"][0]["coding"][0]["code"] = c.type;
    loc["extension"] = json::array();
    for (const std::string& s : c.services)
      loc["extension"].push_back({{"url", testing::kServicesUrl}, {"valueCode", s}});
    if (c.services.empty()) loc.erase("extension");
    v1::MappedRecord r = Map(loc);
    ASSERT_TRUE(r.has_facility()) << c.type;
    EXPECT_EQ(r.facility().care_type(), c.expected) << c.type;
  }
  json loc = GoodLocation();
  loc["type"][0]["coding"][0]["code"] = "Basic Health Centre";  // no default care type
  loc["extension"][0]["valueCode"] = "ANC";
  v1::Rejection r = Expect(Map(loc), "mapping.care_type.undetermined", "Location.extension");
  EXPECT_EQ(r.value(), "Basic Health Centre");
}

TEST_F(MapperTest, AreaToDistrict) {
  json loc = GoodLocation();
  loc["partOf"]["reference"] = "http://mfl.example/fhir/Location/subcounty-laikipia-east";
  EXPECT_EQ(Map(loc).facility().district_code(), "KE0101");  // absolute URL, by id
  loc["partOf"]["reference"] = "Location/ward-unknown";
  loc["address"]["district"] = "Laikipia West";
  EXPECT_EQ(Map(loc).facility().district_code(), "KE0102");  // falls back to the address
  loc["address"]["district"] = "Nowhere";
  v1::Rejection r = Expect(Map(loc), "mapping.area.unknown", "Location.partOf");
  EXPECT_EQ(r.value(), "Location/ward-unknown");
  EXPECT_NE(r.message().find("Laikipia / Nowhere"), std::string::npos);
  EXPECT_NE(r.message().find("areas.districts table of t.json"), std::string::npos);
  loc.erase("partOf");
  r = Expect(Map(loc), "mapping.area.unknown", "Location.address.district");
  EXPECT_EQ(r.value(), "Laikipia / Nowhere");
  loc.erase("address");
  Expect(Map(loc), "mapping.area.missing", "Location.partOf");
}

TEST_F(MapperTest, AreaSourcesOrder) {
  json doc = testing::TestMappingJson();
  doc["areas"]["sources"] = json::array({"address"});
  Load(doc);
  json loc = GoodLocation();
  loc["address"]["district"] = "Laikipia West";
  EXPECT_EQ(Map(loc).facility().district_code(), "KE0102");  // partOf ignored
}

TEST_F(MapperTest, AddressText) {
  json loc = GoodLocation();
  loc["address"]["text"] = "  Plot 7,  Nanyuki ";
  EXPECT_EQ(Map(loc).facility().address(), "Plot 7, Nanyuki");
  loc["address"].erase("text");
  loc["address"]["line"] = json::array({"Plot 7"});
  EXPECT_EQ(Map(loc).facility().address(), "Plot 7, Nanyuki, Laikipia East, Laikipia");
  loc["address"]["line"] = json::array({std::string(95, 'x')});
  v1::Rejection r = Expect(Map(loc), "openimis.address.max_length", "Location.address");
  EXPECT_NE(r.message().find("at most 100"), std::string::npos);
}

TEST_F(MapperTest, Telecom) {
  json loc = GoodLocation();
  loc["telecom"] = json::parse(R"([
    {"system": "phone", "value": "111", "rank": 2},
    {"system": "phone", "value": "222", "rank": 1},
    {"system": "phone", "value": "333", "use": "old", "rank": 1},
    {"system": "fax", "value": "444"},
    {"system": "url", "value": "https://example.org"}])");
  v1::MappedRecord r = Map(loc);
  ASSERT_TRUE(r.has_facility());
  EXPECT_EQ(r.facility().phone(), "222");
  EXPECT_EQ(r.facility().fax(), "444");
  EXPECT_EQ(r.facility().email(), "");
  loc["telecom"] = json::array({{{"system", "phone"}, {"value", std::string(51, '1')}}});
  Expect(Map(loc), "openimis.phone.max_length", "Location.telecom[0].value");
  loc["telecom"] = json::array({{{"system", "email"}, {"value", "nobody.example.org"}}});
  Expect(Map(loc), "openimis.email.syntax", "Location.telecom[0].value");
}

TEST_F(MapperTest, StatusToActive) {
  json loc = GoodLocation();
  loc["status"] = "inactive";
  EXPECT_FALSE(Map(loc).facility().active());
  loc["status"] = "suspended";
  EXPECT_FALSE(Map(loc).facility().active());
  loc.erase("status");
  EXPECT_TRUE(Map(loc).facility().active());
}

TEST_F(MapperTest, EveryRuleIsReportedTogether) {
  json loc = GoodLocation();
  loc.erase("name");
  loc["type"][0]["coding"][0]["code"] = "Spa";
  loc["partOf"]["reference"] = "Location/elsewhere";
  loc.erase("address");
  v1::MappedRecord r = Map(loc);
  EXPECT_EQ(r.rejections_size(), 3);
}

TEST_F(MapperTest, DeletedRecords) {
  v1::SourceRecord rec;
  rec.set_location_id("fac-14180");
  rec.set_deleted(true);
  v1::MappedRecord r = Map(rec);
  ASSERT_TRUE(r.has_facility());
  EXPECT_EQ(r.facility().code(), "14180");
  EXPECT_FALSE(r.facility().active());
  EXPECT_EQ(r.facility().national_id(), "https://kmhfl.health.go.ke/facility-code|14180");
  EXPECT_TRUE(r.deactivation());
  EXPECT_FALSE(Map(GoodLocation()).deactivation());
  rec.set_location_id("loc-old-55555");  // crosswalk by location id
  EXPECT_EQ(Map(rec).facility().code(), "X0000002");
  rec.set_location_id("fac-123456789");  // prefix, then the crosswalk for the long id
  EXPECT_EQ(Map(rec).facility().code(), "X0000001");
  rec.set_location_id("fac-987654321");
  Expect(Map(rec), "openimis.hf_code.max_length", "Location.id");
  rec.set_location_id("ward-nanyuki");  // a jurisdiction: nothing to deactivate
  r = Map(rec);
  ASSERT_TRUE(r.has_facility());
  EXPECT_TRUE(r.deactivation());
  EXPECT_EQ(r.facility().code(), "");
  rec.set_location_id("site-1");
  v1::Rejection rej = Expect(Map(rec), "mapping.deleted.no_national_id", "Location.id");
  EXPECT_EQ(rej.value(), "site-1");
  json doc = testing::TestMappingJson();
  doc["hf_code"].erase("deleted_location_id_prefix");
  Load(doc);
  rec.set_location_id("fac-14180");
  Expect(Map(rec), "mapping.deleted.no_national_id", "Location.id");
}

}  // namespace
}  // namespace mflsync::mapper
