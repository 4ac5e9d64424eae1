#include "mapper/mapper.h"

#include <cstdint>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/fhir.h"
#include "common/json_access.h"

namespace mflsync::mapper {
namespace {

using Json = nlohmann::json;

// openIMIS column limits (tblHF).
constexpr size_t kMaxName = 100;
constexpr size_t kMaxAddress = 100;
constexpr size_t kMaxContact = 50;

// Characters (UTF-8 code points), as openIMIS counts its limits.
size_t CharCount(absl::string_view s) {
  size_t n = 0;
  for (char c : s)
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  return n;
}

// Trims and collapses runs of whitespace to one space; keeps case.
std::string CleanText(absl::string_view s) {
  std::string out;
  bool space = false;
  for (char c : s) {
    if (absl::ascii_isspace(static_cast<unsigned char>(c))) {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  return out;
}

// The first non-empty code in `system` among the CodeableConcepts at
// `resource`.`key` ("" when none); `path` is set to the FHIR path of the
// last coding in `system` looked at.
std::string FirstCodeInSystem(const Json& resource, const char* resource_name, const char* key,
                              const std::string& system, std::string* path) {
  auto concepts = resource.find(key);
  if (concepts == resource.end()) return "";
  for (size_t i = 0; i < concepts->size(); ++i) {
    auto codings = (*concepts)[i].find("coding");
    if (codings == (*concepts)[i].end()) continue;
    for (size_t j = 0; j < codings->size(); ++j) {
      if (StringAt((*codings)[j], "system") != system) continue;
      *path = absl::StrCat(resource_name, ".", key, "[", i, "].coding[", j, "].code");
      std::string code = StringAt((*codings)[j], "code");
      if (!code.empty()) return code;
      break;  // an empty code: look in the next concept
    }
  }
  return "";
}

// Parses a JSON text without exceptions; a rejection on failure.
bool ParseResource(const std::string& text, const std::string& what, Json* out,
                   std::vector<v1::Rejection>* rejections) {
  *out = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (out->is_discarded()) {
    absl::StatusOr<Json> again = ParseJson(text);  // for the byte offset
    AddRejection(rejections, what, "fhir.json.syntax", text,
                 absl::StrCat("The ", what, " is not valid JSON (",
                              again.ok() ? "syntax error" : again.status().message(), ")."));
    return false;
  }
  return true;
}

}  // namespace

Mapper::Mapper(const Mapping* mapping) : mapping_(mapping) {}

v1::MapFacilitiesResponse Mapper::MapBatch(const v1::MapFacilitiesRequest& request) const {
  v1::MapFacilitiesResponse response;
  response.mutable_results()->Reserve(request.records_size());
  for (const v1::SourceRecord& record : request.records())
    *response.add_results() = Map(record);
  return response;
}

std::string Mapper::HfCode(const std::string& national_id, const std::string& path,
                           std::vector<v1::Rejection>* out) const {
  if (const std::string* code = mapping_->CrosswalkCode(national_id)) return *code;
  if (CharCount(national_id) > mapping_->hf_code_max_length()) {
    AddRejection(out, path, "openimis.hf_code.max_length", national_id,
                 absl::StrCat("The national id '", national_id, "' has ",
                              CharCount(national_id), " characters but an openIMIS HF code has "
                              "at most ", mapping_->hf_code_max_length(),
                              ": add it to the crosswalk table of ", mapping_->source(), "."));
    return "";
  }
  if (const std::string* owner = mapping_->CrosswalkOwnerOfCode(national_id)) {
    AddRejection(out, path, "mapping.hf_code.conflict", national_id,
                 absl::StrCat("HF code '", national_id, "' is given to national id '", *owner,
                              "' by the crosswalk table of ", mapping_->source(),
                              ": give this facility its own crosswalk entry."));
    return "";
  }
  for (char c : national_id) {
    if (absl::ascii_isspace(static_cast<unsigned char>(c)) ||
        absl::ascii_iscntrl(static_cast<unsigned char>(c))) {
      AddRejection(out, path, "openimis.hf_code.syntax", national_id,
                   "An HF code must not contain spaces or control characters: add the "
                   "national id to the crosswalk table.");
      return "";
    }
  }
  return national_id;
}

void Mapper::MapDeleted(const v1::SourceRecord& record, v1::MappedRecord* out) const {
  std::vector<v1::Rejection> rejections;
  std::string national_id;
  const std::string& id = record.location_id();
  absl::string_view rest = id;
  if (mapping_->CrosswalkNationalIdOfLocation(id) == nullptr && mapping_->IsIgnoredDeletion(id)) {
    // A jurisdiction or other non-facility Location: nothing to deactivate.
    out->set_deactivation(true);
    out->mutable_facility()->set_active(false);
    return;
  }
  if (const std::string* nid = mapping_->CrosswalkNationalIdOfLocation(id)) {
    national_id = *nid;
  } else if (!mapping_->deleted_location_id_prefix().empty() &&
             absl::ConsumePrefix(&rest, mapping_->deleted_location_id_prefix()) &&
             !rest.empty()) {
    national_id = std::string(rest);
  } else {
    AddRejection(&rejections, "Location.id", "mapping.deleted.no_national_id", id,
                 absl::StrCat("The MFL deleted Location '", id,
                              "' and its national id cannot be derived from the id: add a "
                              "crosswalk entry with this location_id, or set "
                              "hf_code.deleted_location_id_prefix in ", mapping_->source(), "."));
  }
  std::string code;
  if (!national_id.empty()) code = HfCode(national_id, "Location.id", &rejections);
  if (!rejections.empty()) {
    for (auto& r : rejections) *out->add_rejections() = std::move(r);
    return;
  }
  out->set_deactivation(true);
  v1::HealthFacility* f = out->mutable_facility();
  f->set_code(code);
  f->set_active(false);
  f->set_national_id(absl::StrCat(mapping_->national_id_system(), "|", national_id));
}

// One record's mapping in progress: the parsed resources, the facility so
// far and every rule broken so far (all are reported at once).
struct Mapper::Work {
  Json loc;
  Json org;
  bool have_org = false;
  v1::HealthFacility f;
  std::vector<v1::Rejection> rej;
  const FacilityTypeEntry* type_entry = nullptr;
  std::string type_value;
};

v1::MappedRecord Mapper::Map(const v1::SourceRecord& record) const {
  v1::MappedRecord out;
  out.set_location_id(record.location_id());
  if (record.deleted()) {
    MapDeleted(record, &out);
    return out;
  }
  Work w;
  if (ParseAndValidate(record, w)) {
    MapNationalId(w);
    MapName(w);
    MapFacilityType(w);
    MapOwner(w);
    MapCareType(w);
    MapDistrict(w);
    MapAddress(w);
    MapContacts(w);
    const std::string status = StringAt(w.loc, "status");
    w.f.set_active(status.empty() || status == "active");
  }
  if (!w.rej.empty()) {
    for (auto& r : w.rej) *out.add_rejections() = std::move(r);
    return out;
  }
  *out.mutable_facility() = std::move(w.f);
  return out;
}

bool Mapper::ParseAndValidate(const v1::SourceRecord& record, Work& w) const {
  if (record.location_json().empty()) {
    AddRejection(&w.rej, "Location", "record.location.missing", "",
                 "The record carries no Location resource and is not a deletion.");
    return false;
  }
  if (!ParseResource(record.location_json(), "Location", &w.loc, &w.rej)) return false;
  validator_.Validate(w.loc, "Location", &w.rej);
  if (w.loc.is_object()) {
    std::string id = StringAt(w.loc, "id");
    if (id.empty()) {
      AddRejection(&w.rej, "Location.id", "fhir.required", "",
                   "Location.id is required to track the facility.");
    } else if (id != record.location_id()) {
      AddRejection(&w.rej, "Location.id", "record.location_id.mismatch", id,
                   absl::StrCat("Location.id '", id, "' differs from the record's location id '",
                                record.location_id(), "'."));
    }
  }
  if (!record.organization_json().empty()) {
    w.have_org = ParseResource(record.organization_json(), "Organization", &w.org, &w.rej);
    if (w.have_org) validator_.Validate(w.org, "Organization", &w.rej);
  }
  for (int i = 0; i < record.endpoint_json_size(); ++i) {
    Json ep;
    if (ParseResource(record.endpoint_json(i), "Endpoint", &ep, &w.rej))
      validator_.Validate(ep, "Endpoint", &w.rej);
  }
  return w.rej.empty();
}

void Mapper::MapNationalId(Work& w) const {
  const Mapping& m = *mapping_;
  std::string national_id;
  std::string national_path = "Location.identifier";
  if (auto ids = w.loc.find("identifier"); ids != w.loc.end()) {
    for (size_t i = 0; i < ids->size(); ++i) {
      const Json& ident = (*ids)[i];
      if (StringAt(ident, "system") != m.national_id_system()) continue;
      std::string value = StringAt(ident, "value");
      std::string path = absl::StrCat("Location.identifier[", i, "].value");
      if (value.empty()) {
        AddRejection(&w.rej, path, "mapping.national_id.missing", "",
                     absl::StrCat("The national identifier (system ", m.national_id_system(),
                                  ") has no value."));
      } else if (national_id.empty()) {
        national_id = value;
        national_path = path;
      } else if (value != national_id) {
        AddRejection(&w.rej, path, "mapping.national_id.ambiguous", value,
                     absl::StrCat("Two national identifiers ('", national_id, "' and '", value,
                                  "') in system ", m.national_id_system(), "."));
      }
    }
  }
  if (national_id.empty() && w.rej.empty()) {
    AddRejection(&w.rej, "Location.identifier", "mapping.national_id.missing", "",
                 absl::StrCat("No identifier with system ", m.national_id_system(),
                              " (national_id.system of ", m.source(), ")."));
  }
  if (!national_id.empty()) {
    w.f.set_code(HfCode(national_id, national_path, &w.rej));
    w.f.set_national_id(absl::StrCat(m.national_id_system(), "|", national_id));
  }
}

void Mapper::MapName(Work& w) const {
  std::string name = CleanText(StringAt(w.loc, "name"));
  if (name.empty()) {
    AddRejection(&w.rej, "Location.name", "openimis.name.missing", "",
                 "The facility has no name; openIMIS requires one.");
  } else if (CharCount(name) > kMaxName) {
    AddRejection(&w.rej, "Location.name", "openimis.name.max_length", name,
                 absl::StrCat("The name has ", CharCount(name),
                              " characters; openIMIS allows at most ", kMaxName, "."));
  }
  w.f.set_name(name);
}

void Mapper::MapFacilityType(Work& w) const {
  const Mapping& m = *mapping_;
  std::string type_path = "Location.type";
  w.type_value = FirstCodeInSystem(w.loc, "Location", "type", m.facility_type_system(), &type_path);
  const std::string& value = w.type_value;
  const FacilityTypeEntry* entry = nullptr;
  if (value.empty()) {
    AddRejection(&w.rej, type_path, "mapping.facility_type.missing", "",
                 absl::StrCat("No facility type coded in system ", m.facility_type_system(),
                              "; openIMIS needs a level."));
  } else if ((entry = m.FindFacilityType(value)) == nullptr) {
    AddRejection(&w.rej, type_path, "mapping.facility_type.unknown", value,
                 absl::StrCat("Facility type '", value, "' is not in the facility_types table of ",
                              m.source(), ": add it with its openIMIS level."));
  } else if (!entry->exclude_reason.empty()) {
    AddRejection(&w.rej, type_path, "mapping.facility_type.excluded", value,
                 absl::StrCat("Facility type '", value, "' is excluded by the "
                              "facility_types table of ", m.source(), ": ",
                              entry->exclude_reason, "."));
  } else {
    w.f.set_level(entry->level);
    w.type_entry = entry;
  }
}

void Mapper::MapOwner(Work& w) const {
  const Mapping& m = *mapping_;
  std::string owner, owner_path = "Location.managingOrganization";
  auto managing = w.loc.find("managingOrganization");
  if (w.have_org) {
    owner = FirstCodeInSystem(w.org, "Organization", "type", m.owner_system(), &owner_path);
    if (owner.empty()) owner_path = "Organization.type";
  }
  if (owner.empty() && m.owner_use_reference_display() && managing != w.loc.end()) {
    owner = StringAt(*managing, "display");
    owner_path = "Location.managingOrganization.display";
  }
  if (!owner.empty()) {
    if (const std::string* form = m.FindLegalForm(owner)) {
      w.f.set_legal_form(*form);
    } else {
      AddRejection(&w.rej, owner_path, "mapping.owner.unknown", owner,
                   absl::StrCat("Owner '", owner, "' is not in the owners table of ", m.source(),
                                ": add it with its openIMIS legal form."));
    }
  } else if (managing == w.loc.end()) {
    AddRejection(&w.rej, "Location.managingOrganization", "mapping.owner.missing", "",
                 "The facility names no managing organization (owner); openIMIS requires "
                 "a legal form.");
  } else if (!w.have_org) {
    std::string ref = StringAt(*managing, "reference");
    AddRejection(&w.rej, "Location.managingOrganization", "record.organization.unresolved", ref,
                 absl::StrCat("The managing organization ", ref,
                              " was not included with the Location, so the owner type is "
                              "unknown."));
  } else {
    AddRejection(&w.rej, owner_path, "mapping.owner.missing", "",
                 absl::StrCat("The managing organization has no type coded in system ",
                              m.owner_system(), "."));
  }
}

void Mapper::MapCareType(Work& w) const {
  const Mapping& m = *mapping_;
  bool inpatient = false, outpatient = false;
  if (w.type_entry != nullptr) {
    v1::CareType d = w.type_entry->default_care_type;
    inpatient = d == v1::CARE_TYPE_IN_PATIENT || d == v1::CARE_TYPE_BOTH;
    outpatient = d == v1::CARE_TYPE_OUT_PATIENT || d == v1::CARE_TYPE_BOTH;
  }
  if (auto exts = w.loc.find("extension"); exts != w.loc.end()) {
    for (const Json& ext : *exts) {
      if (StringAt(ext, "url") != m.services_extension_url()) continue;
      std::string code = StringAt(ext, "valueCode");
      if (code.empty()) code = StringAt(ext, "valueString");
      if (code.empty() && ext.contains("valueCoding")) code = StringAt(ext["valueCoding"], "code");
      inpatient = inpatient || m.IsInpatientService(code);
      outpatient = outpatient || m.IsOutpatientService(code);
    }
  }
  if (inpatient && outpatient) {
    w.f.set_care_type(v1::CARE_TYPE_BOTH);
  } else if (inpatient) {
    w.f.set_care_type(v1::CARE_TYPE_IN_PATIENT);
  } else if (outpatient) {
    w.f.set_care_type(v1::CARE_TYPE_OUT_PATIENT);
  } else if (w.type_entry != nullptr) {
    AddRejection(&w.rej, "Location.extension", "mapping.care_type.undetermined", w.type_value,
                 absl::StrCat("No in- or out-patient service is flagged (",
                              m.services_extension_url(), ") and facility type '", w.type_value,
                              "' has no default care_type in ", m.source(), "."));
  }
}

void Mapper::MapDistrict(Work& w) const {
  const Mapping& m = *mapping_;
  std::string part_of_ref, addr_state, addr_district;
  if (auto p = w.loc.find("partOf"); p != w.loc.end()) {
    std::string ref = StringAt(*p, "reference");
    absl::StatusOr<FhirReference> parsed = ParseFhirReference(ref);
    part_of_ref =
        parsed.ok() && parsed->type == "Location" ? absl::StrCat("Location/", parsed->id) : ref;
  }
  if (auto address = w.loc.find("address"); address != w.loc.end()) {
    addr_state = StringAt(*address, "state");
    addr_district = StringAt(*address, "district");
  }
  const DistrictEntry* district = nullptr;
  for (const std::string& source : m.area_sources()) {
    if (district != nullptr) break;
    if (source == "part_of" && !part_of_ref.empty())
      district = m.FindDistrictByPartOf(part_of_ref);
    if (source == "address" && !addr_district.empty())
      district = m.FindDistrictByAddress(addr_state, addr_district);
  }
  if (district != nullptr) {
    w.f.set_district_code(district->code);
  } else if (part_of_ref.empty() && addr_district.empty()) {
    AddRejection(&w.rej, "Location.partOf", "mapping.area.missing", "",
                 "The facility has neither partOf nor address.district: its openIMIS "
                 "district is unknown.");
  } else {
    std::string value = !part_of_ref.empty() ? part_of_ref
                                             : absl::StrCat(addr_state, " / ", addr_district);
    std::string also = part_of_ref.empty() || addr_district.empty()
                           ? ""
                           : absl::StrCat(" (address ", addr_state, " / ", addr_district, ")");
    AddRejection(&w.rej, !part_of_ref.empty() ? "Location.partOf" : "Location.address.district",
                 "mapping.area.unknown", value,
                 absl::StrCat("Area '", value, "'", also,
                              " is not in the areas.districts table of ", m.source(), "."));
  }
}

void Mapper::MapAddress(Work& w) const {
  auto address = w.loc.find("address");
  if (address == w.loc.end()) return;
  std::string text = CleanText(StringAt(*address, "text"));
  if (text.empty()) {
    std::vector<std::string> parts;
    if (auto lines = address->find("line"); lines != address->end())
      for (const Json& l : *lines)
        if (l.is_string()) parts.push_back(CleanText(l.get<std::string>()));
    for (const char* key : {"city", "district", "state"}) {
      std::string v = CleanText(StringAt(*address, key));
      if (!v.empty()) parts.push_back(v);
    }
    text = absl::StrJoin(parts, ", ");
  }
  if (CharCount(text) > kMaxAddress) {
    AddRejection(&w.rej, "Location.address", "openimis.address.max_length", text,
                 absl::StrCat("The address has ", CharCount(text),
                              " characters; openIMIS allows at most ", kMaxAddress,
                              " (set Location.address.text to a shorter form)."));
    return;
  }
  w.f.set_address(text);
}

// The first phone, fax and e-mail (lowest rank first).
void Mapper::MapContacts(Work& w) const {
  auto telecom = w.loc.find("telecom");
  if (telecom == w.loc.end()) return;
  struct Pick {
    const char* system;
    std::string value;
    int64_t rank = INT64_MAX;
    size_t index = 0;
  };
  Pick picks[] = {{"phone"}, {"fax"}, {"email"}};
  for (size_t i = 0; i < telecom->size(); ++i) {
    const Json& cp = (*telecom)[i];
    std::string system = StringAt(cp, "system"), value = StringAt(cp, "value");
    if (value.empty() || StringAt(cp, "use") == "old") continue;
    int64_t rank = cp.contains("rank") ? cp["rank"].get<int64_t>() : INT64_MAX - 1;
    for (Pick& p : picks)
      if (system == p.system && rank < p.rank) p.value = value, p.rank = rank, p.index = i;
  }
  for (const Pick& p : picks) {
    if (p.value.empty()) continue;
    const std::string path = absl::StrCat("Location.telecom[", p.index, "].value");
    const std::string system = p.system;
    if (CharCount(p.value) > kMaxContact) {
      AddRejection(&w.rej, path, absl::StrCat("openimis.", system, ".max_length"), p.value,
                   absl::StrCat("The ", system, " has ", CharCount(p.value),
                                " characters; openIMIS allows at most ", kMaxContact, "."));
    } else if (system == "email" && (p.value.find('@') == std::string::npos ||
                                     p.value.front() == '@' || p.value.back() == '@')) {
      AddRejection(&w.rej, path, "openimis.email.syntax", p.value,
                   "The e-mail address has no user@domain form.");
    } else if (system == "phone") {
      w.f.set_phone(p.value);
    } else if (system == "fax") {
      w.f.set_fax(p.value);
    } else {
      w.f.set_email(p.value);
    }
  }
}

}  // namespace mflsync::mapper
