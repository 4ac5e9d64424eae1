#include "mapper/mapper.h"

#include <cstdint>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/fhir.h"

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

std::string StringAt(const Json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
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

v1::MappedRecord Mapper::Map(const v1::SourceRecord& record) const {
  v1::MappedRecord out;
  out.set_location_id(record.location_id());
  if (record.deleted()) {
    MapDeleted(record, &out);
    return out;
  }
  std::vector<v1::Rejection> rej;
  auto finish = [&]() {
    for (auto& r : rej) *out.add_rejections() = std::move(r);
    out.clear_facility();
    return out;
  };
  if (record.location_json().empty()) {
    AddRejection(&rej, "Location", "record.location.missing", "",
                 "The record carries no Location resource and is not a deletion.");
    return finish();
  }
  Json loc;
  if (!ParseResource(record.location_json(), "Location", &loc, &rej)) return finish();
  validator_.Validate(loc, "Location", &rej);
  if (loc.is_object()) {
    std::string id = StringAt(loc, "id");
    if (id.empty()) {
      AddRejection(&rej, "Location.id", "fhir.required", "",
                   "Location.id is required to track the facility.");
    } else if (id != record.location_id()) {
      AddRejection(&rej, "Location.id", "record.location_id.mismatch", id,
                   absl::StrCat("Location.id '", id, "' differs from the record's location id '",
                                record.location_id(), "'."));
    }
  }
  Json org;
  bool have_org = false;
  if (!record.organization_json().empty()) {
    have_org = ParseResource(record.organization_json(), "Organization", &org, &rej);
    if (have_org) validator_.Validate(org, "Organization", &rej);
  }
  for (int i = 0; i < record.endpoint_json_size(); ++i) {
    Json ep;
    if (ParseResource(record.endpoint_json(i), "Endpoint", &ep, &rej))
      validator_.Validate(ep, "Endpoint", &rej);
  }
  if (!rej.empty()) return finish();

  const Mapping& m = *mapping_;
  v1::HealthFacility f;

  // National id and HF code.
  std::string national_id;
  std::string national_path = "Location.identifier";
  if (auto ids = loc.find("identifier"); ids != loc.end()) {
    for (size_t i = 0; i < ids->size(); ++i) {
      const Json& ident = (*ids)[i];
      if (StringAt(ident, "system") != m.national_id_system()) continue;
      std::string value = StringAt(ident, "value");
      std::string path = absl::StrCat("Location.identifier[", i, "].value");
      if (value.empty()) {
        AddRejection(&rej, path, "mapping.national_id.missing", "",
                     absl::StrCat("The national identifier (system ", m.national_id_system(),
                                  ") has no value."));
      } else if (national_id.empty()) {
        national_id = value;
        national_path = path;
      } else if (value != national_id) {
        AddRejection(&rej, path, "mapping.national_id.ambiguous", value,
                     absl::StrCat("Two national identifiers ('", national_id, "' and '", value,
                                  "') in system ", m.national_id_system(), "."));
      }
    }
  }
  if (national_id.empty() && rej.empty()) {
    AddRejection(&rej, "Location.identifier", "mapping.national_id.missing", "",
                 absl::StrCat("No identifier with system ", m.national_id_system(),
                              " (national_id.system of ", m.source(), ")."));
  }
  if (!national_id.empty()) {
    f.set_code(HfCode(national_id, national_path, &rej));
    f.set_national_id(absl::StrCat(m.national_id_system(), "|", national_id));
  }

  // Name.
  std::string name = CleanText(StringAt(loc, "name"));
  if (name.empty()) {
    AddRejection(&rej, "Location.name", "openimis.name.missing", "",
                 "The facility has no name; openIMIS requires one.");
  } else if (CharCount(name) > kMaxName) {
    AddRejection(&rej, "Location.name", "openimis.name.max_length", name,
                 absl::StrCat("The name has ", CharCount(name),
                              " characters; openIMIS allows at most ", kMaxName, "."));
  }
  f.set_name(name);

  // Facility type → level (and its default care type).
  const FacilityTypeEntry* type_entry = nullptr;
  std::string type_value, type_path = "Location.type";
  if (auto types = loc.find("type"); types != loc.end()) {
    for (size_t i = 0; i < types->size() && type_value.empty(); ++i) {
      auto codings = (*types)[i].find("coding");
      if (codings == (*types)[i].end()) continue;
      for (size_t j = 0; j < codings->size(); ++j) {
        if (StringAt((*codings)[j], "system") != m.facility_type_system()) continue;
        type_value = StringAt((*codings)[j], "code");
        type_path = absl::StrCat("Location.type[", i, "].coding[", j, "].code");
        break;
      }
    }
  }
  if (type_value.empty()) {
    AddRejection(&rej, type_path, "mapping.facility_type.missing", "",
                 absl::StrCat("No facility type coded in system ", m.facility_type_system(),
                              "; openIMIS needs a level."));
  } else if ((type_entry = m.FindFacilityType(type_value)) == nullptr) {
    AddRejection(&rej, type_path, "mapping.facility_type.unknown", type_value,
                 absl::StrCat("Facility type '", type_value,
                              "' is not in the facility_types table of ", m.source(),
                              ": add it with its openIMIS level."));
  } else if (!type_entry->exclude_reason.empty()) {
    AddRejection(&rej, type_path, "mapping.facility_type.excluded", type_value,
                 absl::StrCat("Facility type '", type_value, "' is excluded by the "
                              "facility_types table of ", m.source(), ": ",
                              type_entry->exclude_reason, "."));
    type_entry = nullptr;
  } else {
    f.set_level(type_entry->level);
  }

  // Owner → legal form.
  std::string owner, owner_path = "Location.managingOrganization";
  auto managing = loc.find("managingOrganization");
  if (have_org) {
    if (auto types = org.find("type"); types != org.end()) {
      for (size_t i = 0; i < types->size() && owner.empty(); ++i) {
        auto codings = (*types)[i].find("coding");
        if (codings == (*types)[i].end()) continue;
        for (size_t j = 0; j < codings->size(); ++j) {
          if (StringAt((*codings)[j], "system") != m.owner_system()) continue;
          owner = StringAt((*codings)[j], "code");
          owner_path = absl::StrCat("Organization.type[", i, "].coding[", j, "].code");
          break;
        }
      }
    }
    if (owner.empty()) owner_path = "Organization.type";
  }
  if (owner.empty() && m.owner_use_reference_display() && managing != loc.end()) {
    owner = StringAt(*managing, "display");
    owner_path = "Location.managingOrganization.display";
  }
  if (owner.empty()) {
    if (managing == loc.end()) {
      AddRejection(&rej, "Location.managingOrganization", "mapping.owner.missing", "",
                   "The facility names no managing organization (owner); openIMIS requires "
                   "a legal form.");
    } else if (!have_org) {
      std::string ref = StringAt(*managing, "reference");
      AddRejection(&rej, "Location.managingOrganization", "record.organization.unresolved", ref,
                   absl::StrCat("The managing organization ", ref,
                                " was not included with the Location, so the owner type is "
                                "unknown."));
    } else {
      AddRejection(&rej, owner_path, "mapping.owner.missing", "",
                   absl::StrCat("The managing organization has no type coded in system ",
                                m.owner_system(), "."));
    }
  } else if (const std::string* form = m.FindLegalForm(owner)) {
    f.set_legal_form(*form);
  } else {
    AddRejection(&rej, owner_path, "mapping.owner.unknown", owner,
                 absl::StrCat("Owner '", owner, "' is not in the owners table of ", m.source(),
                              ": add it with its openIMIS legal form."));
  }

  // Services → care type.
  bool inpatient = false, outpatient = false;
  if (type_entry != nullptr) {
    v1::CareType d = type_entry->default_care_type;
    inpatient = d == v1::CARE_TYPE_IN_PATIENT || d == v1::CARE_TYPE_BOTH;
    outpatient = d == v1::CARE_TYPE_OUT_PATIENT || d == v1::CARE_TYPE_BOTH;
  }
  if (auto exts = loc.find("extension"); exts != loc.end()) {
    for (const Json& ext : *exts) {
      if (StringAt(ext, "url") != m.services_extension_url()) continue;
      std::string code = StringAt(ext, "valueCode");
      if (code.empty()) code = StringAt(ext, "valueString");
      if (code.empty() && ext.contains("valueCoding")) code = StringAt(ext["valueCoding"], "code");
      inpatient = inpatient || m.IsInpatientService(code);
      outpatient = outpatient || m.IsOutpatientService(code);
    }
  }
  if (inpatient && outpatient) f.set_care_type(v1::CARE_TYPE_BOTH);
  else if (inpatient) f.set_care_type(v1::CARE_TYPE_IN_PATIENT);
  else if (outpatient) f.set_care_type(v1::CARE_TYPE_OUT_PATIENT);
  else if (type_entry != nullptr)
    AddRejection(&rej, "Location.extension", "mapping.care_type.undetermined", type_value,
                 absl::StrCat("No in- or out-patient service is flagged (", m.services_extension_url(),
                              ") and facility type '", type_value,
                              "' has no default care_type in ", m.source(), "."));

  // Area → district.
  const DistrictEntry* district = nullptr;
  std::string part_of_ref, addr_state, addr_district;
  if (auto p = loc.find("partOf"); p != loc.end()) {
    std::string ref = StringAt(*p, "reference");
    absl::StatusOr<FhirReference> parsed = ParseFhirReference(ref);
    if (parsed.ok() && parsed->type == "Location")
      part_of_ref = absl::StrCat("Location/", parsed->id);
    else
      part_of_ref = ref;
  }
  auto address = loc.find("address");
  if (address != loc.end()) {
    addr_state = StringAt(*address, "state");
    addr_district = StringAt(*address, "district");
  }
  for (const std::string& source : m.area_sources()) {
    if (district != nullptr) break;
    if (source == "part_of" && !part_of_ref.empty())
      district = m.FindDistrictByPartOf(part_of_ref);
    if (source == "address" && !addr_district.empty())
      district = m.FindDistrictByAddress(addr_state, addr_district);
  }
  if (district != nullptr) {
    f.set_district_code(district->code);
  } else if (part_of_ref.empty() && addr_district.empty()) {
    AddRejection(&rej, "Location.partOf", "mapping.area.missing", "",
                 "The facility has neither partOf nor address.district: its openIMIS "
                 "district is unknown.");
  } else {
    std::string value = !part_of_ref.empty() ? part_of_ref
                                             : absl::StrCat(addr_state, " / ", addr_district);
    AddRejection(&rej, !part_of_ref.empty() ? "Location.partOf" : "Location.address.district",
                 "mapping.area.unknown", value,
                 absl::StrCat("Area '", value, "'", part_of_ref.empty() || addr_district.empty()
                                                        ? ""
                                                        : absl::StrCat(" (address ", addr_state,
                                                                       " / ", addr_district, ")"),
                              " is not in the areas.districts table of ", m.source(), "."));
  }

  // Address text.
  if (address != loc.end()) {
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
      AddRejection(&rej, "Location.address", "openimis.address.max_length", text,
                   absl::StrCat("The address has ", CharCount(text),
                                " characters; openIMIS allows at most ", kMaxAddress,
                                " (set Location.address.text to a shorter form)."));
    } else {
      f.set_address(text);
    }
  }

  // Contacts: the first phone, fax and e-mail (lowest rank first).
  if (auto telecom = loc.find("telecom"); telecom != loc.end()) {
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
      std::string path = absl::StrCat("Location.telecom[", p.index, "].value");
      if (CharCount(p.value) > kMaxContact) {
        AddRejection(&rej, path, absl::StrCat("openimis.", p.system, ".max_length"), p.value,
                     absl::StrCat("The ", p.system, " has ", CharCount(p.value),
                                  " characters; openIMIS allows at most ", kMaxContact, "."));
        continue;
      }
      if (std::string(p.system) == "email" &&
          (p.value.find('@') == std::string::npos || p.value.front() == '@' ||
           p.value.back() == '@')) {
        AddRejection(&rej, path, "openimis.email.syntax", p.value,
                     "The e-mail address has no user@domain form.");
        continue;
      }
      if (std::string(p.system) == "phone") f.set_phone(p.value);
      else if (std::string(p.system) == "fax") f.set_fax(p.value);
      else f.set_email(p.value);
    }
  }

  // Status.
  std::string status = StringAt(loc, "status");
  f.set_active(status.empty() || status == "active");

  if (!rej.empty()) return finish();
  *out.mutable_facility() = std::move(f);
  return out;
}

}  // namespace mflsync::mapper
