#include "writer/openimis_fhir.h"

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/json_access.h"
#include "common/fhir.h"

namespace mflsync::writer {
namespace {

using mflsync::v1::CareType;
using mflsync::v1::FacilityLevel;
using mflsync::v1::HealthFacility;
using nlohmann::json;

constexpr char kIdentifierTypeSystem[] =
    "https://openimis.github.io/openimis_fhir_r4_ig/CodeSystem/"
    "openimis-identifiers";
constexpr char kSiteTypeSystem[] =
    "http://hl7.org/fhir/v3/ServiceDeliveryLocationRoleType/vs.html";
constexpr char kPhysicalTypeSystem[] =
    "http://terminology.hl7.org/CodeSystem/location-physical-type";
constexpr char kOrganizationTypeSystem[] =
    "http://terminology.hl7.org/CodeSystem/organization-type";

// element.coding[0].code, or "".
std::string FirstCode(const json& concept_json) {
  if (!concept_json.is_object()) return "";
  auto coding = concept_json.find("coding");
  if (coding == concept_json.end() || !coding->is_array() || coding->empty()) {
    return "";
  }
  return StringAt((*coding)[0], "code");
}

json Identifier(const std::string& type_code, const std::string& value) {
  return {{"type",
           {{"coding", json::array({{{"system", kIdentifierTypeSystem},
                                      {"code", type_code}}})}}},
          {"value", value}};
}

json CodedExtension(const std::string& suffix, const std::string& system,
                    const std::string& code) {
  return {{"url", absl::StrCat(kOpenImisIgBase, "StructureDefinition/", suffix)},
          {"valueCodeableConcept",
           {{"coding", json::array({{{"system", system}, {"code", code}}})}}}};
}

// Value of the first identifier whose type.coding[0].code is one of `types`.
std::string IdentifierOfType(const json& resource,
                             std::initializer_list<const char*> types) {
  auto ids = resource.find("identifier");
  if (ids == resource.end() || !ids->is_array()) return "";
  for (const char* type : types) {
    for (const json& id : *ids) {
      if (!id.is_object()) continue;
      auto t = id.find("type");
      if (t == id.end()) continue;
      if (FirstCode(*t) == type) return StringAt(id, "value");
    }
  }
  return "";
}

// The id of a resource: `id`, else its UUID-typed identifier.
std::string ResourceUuid(const json& resource) {
  std::string id = StringAt(resource, "id");
  if (!id.empty()) return id;
  return IdentifierOfType(resource, {"UUID"});
}

// The UUID a Reference points to: identifier.value, else the id part of
// `reference` ("Location/<uuid>").
std::string ReferencedUuid(const json& reference, absl::string_view type) {
  if (!reference.is_object()) return "";
  auto ident = reference.find("identifier");
  if (ident != reference.end() && ident->is_object()) {
    std::string ident_type;
    auto t = ident->find("type");
    if (t != ident->end()) ident_type = FirstCode(*t);
    if (ident_type.empty() || ident_type == "UUID") {
      std::string value = StringAt(*ident, "value");
      if (!value.empty()) return value;
    }
  }
  std::string ref = StringAt(reference, "reference");
  if (ref.empty()) return "";
  absl::StatusOr<FhirReference> parsed = ParseFhirReference(ref);
  if (!parsed.ok() || parsed->type != type) return "";
  return parsed->id;
}

// valueCodeableConcept.coding[0].code of the first extension whose url ends
// with `suffix`.
std::string ExtensionCode(const json& resource, absl::string_view suffix) {
  auto exts = resource.find("extension");
  if (exts == resource.end() || !exts->is_array()) return "";
  for (const json& ext : *exts) {
    if (!ext.is_object()) continue;
    if (!absl::EndsWith(StringAt(ext, "url"), suffix)) continue;
    auto value = ext.find("valueCodeableConcept");
    if (value == ext.end()) return "";
    return FirstCode(*value);
  }
  return "";
}

absl::Status Missing(absl::string_view resource, absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("openIMIS ", resource, " without ", what));
}

}  // namespace

std::string LevelCode(FacilityLevel level) {
  switch (level) {
    case mflsync::v1::FACILITY_LEVEL_DISPENSARY: return "D";
    case mflsync::v1::FACILITY_LEVEL_HEALTH_CENTRE: return "C";
    case mflsync::v1::FACILITY_LEVEL_HOSPITAL: return "H";
    default: return "";
  }
}

std::string CareTypeCode(CareType care_type) {
  switch (care_type) {
    case mflsync::v1::CARE_TYPE_IN_PATIENT: return "I";
    case mflsync::v1::CARE_TYPE_OUT_PATIENT: return "O";
    case mflsync::v1::CARE_TYPE_BOTH: return "B";
    default: return "";
  }
}

FacilityLevel LevelFromCode(absl::string_view code) {
  if (code == "D") return mflsync::v1::FACILITY_LEVEL_DISPENSARY;
  if (code == "C") return mflsync::v1::FACILITY_LEVEL_HEALTH_CENTRE;
  if (code == "H") return mflsync::v1::FACILITY_LEVEL_HOSPITAL;
  return mflsync::v1::FACILITY_LEVEL_UNSPECIFIED;
}

CareType CareTypeFromCode(absl::string_view code) {
  if (code == "I") return mflsync::v1::CARE_TYPE_IN_PATIENT;
  if (code == "O") return mflsync::v1::CARE_TYPE_OUT_PATIENT;
  if (code == "B") return mflsync::v1::CARE_TYPE_BOTH;
  return mflsync::v1::CARE_TYPE_UNSPECIFIED;
}

namespace {

// Location (si) type code for a level; "" when unspecified.
std::string SiteTypeCode(FacilityLevel level) {
  switch (level) {
    case mflsync::v1::FACILITY_LEVEL_DISPENSARY: return "COMM";
    case mflsync::v1::FACILITY_LEVEL_HEALTH_CENTRE: return "OF";
    case mflsync::v1::FACILITY_LEVEL_HOSPITAL: return "HOSP";
    default: return "";
  }
}

FacilityLevel LevelFromSiteType(absl::string_view code) {
  if (code == "COMM") return mflsync::v1::FACILITY_LEVEL_DISPENSARY;
  if (code == "OF") return mflsync::v1::FACILITY_LEVEL_HEALTH_CENTRE;
  if (code == "HOSP") return mflsync::v1::FACILITY_LEVEL_HOSPITAL;
  return mflsync::v1::FACILITY_LEVEL_UNSPECIFIED;
}

json DistrictReference(const std::string& district_uuid) {
  return {{"reference", absl::StrCat("Location/", district_uuid)},
          {"type", "Location"},
          {"identifier", Identifier("UUID", district_uuid)}};
}

}  // namespace

json OrganizationBody(const HealthFacility& facility) {
  json body = {{"resourceType", "Organization"}};
  json identifiers = json::array();
  if (!facility.uuid().empty()) {
    body["id"] = facility.uuid();
    identifiers.push_back(Identifier("UUID", facility.uuid()));
  }
  identifiers.push_back(Identifier("Code", facility.code()));
  body["identifier"] = std::move(identifiers);
  body["type"] = json::array(
      {{{"coding", json::array({{{"system", kOrganizationTypeSystem},
                                 {"code", "prov"}}})}}});
  body["name"] = facility.name();
  // Unspecified codes are left out on purpose: openIMIS then answers with
  // its own message ("Extension with HF care type not found", ...).
  json extensions = json::array();
  const std::string legal_form = facility.legal_form();
  if (!legal_form.empty()) {
    extensions.push_back(CodedExtension("organization-legal-form",
                                        "CodeSystem/organization-legal-form",
                                        legal_form));
  }
  const std::string level = LevelCode(facility.level());
  if (!level.empty()) {
    extensions.push_back(CodedExtension(
        "organization-hf-level",
        absl::StrCat(kOpenImisIgBase, "CodeSystem/organization-hf-level"), level));
  }
  const std::string care = CareTypeCode(facility.care_type());
  if (!care.empty()) {
    extensions.push_back(CodedExtension(
        "organization-hf-care-type",
        absl::StrCat(kOpenImisIgBase, "CodeSystem/organization-hf-care-type"),
        care));
  }
  body["extension"] = std::move(extensions);
  json address = {{"type", "physical"}, {"use", "work"}};
  if (!facility.address().empty()) {
    address["line"] = json::array({facility.address()});
  }
  address["extension"] = json::array(
      {{{"url", absl::StrCat(kOpenImisIgBase,
                             "StructureDefinition/address-location-reference")},
        {"valueReference", DistrictReference(facility.district_uuid())}}});
  body["address"] = json::array({std::move(address)});
  json telecom = json::array();
  if (!facility.phone().empty()) {
    telecom.push_back({{"system", "phone"}, {"value", facility.phone()}});
  }
  if (!facility.fax().empty()) {
    telecom.push_back({{"system", "fax"}, {"value", facility.fax()}});
  }
  if (!facility.email().empty()) {
    telecom.push_back({{"system", "email"}, {"value", facility.email()}});
  }
  if (!telecom.empty()) body["telecom"] = std::move(telecom);
  return body;
}

json LocationSiteBody(const HealthFacility& facility) {
  json body = {{"resourceType", "Location"}};
  json identifiers = json::array();
  if (!facility.uuid().empty()) {
    body["id"] = facility.uuid();
    identifiers.push_back(Identifier("UUID", facility.uuid()));
  }
  identifiers.push_back(Identifier("FI", facility.code()));
  body["identifier"] = std::move(identifiers);
  body["name"] = facility.name();
  body["status"] = facility.active() ? "active" : "inactive";
  body["mode"] = "instance";
  body["type"] = json::array(
      {{{"coding", json::array({{{"system", kSiteTypeSystem},
                                 {"code", SiteTypeCode(facility.level())}}})}}});
  body["physicalType"] = {
      {"coding", json::array({{{"system", kPhysicalTypeSystem}, {"code", "si"}}})},
      {"text", "site"}};
  if (!facility.district_uuid().empty()) {
    json part_of = DistrictReference(facility.district_uuid());
    if (!facility.district_code().empty()) {
      part_of["display"] = facility.district_code();
    }
    body["partOf"] = std::move(part_of);
  }
  return body;
}

absl::StatusOr<HealthFacility> FacilityFromLocation(const json& location) {
  if (!location.is_object() || StringAt(location, "resourceType") != "Location") {
    return absl::InvalidArgumentError(
        "expected a Location resource from openIMIS, got something else");
  }
  HealthFacility facility;
  facility.set_uuid(ResourceUuid(location));
  if (facility.uuid().empty()) return Missing("facility Location", "an id");
  facility.set_code(IdentifierOfType(location, {"FI"}));
  if (facility.code().empty()) {
    return Missing(absl::StrCat("facility Location ", facility.uuid()),
                   "an FI-typed code identifier");
  }
  facility.set_name(StringAt(location, "name"));
  auto types = location.find("type");
  if (types != location.end() && types->is_array() && !types->empty()) {
    facility.set_level(LevelFromSiteType(FirstCode((*types)[0])));
  }
  auto part_of = location.find("partOf");
  if (part_of != location.end()) {
    facility.set_district_uuid(ReferencedUuid(*part_of, "Location"));
    facility.set_district_code(StringAt(*part_of, "display"));
  }
  const std::string status = StringAt(location, "status");
  facility.set_active(status.empty() || status == "active");
  return facility;
}

absl::StatusOr<HealthFacility> FacilityFromOrganization(const json& org) {
  if (!org.is_object() || StringAt(org, "resourceType") != "Organization") {
    return absl::InvalidArgumentError(
        "expected an Organization resource from openIMIS, got something else");
  }
  HealthFacility facility;
  facility.set_uuid(ResourceUuid(org));
  if (facility.uuid().empty()) return Missing("Organization", "an id");
  facility.set_code(IdentifierOfType(org, {"Code", "LC"}));
  if (facility.code().empty()) {
    return Missing(absl::StrCat("Organization ", facility.uuid()),
                   "a code identifier (type Code or LC)");
  }
  facility.set_name(StringAt(org, "name"));
  facility.set_level(LevelFromCode(ExtensionCode(org, "organization-hf-level")));
  facility.set_care_type(
      CareTypeFromCode(ExtensionCode(org, "organization-hf-care-type")));
  facility.set_legal_form(ExtensionCode(org, "organization-legal-form"));
  auto addresses = org.find("address");
  if (addresses != org.end() && addresses->is_array() && !addresses->empty() &&
      (*addresses)[0].is_object()) {
    const json& address = (*addresses)[0];
    auto lines = address.find("line");
    if (lines != address.end() && lines->is_array() && !lines->empty() &&
        (*lines)[0].is_string()) {
      facility.set_address((*lines)[0].get<std::string>());
    }
    auto exts = address.find("extension");
    if (exts != address.end() && exts->is_array()) {
      for (const json& ext : *exts) {
        if (!ext.is_object() ||
            !absl::StrContains(StringAt(ext, "url"), "address-location-reference")) {
          continue;
        }
        auto ref = ext.find("valueReference");
        // openIMIS has a bug that puts the HF Organization itself here: only
        // a reference typed Location names the district.
        if (ref != ext.end() && ref->is_object() &&
            absl::StartsWith(StringAt(*ref, "reference"), "Location/")) {
          facility.set_district_uuid(ReferencedUuid(*ref, "Location"));
          facility.set_district_code(StringAt(*ref, "display"));
        }
        break;
      }
    }
  }
  auto telecom = org.find("telecom");
  if (telecom != org.end() && telecom->is_array()) {
    for (const json& point : *telecom) {
      const std::string system = StringAt(point, "system");
      const std::string value = StringAt(point, "value");
      if (system == "phone" && facility.phone().empty()) facility.set_phone(value);
      if (system == "fax" && facility.fax().empty()) facility.set_fax(value);
      if (system == "email" && facility.email().empty()) facility.set_email(value);
    }
  }
  facility.set_active(true);
  return facility;
}

absl::StatusOr<Area> AreaFromLocation(const json& location) {
  if (!location.is_object() || StringAt(location, "resourceType") != "Location") {
    return absl::InvalidArgumentError(
        "expected an area Location from openIMIS, got something else");
  }
  Area area;
  area.uuid = ResourceUuid(location);
  if (area.uuid.empty()) return Missing("area Location", "an id");
  area.code = IdentifierOfType(location, {"LC", "Code"});
  if (area.code.empty()) {
    return Missing(absl::StrCat("area Location ", area.uuid),
                   "a code identifier (type LC or Code)");
  }
  area.name = StringAt(location, "name");
  auto physical = location.find("physicalType");
  if (physical != location.end()) area.type = FirstCode(*physical);
  auto part_of = location.find("partOf");
  if (part_of != location.end()) {
    area.parent_uuid = ReferencedUuid(*part_of, "Location");
  }
  return area;
}

}  // namespace mflsync::writer
