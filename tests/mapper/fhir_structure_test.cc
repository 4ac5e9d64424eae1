#include "mapper/fhir_structure.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "tests/mapper/test_util.h"

namespace mflsync::mapper {
namespace {

using nlohmann::json;
using testing::GoodEndpoint;
using testing::GoodLocation;
using testing::GoodOrganization;

const FhirValidator& Validator() {
  static const auto* const v = new FhirValidator();
  return *v;
}

std::vector<v1::Rejection> Check(const json& resource, const std::string& type = "Location") {
  std::vector<v1::Rejection> out;
  Validator().Validate(resource, type, &out);
  return out;
}

std::string Dump(const std::vector<v1::Rejection>& rej) {
  std::string s;
  for (const auto& r : rej) absl::StrAppend(&s, r.fhir_path(), " ", r.rule(), " '", r.value(), "'; ");
  return s;
}

// True when exactly one problem was found, at `path`, under `rule`.
::testing::AssertionResult OnlyProblem(const json& resource, const std::string& path,
                                       const std::string& rule,
                                       const std::string& type = "Location") {
  auto rej = Check(resource, type);
  if (rej.size() == 1 && rej[0].fhir_path() == path && rej[0].rule() == rule)
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "expected only " << path << " " << rule << ", got "
                                       << Dump(rej);
}

TEST(FhirValidatorTest, GoodResourcesPass) {
  EXPECT_TRUE(Check(GoodLocation()).empty()) << Dump(Check(GoodLocation()));
  EXPECT_TRUE(Check(GoodOrganization(), "Organization").empty());
  EXPECT_TRUE(Check(GoodEndpoint(), "Endpoint").empty()) << Dump(Check(GoodEndpoint(), "Endpoint"));
}

TEST(FhirValidatorTest, ResourceType) {
  json loc = GoodLocation();
  loc["resourceType"] = "Organization";
  EXPECT_TRUE(OnlyProblem(loc, "Location.resourceType", "fhir.resource_type"));
  loc.erase("resourceType");
  EXPECT_TRUE(OnlyProblem(loc, "Location.resourceType", "fhir.resource_type"));
  EXPECT_TRUE(OnlyProblem(json::array(), "Location", "fhir.structure.type"));
  EXPECT_TRUE(OnlyProblem(json{{"resourceType", "Patient"}}, "Patient", "fhir.resource_type",
                          "Patient"));
}

TEST(FhirValidatorTest, UnknownElementsAnywhere) {
  json loc = GoodLocation();
  loc["colour"] = "blue";
  EXPECT_TRUE(OnlyProblem(loc, "Location.colour", "fhir.structure.unknown_element"));
  loc = GoodLocation();
  loc["address"]["county"] = "Laikipia";
  EXPECT_TRUE(OnlyProblem(loc, "Location.address.county", "fhir.structure.unknown_element"));
  loc = GoodLocation();
  loc["type"][0]["coding"][0]["version2"] = "x";
  EXPECT_TRUE(OnlyProblem(loc, "Location.type[0].coding[0].version2",
                          "fhir.structure.unknown_element"));
}

TEST(FhirValidatorTest, WrongJsonTypesAndCardinality) {
  json loc = GoodLocation();
  loc["name"] = 42;
  EXPECT_TRUE(OnlyProblem(loc, "Location.name", "fhir.string.syntax"));
  loc = GoodLocation();
  loc["address"] = json::array({loc["address"]});
  EXPECT_TRUE(OnlyProblem(loc, "Location.address", "fhir.structure.cardinality"));
  loc = GoodLocation();
  loc["identifier"] = loc["identifier"][0];
  EXPECT_TRUE(OnlyProblem(loc, "Location.identifier", "fhir.structure.cardinality"));
  loc = GoodLocation();
  loc["meta"] = "1";
  EXPECT_TRUE(OnlyProblem(loc, "Location.meta", "fhir.structure.type"));
  loc = GoodLocation();
  loc["name"] = nullptr;
  EXPECT_TRUE(OnlyProblem(loc, "Location.name", "fhir.string.syntax"));
}

TEST(FhirValidatorTest, IdSyntax) {
  for (const char* bad : {"", "fac 1", "fac_1", "fac/1", "é"}) {
    json loc = GoodLocation();
    loc["id"] = bad;
    EXPECT_TRUE(OnlyProblem(loc, "Location.id", "fhir.id.syntax")) << bad;
  }
  json loc = GoodLocation();
  loc["id"] = std::string(65, 'a');
  EXPECT_TRUE(OnlyProblem(loc, "Location.id", "fhir.id.syntax"));
  loc["id"] = std::string(64, 'a');
  EXPECT_TRUE(Check(loc).empty());
}

TEST(FhirValidatorTest, StatusCodes) {
  json loc = GoodLocation();
  loc["status"] = "closed";
  EXPECT_TRUE(OnlyProblem(loc, "Location.status", "fhir.code.value_set"));
  loc["status"] = "Active";
  EXPECT_TRUE(OnlyProblem(loc, "Location.status", "fhir.code.value_set"));
  loc["status"] = " active";
  EXPECT_TRUE(OnlyProblem(loc, "Location.status", "fhir.code.syntax"));
  loc["status"] = "suspended";
  EXPECT_TRUE(Check(loc).empty());
  json ep = GoodEndpoint();
  ep["status"] = "inactive";
  EXPECT_TRUE(OnlyProblem(ep, "Endpoint.status", "fhir.code.value_set", "Endpoint"));
  loc = GoodLocation();
  loc["telecom"][0]["system"] = "telephone";
  EXPECT_TRUE(OnlyProblem(loc, "Location.telecom[0].system", "fhir.code.value_set"));
  loc = GoodLocation();
  loc["type"][0]["coding"][0]["code"] = "two  spaces";
  EXPECT_TRUE(OnlyProblem(loc, "Location.type[0].coding[0].code", "fhir.code.syntax"));
}

TEST(FhirValidatorTest, Identifiers) {
  json loc = GoodLocation();
  loc["identifier"][0]["system"] = "urn:with space";
  EXPECT_TRUE(OnlyProblem(loc, "Location.identifier[0].system", "fhir.uri.syntax"));
  loc = GoodLocation();
  loc["identifier"][0]["value"] = "";
  EXPECT_TRUE(OnlyProblem(loc, "Location.identifier[0].value", "fhir.string.syntax"));
  loc = GoodLocation();
  loc["identifier"][0]["use"] = "primary";
  EXPECT_TRUE(OnlyProblem(loc, "Location.identifier[0].use", "fhir.code.value_set"));
  loc = GoodLocation();
  loc["identifier"][0]["period"] = {{"start", "2020-01-01"}, {"end", "2019-01-01"}};
  EXPECT_TRUE(OnlyProblem(loc, "Location.identifier[0].period.end", "fhir.period.order"));
}

TEST(FhirValidatorTest, NameStrings) {
  json loc = GoodLocation();
  loc["name"] = "";
  EXPECT_TRUE(OnlyProblem(loc, "Location.name", "fhir.string.syntax"));
  loc["name"] = "bad\fname";
  EXPECT_TRUE(OnlyProblem(loc, "Location.name", "fhir.string.syntax"));
  loc["name"] = std::string("bad\0name", 8);  // NUL
  EXPECT_TRUE(OnlyProblem(loc, "Location.name", "fhir.string.syntax"));
  loc["name"] = "Tab\tand\r\nline ends are allowed";
  EXPECT_TRUE(Check(loc).empty()) << Dump(Check(loc));
  loc["name"] = "Good";
  loc["telecom"] = json::array({{{"system", "phone"}, {"value", "0700\x01" "123"}}});
  EXPECT_TRUE(OnlyProblem(loc, "Location.telecom[0].value", "fhir.string.syntax"));
  loc.erase("telecom");
  loc["status"] = "act\x02ive";  // a code
  EXPECT_FALSE(Check(loc).empty());
  loc["status"] = "active";
  EXPECT_EQ(FhirValidator::CheckPrimitive("string", json("a\x1b[31mred")),
            "contains the control character U+001B at byte 1 (FHIR strings allow tab, LF and "
            "CR only)");
  loc["name"] = "bad\fname";
  loc["alias"] = json::array({"ok", 3});
  auto rej = Check(loc);
  EXPECT_EQ(rej.size(), 2u) << Dump(rej);
}

TEST(FhirValidatorTest, ReferenceSyntax) {
  for (const char* good : {"Location/ward-1", "http://mfl.example/fhir/Location/ward-1",
                           "Location/ward-1/_history/3", "#c1",
                           "urn:uuid:9d6f9d6e-1b2c-4c3d-8e9f-0a1b2c3d4e5f", "urn:oid:1.2.3"}) {
    json loc = GoodLocation();
    loc["partOf"]["reference"] = good;
    EXPECT_TRUE(Check(loc).empty()) << good << ": " << Dump(Check(loc));
  }
  for (const char* bad : {"ward-1", "Location/", "/ward-1", "location/ward-1",
                          "Location/ward 1", "Location/ward_1", "ftp://x/Location/1",
                          "urn:uuid:NOT-A-UUID", "Location/1/_history/"}) {
    json loc = GoodLocation();
    loc["partOf"]["reference"] = bad;
    auto rej = Check(loc);
    ASSERT_FALSE(rej.empty()) << bad;
    EXPECT_EQ(rej[0].fhir_path(), "Location.partOf.reference") << bad;
  }
}

TEST(FhirValidatorTest, PositionRanges) {
  json loc = GoodLocation();
  loc["position"]["latitude"] = 90.5;
  EXPECT_TRUE(OnlyProblem(loc, "Location.position.latitude", "fhir.position.range"));
  loc = GoodLocation();
  loc["position"]["longitude"] = -180.01;
  EXPECT_TRUE(OnlyProblem(loc, "Location.position.longitude", "fhir.position.range"));
  loc = GoodLocation();
  loc["position"].erase("latitude");
  EXPECT_TRUE(OnlyProblem(loc, "Location.position.latitude", "fhir.required"));
  loc = GoodLocation();
  loc["position"]["longitude"] = "37.0";
  EXPECT_TRUE(OnlyProblem(loc, "Location.position.longitude", "fhir.decimal.syntax"));
  loc = GoodLocation();
  loc["position"]["latitude"] = -90;
  loc["position"]["longitude"] = 180;
  EXPECT_TRUE(Check(loc).empty());
}

TEST(FhirValidatorTest, DatesAndInstants) {
  struct Case {
    const char* value;
    bool ok;
  };
  for (Case c : std::vector<Case>{{"2014-03-01T10:00:00Z", true},
                                  {"2014-03-01T10:00:00.123+03:00", true},
                                  {"2016-02-29T00:00:00Z", true},
                                  {"2014-03-01", false},
                                  {"2014-03-01T10:00:00", false},
                                  {"2014-02-29T10:00:00Z", false},
                                  {"2014-13-01T10:00:00Z", false},
                                  {"2014-03-01T24:00:00Z", false},
                                  {"2014-03-01T10:00:00+15:00", false},
                                  {"2014-03-01T10:00Z", false},
                                  {"0000-03-01T10:00:00Z", false},
                                  {"2014-03-01T10:00:00.Z", false}}) {
    json loc = GoodLocation();
    loc["meta"]["lastUpdated"] = c.value;
    if (c.ok) {
      EXPECT_TRUE(Check(loc).empty()) << c.value << Dump(Check(loc));
    } else {
      EXPECT_TRUE(OnlyProblem(loc, "Location.meta.lastUpdated", "fhir.instant.syntax"))
          << c.value;
    }
  }
  for (Case c : std::vector<Case>{{"2014", true},
                                  {"2014-03", true},
                                  {"2014-03-01", true},
                                  {"2014-03-01T10:00:00+03:00", true},
                                  {"2014-3-1", false},
                                  {"2014-03-01T10:00:00", false},
                                  {"14-03-01", false}}) {
    json loc = GoodLocation();
    loc["identifier"][0]["period"] = {{"start", c.value}};
    if (c.ok) {
      EXPECT_TRUE(Check(loc).empty()) << c.value << Dump(Check(loc));
    } else {
      EXPECT_TRUE(OnlyProblem(loc, "Location.identifier[0].period.start",
                              "fhir.dateTime.syntax"))
          << c.value;
    }
  }
  json loc = GoodLocation();
  loc["hoursOfOperation"] = json::array({{{"openingTime", "08:00:00"}, {"closingTime", "8pm"}}});
  EXPECT_TRUE(OnlyProblem(loc, "Location.hoursOfOperation[0].closingTime", "fhir.time.syntax"));
  loc["hoursOfOperation"][0]["closingTime"] = "20:00:00";
  loc["hoursOfOperation"][0]["daysOfWeek"] = json::array({"mon", "tue"});
  loc["hoursOfOperation"][0]["allDay"] = "no";
  EXPECT_TRUE(OnlyProblem(loc, "Location.hoursOfOperation[0].allDay", "fhir.boolean.syntax"));
}

TEST(FhirValidatorTest, PrimitiveChecks) {
  auto ok = [](const char* type, const json& v) {
    return FhirValidator::CheckPrimitive(type, v).empty();
  };
  EXPECT_TRUE(ok("integer", 5));
  EXPECT_FALSE(ok("integer", 1.5));
  EXPECT_FALSE(ok("integer", 3000000000LL));
  EXPECT_TRUE(ok("positiveInt", 1));
  EXPECT_FALSE(ok("positiveInt", 0));
  EXPECT_TRUE(ok("unsignedInt", 0));
  EXPECT_FALSE(ok("unsignedInt", -1));
  EXPECT_TRUE(ok("uuid", "urn:uuid:9d6f9d6e-1b2c-4c3d-8e9f-0a1b2c3d4e5f"));
  EXPECT_FALSE(ok("uuid", "urn:uuid:9D6F9D6E-1B2C-4C3D-8E9F-0A1B2C3D4E5F"));
  EXPECT_TRUE(ok("oid", "urn:oid:2.16.840.1.113883"));
  EXPECT_FALSE(ok("oid", "urn:oid:3.1"));
  EXPECT_FALSE(ok("oid", "2.16.840"));
  EXPECT_TRUE(ok("base64Binary", "aGVsbG8="));
  EXPECT_FALSE(ok("base64Binary", "aGVsbG8"));
  EXPECT_FALSE(ok("base64Binary", "a$=="));
  EXPECT_TRUE(ok("time", "23:59:60"));
  EXPECT_FALSE(ok("time", "23:59"));
  EXPECT_TRUE(ok("date", "2014-02-28"));
  EXPECT_FALSE(ok("date", "2014-02-28T00:00:00Z"));
  EXPECT_FALSE(ok("uri", ""));
  EXPECT_FALSE(ok("code", "a\tb"));
  EXPECT_TRUE(ok("code", "a b"));
  EXPECT_FALSE(ok("boolean", "true"));
  EXPECT_FALSE(ok("decimal", "1.0"));
}

TEST(FhirValidatorTest, Extensions) {
  json loc = GoodLocation();
  loc["extension"][0].erase("url");
  EXPECT_TRUE(OnlyProblem(loc, "Location.extension[0].url", "fhir.required"));
  loc = GoodLocation();
  loc["extension"][0]["valueString"] = "x";
  EXPECT_TRUE(OnlyProblem(loc, "Location.extension[0]", "fhir.extension.shape"));
  loc = GoodLocation();
  loc["extension"][0]["valueCode"] = "two  spaces";
  EXPECT_TRUE(OnlyProblem(loc, "Location.extension[0].valueCode", "fhir.code.syntax"));
  loc = GoodLocation();
  loc["extension"][0].erase("valueCode");
  loc["extension"][0]["valueQuantity"] = {{"value", 3}, {"comparator", "=="}};
  EXPECT_TRUE(OnlyProblem(loc, "Location.extension[0].valueQuantity.comparator",
                          "fhir.code.value_set"));
  loc = GoodLocation();
  loc["_name"] = {{"extension", json::array({{{"url", "http://x"}, {"valueBoolean", true}}})}};
  EXPECT_TRUE(Check(loc).empty()) << Dump(Check(loc));
  loc["_name"]["extension"][0]["valueBoolean"] = "yes";
  EXPECT_TRUE(OnlyProblem(loc, "Location._name.extension[0].valueBoolean",
                          "fhir.boolean.syntax"));
}

TEST(FhirValidatorTest, RequiredElementsAndContained) {
  json ep = GoodEndpoint();
  ep.erase("connectionType");
  EXPECT_TRUE(OnlyProblem(ep, "Endpoint.connectionType", "fhir.required", "Endpoint"));
  json loc = GoodLocation();
  loc["text"] = {{"status", "generated"}};
  EXPECT_TRUE(OnlyProblem(loc, "Location.text.div", "fhir.required"));
  loc["text"]["div"] = "plain text";
  EXPECT_TRUE(OnlyProblem(loc, "Location.text.div", "fhir.xhtml.syntax"));
  loc = GoodLocation();
  loc["contained"] = json::array({{{"resourceType", "Patient"}, {"id", "p"}}});
  EXPECT_TRUE(OnlyProblem(loc, "Location.contained[0]", "fhir.contained.unsupported"));
  loc["contained"] = json::array({GoodOrganization()});
  EXPECT_TRUE(Check(loc).empty());
  loc["contained"][0]["active"] = "yes";
  EXPECT_TRUE(OnlyProblem(loc, "Location.contained[0].active", "fhir.boolean.syntax"));
}

TEST(FhirValidatorTest, OrganizationRules) {
  json org = GoodOrganization();
  org["telecom"] = json::array({{{"system", "email"}, {"value", "a@b"}, {"rank", 0}}});
  EXPECT_TRUE(OnlyProblem(org, "Organization.telecom[0].rank", "fhir.positiveInt.syntax",
                          "Organization"));
  org = GoodOrganization();
  org["partOf"] = {{"reference", "Organization"}};
  EXPECT_TRUE(OnlyProblem(org, "Organization.partOf.reference", "fhir.reference.syntax",
                          "Organization"));
  org = GoodOrganization();
  org["contact"] = json::array({{{"name", {{"family", "X"}, {"use", "formal"}}}}});
  EXPECT_TRUE(OnlyProblem(org, "Organization.contact[0].name.use", "fhir.code.value_set",
                          "Organization"));
}

TEST(FhirValidatorTest, DepthAndProblemLimits) {
  json loc = GoodLocation();
  json ext = {{"url", "http://x"}, {"valueString", "leaf"}};
  for (int i = 0; i < 40; ++i) ext = {{"url", "http://x"}, {"extension", json::array({ext})}};
  loc["extension"] = json::array({ext});
  auto rej = Check(loc);
  ASSERT_FALSE(rej.empty());
  EXPECT_EQ(rej[0].rule(), "fhir.structure.depth");
  loc = GoodLocation();
  for (int i = 0; i < 100; ++i) loc[absl::StrCat("junk", i)] = i;
  std::vector<v1::Rejection> out;
  EXPECT_FALSE(Validator().Validate(loc, "Location", &out, 20));
  EXPECT_EQ(out.size(), 20u);
}

TEST(FhirValidatorTest, RejectionValueIsTruncatedOnACharacterBoundary) {
  std::vector<v1::Rejection> out;
  std::string value(199, 'a');
  value += "\xC3\xA9\xC3\xA9";  // "éé": the 200th byte is inside a character
  AddRejection(&out, "Location.name", "x", value, "m");
  EXPECT_EQ(out[0].value(), std::string(199, 'a'));
}

TEST(FhirValidatorTest, RejectionTextIsValidUtf8) {
  std::vector<v1::Rejection> out;
  AddRejection(&out, "Location.name", "x", "ok \xff\xC3 end \xC3\xA9", "m \xE2\x82");
  EXPECT_EQ(out[0].value(), "ok ?? end \xC3\xA9");
  EXPECT_EQ(out[0].message(), "m ??");
}

}  // namespace
}  // namespace mflsync::mapper
