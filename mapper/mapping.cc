#include "mapper/mapping.h"

#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/fhir.h"

namespace mflsync::mapper {
namespace {

using Json = nlohmann::json;

// Walks the document, remembering where it is, so that every error names the
// file, the table and the entry.
class Reader {
 public:
  explicit Reader(std::string source) : source_(std::move(source)) {}

  absl::Status Error(const std::string& where, absl::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat("mapping file ", source_, ": ", where, ": ", what));
  }

  // Every key of `obj` must be in `allowed`.
  absl::Status OnlyKeys(const Json& obj, const std::string& where,
                        std::initializer_list<absl::string_view> allowed) const {
    for (auto it = obj.begin(); it != obj.end(); ++it) {
      bool ok = false;
      for (absl::string_view a : allowed) ok = ok || it.key() == a;
      if (!ok)
        return Error(where.empty() ? it.key() : absl::StrCat(where, ".", it.key()),
                     absl::StrCat("unknown key (allowed: ", absl::StrJoin(allowed, ", "),
                                  ")"));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<const Json*> Object(const Json& parent, const std::string& key,
                                     const std::string& where, bool required) const {
    return Member(parent, key, where, required, &Json::is_object, "must be a JSON object");
  }

  absl::StatusOr<const Json*> Array(const Json& parent, const std::string& key,
                                    const std::string& where, bool required) const {
    return Member(parent, key, where, required, &Json::is_array, "must be a JSON array");
  }

  // parent[key] when it has the JSON type `is_type` checks; null when it is
  // absent and optional.
  absl::StatusOr<const Json*> Member(const Json& parent, const std::string& key,
                                     const std::string& where, bool required,
                                     bool (Json::*is_type)() const noexcept,
                                     absl::string_view must_be) const {
    auto it = parent.find(key);
    std::string at = where.empty() ? key : absl::StrCat(where, ".", key);
    if (it == parent.end()) {
      if (required) return Error(at, "missing (required)");
      return nullptr;
    }
    if (!((*it).*is_type)()) return Error(at, must_be);
    return &*it;
  }

  absl::StatusOr<std::string> String(const Json& parent, const std::string& key,
                                     const std::string& where, bool required) const {
    auto it = parent.find(key);
    std::string at = where.empty() ? key : absl::StrCat(where, ".", key);
    if (it == parent.end()) {
      if (required) return Error(at, "missing (required)");
      return std::string();
    }
    if (!it->is_string()) return Error(at, "must be a string");
    std::string s = it->get<std::string>();
    if (required && absl::StripAsciiWhitespace(s).empty()) return Error(at, "must not be empty");
    return s;
  }

  absl::StatusOr<bool> Bool(const Json& parent, const std::string& key,
                            const std::string& where, bool default_value) const {
    auto it = parent.find(key);
    if (it == parent.end()) return default_value;
    if (!it->is_boolean())
      return Error(absl::StrCat(where, ".", key), "must be true or false");
    return it->get<bool>();
  }

  absl::StatusOr<std::vector<std::string>> Strings(const Json& parent, const std::string& key,
                                                   const std::string& where) const {
    std::vector<std::string> out;
    auto arr = Array(parent, key, where, false);
    if (!arr.ok()) return arr.status();
    if (*arr == nullptr) return out;
    for (size_t i = 0; i < (*arr)->size(); ++i) {
      const Json& v = (**arr)[i];
      if (!v.is_string() || v.get<std::string>().empty())
        return Error(absl::StrCat(where, ".", key, "[", i, "]"), "must be a non-empty string");
      out.push_back(v.get<std::string>());
    }
    return out;
  }

 private:
  std::string source_;
};

#define MFLSYNC_ASSIGN(lhs, expr)      \
  do {                                 \
    auto _r = (expr);                  \
    if (!_r.ok()) return _r.status();  \
    lhs = std::move(*_r);              \
  } while (0)

#define MFLSYNC_RETURN_IF_ERROR(expr)  \
  do {                                 \
    absl::Status _s = (expr);          \
    if (!_s.ok()) return _s;           \
  } while (0)

bool ParseLevel(absl::string_view code, v1::FacilityLevel* level) {
  if (code == "COMM") *level = v1::FACILITY_LEVEL_DISPENSARY;
  else if (code == "OF") *level = v1::FACILITY_LEVEL_HEALTH_CENTRE;
  else if (code == "HOSP") *level = v1::FACILITY_LEVEL_HOSPITAL;
  else return false;
  return true;
}

bool ParseCareType(absl::string_view code, v1::CareType* care) {
  if (code == "I") *care = v1::CARE_TYPE_IN_PATIENT;
  else if (code == "O") *care = v1::CARE_TYPE_OUT_PATIENT;
  else if (code == "B") *care = v1::CARE_TYPE_BOTH;
  else return false;
  return true;
}

}  // namespace

absl::string_view LevelLetter(v1::FacilityLevel level) {
  switch (level) {
    case v1::FACILITY_LEVEL_DISPENSARY: return "D";
    case v1::FACILITY_LEVEL_HEALTH_CENTRE: return "C";
    case v1::FACILITY_LEVEL_HOSPITAL: return "H";
    default: return "";
  }
}

absl::string_view CareTypeLetter(v1::CareType care_type) {
  switch (care_type) {
    case v1::CARE_TYPE_IN_PATIENT: return "I";
    case v1::CARE_TYPE_OUT_PATIENT: return "O";
    case v1::CARE_TYPE_BOTH: return "B";
    default: return "";
  }
}

absl::StatusOr<Mapping> Mapping::LoadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return absl::NotFoundError(absl::StrCat("mapping file ", path, ": cannot be read"));
  std::stringstream buffer;
  buffer << in.rdbuf();
  absl::StatusOr<Json> doc = ParseJson(buffer.str());
  if (!doc.ok())
    return absl::InvalidArgumentError(
        absl::StrCat("mapping file ", path, ": ", doc.status().message()));
  return FromJson(*doc, path);
}

std::string Mapping::Normalise(absl::string_view value) const {
  std::string out;
  out.reserve(value.size());
  bool pending_space = false;
  for (char c : value) {
    unsigned char u = static_cast<unsigned char>(c);
    if (ignore_punctuation_ && absl::ascii_ispunct(u)) c = ' ', u = ' ';
    if (absl::ascii_isspace(u)) {
      if (collapse_spaces_) {
        pending_space = !out.empty();
        continue;
      }
    }
    if (pending_space) {
      out.push_back(' ');
      pending_space = false;
    }
    out.push_back(fold_case_ ? absl::ascii_tolower(u) : c);
  }
  if (!collapse_spaces_) return std::string(absl::StripAsciiWhitespace(out));
  return out;
}

// Reads the sections of a mapping file into a Mapping, one function a
// section, in the order a later section needs an earlier one (normalisation
// first: the tables' keys are normalised).
class MappingLoader {
 public:
  MappingLoader(Mapping& m, const std::string& source) : m_(m), r_(source) {}

  absl::Status Load(const Json& doc) {
    MFLSYNC_RETURN_IF_ERROR(ReadHeader(doc));
    MFLSYNC_RETURN_IF_ERROR(ReadNormalisation(doc));
    MFLSYNC_RETURN_IF_ERROR(ReadNationalIdAndHfCode(doc));
    MFLSYNC_RETURN_IF_ERROR(ReadFacilityTypes(doc));
    MFLSYNC_RETURN_IF_ERROR(ReadOwners(doc));
    MFLSYNC_RETURN_IF_ERROR(ReadServices(doc));
    MFLSYNC_RETURN_IF_ERROR(ReadAreas(doc));
    return ReadCrosswalk(doc);
  }

 private:
  absl::Status ReadHeader(const Json& doc) {
    if (!doc.is_object()) return r_.Error("(top level)", "must be a JSON object");
    MFLSYNC_RETURN_IF_ERROR(r_.OnlyKeys(
        doc, "",
        {"schema_version", "name", "description", "normalisation", "national_id", "hf_code",
         "facility_type", "facility_types", "owner", "owners", "legal_forms", "services",
         "areas", "crosswalk"}));
    auto version = doc.find("schema_version");
    if (version == doc.end() || !version->is_number_integer())
      return r_.Error("schema_version", "missing or not an integer");
    m_.schema_version_ = version->get<int>();
    if (m_.schema_version_ != kMappingSchemaVersion)
      return r_.Error("schema_version",
                     absl::StrCat(m_.schema_version_, " is not supported (this mflsync reads ",
                                  kMappingSchemaVersion, ")"));
    MFLSYNC_ASSIGN(m_.name_, r_.String(doc, "name", "", true));
    if (doc.contains("description") && !doc["description"].is_string())
      return r_.Error("description", "must be a string");
    return absl::OkStatus();
  }

  absl::Status ReadNormalisation(const Json& doc) {
    const Json* norm;
    MFLSYNC_ASSIGN(norm, r_.Object(doc, "normalisation", "", false));
    if (norm) {
      MFLSYNC_RETURN_IF_ERROR(r_.OnlyKeys(*norm, "normalisation",
                                         {"fold_case", "collapse_spaces", "ignore_punctuation"}));
      MFLSYNC_ASSIGN(m_.fold_case_, r_.Bool(*norm, "fold_case", "normalisation", true));
      MFLSYNC_ASSIGN(m_.collapse_spaces_, r_.Bool(*norm, "collapse_spaces", "normalisation", true));
      MFLSYNC_ASSIGN(m_.ignore_punctuation_,
                     r_.Bool(*norm, "ignore_punctuation", "normalisation", false));
    }
    return absl::OkStatus();
  }

  // national_id + hf_code
  absl::Status ReadNationalIdAndHfCode(const Json& doc) {
    const Json* nat;
    MFLSYNC_ASSIGN(nat, r_.Object(doc, "national_id", "", true));
    MFLSYNC_RETURN_IF_ERROR(r_.OnlyKeys(*nat, "national_id", {"system"}));
    MFLSYNC_ASSIGN(m_.national_id_system_, r_.String(*nat, "system", "national_id", true));
    const Json* hf;
    MFLSYNC_ASSIGN(hf, r_.Object(doc, "hf_code", "", false));
    if (hf) {
      MFLSYNC_RETURN_IF_ERROR(
          r_.OnlyKeys(*hf, "hf_code", {"max_length", "deleted_location_id_prefix",
                                      "deleted_ignore_prefixes"}));
      auto ml = hf->find("max_length");
      if (ml != hf->end()) {
        if (!ml->is_number_integer() || ml->get<int>() < 1 || ml->get<int>() > 8)
          return r_.Error("hf_code.max_length",
                         "must be an integer from 1 to 8 (openIMIS HFCode is at most 8)");
        m_.hf_code_max_length_ = ml->get<int>();
      }
      MFLSYNC_ASSIGN(m_.deleted_prefix_,
                     r_.String(*hf, "deleted_location_id_prefix", "hf_code", false));
      MFLSYNC_ASSIGN(m_.deleted_ignore_prefixes_,
                     r_.Strings(*hf, "deleted_ignore_prefixes", "hf_code"));
      for (size_t i = 0; i < m_.deleted_ignore_prefixes_.size(); ++i) {
        if (!m_.deleted_prefix_.empty() &&
            absl::StartsWith(m_.deleted_prefix_, m_.deleted_ignore_prefixes_[i]))
          return r_.Error(absl::StrCat("hf_code.deleted_ignore_prefixes[", i, "]"),
                         absl::StrCat("'", m_.deleted_ignore_prefixes_[i],
                                      "' would also ignore facility deletions ('",
                                      m_.deleted_prefix_, "...')"));
      }
    }
    return absl::OkStatus();
  }

  absl::Status ReadFacilityTypes(const Json& doc) {
    const Json* ft;
    MFLSYNC_ASSIGN(ft, r_.Object(doc, "facility_type", "", true));
    MFLSYNC_RETURN_IF_ERROR(r_.OnlyKeys(*ft, "facility_type", {"system"}));
    MFLSYNC_ASSIGN(m_.facility_type_system_, r_.String(*ft, "system", "facility_type", true));
    const Json* types;
    MFLSYNC_ASSIGN(types, r_.Array(doc, "facility_types", "", true));
    absl::flat_hash_map<std::string, size_t> type_index;
    for (size_t i = 0; i < types->size(); ++i) {
      const Json& e = (*types)[i];
      std::string where = absl::StrCat("facility_types[", i, "]");
      if (!e.is_object()) return r_.Error(where, "must be a JSON object");
      MFLSYNC_RETURN_IF_ERROR(r_.OnlyKeys(e, where, {"match", "level", "care_type", "exclude"}));
      FacilityTypeEntry entry;
      MFLSYNC_ASSIGN(entry.match, r_.String(e, "match", where, true));
      MFLSYNC_ASSIGN(entry.exclude_reason, r_.String(e, "exclude", where, false));
      std::string level, care;
      MFLSYNC_ASSIGN(level, r_.String(e, "level", where, false));
      MFLSYNC_ASSIGN(care, r_.String(e, "care_type", where, false));
      if (entry.exclude_reason.empty()) {
        if (!ParseLevel(level, &entry.level))
          return r_.Error(absl::StrCat(where, ".level"),
                         absl::StrCat("'", level, "' (for '", entry.match,
                                      "') is not an openIMIS level: use COMM (dispensary), "
                                      "OF (health centre) or HOSP (hospital)"));
        if (!care.empty() && !ParseCareType(care, &entry.default_care_type))
          return r_.Error(absl::StrCat(where, ".care_type"),
                         absl::StrCat("'", care, "' is not an openIMIS care type: use I, O or B"));
      } else if (!level.empty() || !care.empty()) {
        return r_.Error(where, "an excluded type has no level or care_type");
      }
      std::string key = m_.Normalise(entry.match);
      auto [it, inserted] = type_index.emplace(key, i);
      if (!inserted)
        return r_.Error(where, absl::StrCat("'", entry.match, "' duplicates facility_types[",
                                           it->second, "] after normalisation"));
      m_.facility_types_.emplace(key, std::move(entry));
    }
    return absl::OkStatus();
  }

  // owners → legal forms known to openIMIS (tblLegalForms)
  absl::Status ReadOwners(const Json& doc) {
    std::vector<std::string> legal_forms;
    MFLSYNC_ASSIGN(legal_forms, r_.Strings(doc, "legal_forms", ""));
    if (legal_forms.empty()) legal_forms = {"G", "C", "D", "P"};

    const Json* owner;
    MFLSYNC_ASSIGN(owner, r_.Object(doc, "owner", "", true));
    MFLSYNC_RETURN_IF_ERROR(r_.OnlyKeys(*owner, "owner", {"system", "use_reference_display"}));
    MFLSYNC_ASSIGN(m_.owner_system_, r_.String(*owner, "system", "owner", true));
    MFLSYNC_ASSIGN(m_.owner_use_display_, r_.Bool(*owner, "use_reference_display", "owner", false));
    const Json* owners;
    MFLSYNC_ASSIGN(owners, r_.Array(doc, "owners", "", true));
    absl::flat_hash_map<std::string, size_t> owner_index;
    for (size_t i = 0; i < owners->size(); ++i) {
      const Json& e = (*owners)[i];
      std::string where = absl::StrCat("owners[", i, "]");
      if (!e.is_object()) return r_.Error(where, "must be a JSON object");
      MFLSYNC_RETURN_IF_ERROR(r_.OnlyKeys(e, where, {"match", "legal_form"}));
      std::string match, form;
      MFLSYNC_ASSIGN(match, r_.String(e, "match", where, true));
      MFLSYNC_ASSIGN(form, r_.String(e, "legal_form", where, true));
      bool known = false;
      for (const std::string& f : legal_forms) known = known || f == form;
      if (!known)
        return r_.Error(absl::StrCat(where, ".legal_form"),
                       absl::StrCat("'", form, "' (for '", match,
                                    "') is not in legal_forms (", absl::StrJoin(legal_forms, ", "),
                                    ")"));
      std::string key = m_.Normalise(match);
      auto [it, inserted] = owner_index.emplace(key, i);
      if (!inserted)
        return r_.Error(where, absl::StrCat("'", match, "' duplicates owners[", it->second,
                                           "] after normalisation"));
      m_.legal_forms_.emplace(key, form);
    }
    return absl::OkStatus();
  }

  // services → care type
  absl::Status ReadServices(const Json& doc) {
    const Json* services;
    MFLSYNC_ASSIGN(services, r_.Object(doc, "services", "", true));
    MFLSYNC_RETURN_IF_ERROR(
        r_.OnlyKeys(*services, "services", {"extension_url", "inpatient", "outpatient"}));
    MFLSYNC_ASSIGN(m_.services_url_, r_.String(*services, "extension_url", "services", true));
    MFLSYNC_ASSIGN(m_.inpatient_, r_.Strings(*services, "inpatient", "services"));
    MFLSYNC_ASSIGN(m_.outpatient_, r_.Strings(*services, "outpatient", "services"));
    for (std::string& s : m_.inpatient_) s = m_.Normalise(s);
    for (std::string& s : m_.outpatient_) s = m_.Normalise(s);
    return absl::OkStatus();
  }

  // areas → districts
  absl::Status ReadAreas(const Json& doc) {
    const Json* areas;
    MFLSYNC_ASSIGN(areas, r_.Object(doc, "areas", "", true));
    MFLSYNC_RETURN_IF_ERROR(r_.OnlyKeys(*areas, "areas", {"sources", "districts"}));
    MFLSYNC_ASSIGN(m_.area_sources_, r_.Strings(*areas, "sources", "areas"));
    if (m_.area_sources_.empty()) m_.area_sources_ = {"part_of", "address"};
    for (size_t i = 0; i < m_.area_sources_.size(); ++i) {
      if (m_.area_sources_[i] != "part_of" && m_.area_sources_[i] != "address")
        return r_.Error(absl::StrCat("areas.sources[", i, "]"),
                       absl::StrCat("'", m_.area_sources_[i], "' is not part_of or address"));
    }
    const Json* districts;
    MFLSYNC_ASSIGN(districts, r_.Array(*areas, "districts", "areas", true));
    absl::flat_hash_map<std::string, size_t> code_index;
    for (size_t i = 0; i < districts->size(); ++i) {
      MFLSYNC_RETURN_IF_ERROR(ReadDistrict((*districts)[i], i, code_index));
    }
    return absl::OkStatus();
  }

  // areas.districts[i]
  absl::Status ReadDistrict(const Json& e, size_t i,
                            absl::flat_hash_map<std::string, size_t>& code_index) {
    std::string where = absl::StrCat("areas.districts[", i, "]");
    if (!e.is_object()) return r_.Error(where, "must be a JSON object");
    MFLSYNC_RETURN_IF_ERROR(
        r_.OnlyKeys(e, where, {"code", "name", "region_code", "part_of", "address"}));
    DistrictEntry d;
    MFLSYNC_ASSIGN(d.code, r_.String(e, "code", where, true));
    MFLSYNC_ASSIGN(d.name, r_.String(e, "name", where, false));
    MFLSYNC_ASSIGN(d.region_code, r_.String(e, "region_code", where, false));
    if (d.code.size() > 8)
      return r_.Error(absl::StrCat(where, ".code"),
                     absl::StrCat("'", d.code, "' is longer than 8 characters (openIMIS "
                                  "location codes are at most 8)"));
    auto [cit, cnew] = code_index.emplace(d.code, i);
    if (!cnew)
      return r_.Error(absl::StrCat(where, ".code"),
                     absl::StrCat("'", d.code, "' is also areas.districts[", cit->second, "]"));
    std::vector<std::string> part_of;
    MFLSYNC_ASSIGN(part_of, r_.Strings(e, "part_of", where));
    for (size_t j = 0; j < part_of.size(); ++j) {
      auto [pit, pnew] = m_.district_by_part_of_.emplace(part_of[j], i);
      if (!pnew)
        return r_.Error(absl::StrCat(where, ".part_of[", j, "]"),
                       absl::StrCat("'", part_of[j], "' is already mapped to district ",
                                    m_.districts_[pit->second].code));
    }
    const Json* addresses;
    MFLSYNC_ASSIGN(addresses, r_.Array(e, "address", where, false));
    if (addresses) {
      for (size_t j = 0; j < addresses->size(); ++j) {
        const Json& a = (*addresses)[j];
        std::string aw = absl::StrCat(where, ".address[", j, "]");
        if (!a.is_object()) return r_.Error(aw, "must be a JSON object");
        MFLSYNC_RETURN_IF_ERROR(r_.OnlyKeys(a, aw, {"state", "district"}));
        std::string state, district;
        MFLSYNC_ASSIGN(state, r_.String(a, "state", aw, false));
        MFLSYNC_ASSIGN(district, r_.String(a, "district", aw, true));
        std::string key = absl::StrCat(m_.Normalise(state), "|", m_.Normalise(district));
        auto [ait, anew] = m_.district_by_address_.emplace(key, i);
        if (!anew)
          return r_.Error(aw, absl::StrCat("state '", state, "', district '", district,
                                          "' is already mapped to district ",
                                          m_.districts_[ait->second].code));
      }
    }
    if (part_of.empty() && (!addresses || addresses->empty()))
      return r_.Error(where, absl::StrCat("district ", d.code,
                                         " has neither part_of nor address entries"));
    m_.districts_.push_back(std::move(d));
    return absl::OkStatus();
  }

  // crosswalk national id → HF code
  absl::Status ReadCrosswalk(const Json& doc) {
    const Json* crosswalk;
    MFLSYNC_ASSIGN(crosswalk, r_.Array(doc, "crosswalk", "", false));
    if (crosswalk) {
      for (size_t i = 0; i < crosswalk->size(); ++i) {
        const Json& e = (*crosswalk)[i];
        std::string where = absl::StrCat("crosswalk[", i, "]");
        if (!e.is_object()) return r_.Error(where, "must be a JSON object");
        MFLSYNC_RETURN_IF_ERROR(r_.OnlyKeys(e, where, {"national_id", "hf_code", "location_id"}));
        std::string nid, code, loc;
        MFLSYNC_ASSIGN(nid, r_.String(e, "national_id", where, true));
        MFLSYNC_ASSIGN(code, r_.String(e, "hf_code", where, true));
        MFLSYNC_ASSIGN(loc, r_.String(e, "location_id", where, false));
        if (code.size() > m_.hf_code_max_length_)
          return r_.Error(absl::StrCat(where, ".hf_code"),
                         absl::StrCat("'", code, "' is longer than ", m_.hf_code_max_length_,
                                      " characters"));
        if (!m_.crosswalk_.emplace(nid, code).second)
          return r_.Error(where, absl::StrCat("national id '", nid, "' appears twice"));
        auto [oit, onew] = m_.crosswalk_code_owner_.emplace(code, nid);
        if (!onew)
          return r_.Error(where, absl::StrCat("HF code '", code,
                                              "' is already given to national id '",
                                              oit->second, "'"));
        if (!loc.empty() && !m_.crosswalk_by_location_.emplace(loc, nid).second)
          return r_.Error(where, absl::StrCat("location_id '", loc, "' appears twice"));
      }
    }
    return absl::OkStatus();
  }

  Mapping& m_;
  Reader r_;
};

absl::StatusOr<Mapping> Mapping::FromJson(const Json& doc, const std::string& source) {
  Mapping m;
  m.source_ = source;
  MFLSYNC_RETURN_IF_ERROR(MappingLoader(m, source).Load(doc));
  return m;
}

bool Mapping::IsIgnoredDeletion(absl::string_view location_id) const {
  for (const std::string& p : deleted_ignore_prefixes_)
    if (absl::StartsWith(location_id, p)) return true;
  return false;
}

bool Mapping::IsInpatientService(absl::string_view code) const {
  std::string key = Normalise(code);
  for (const std::string& s : inpatient_)
    if (s == key) return true;
  return false;
}

bool Mapping::IsOutpatientService(absl::string_view code) const {
  std::string key = Normalise(code);
  for (const std::string& s : outpatient_)
    if (s == key) return true;
  return false;
}

const FacilityTypeEntry* Mapping::FindFacilityType(absl::string_view raw) const {
  auto it = facility_types_.find(Normalise(raw));
  return it == facility_types_.end() ? nullptr : &it->second;
}

const std::string* Mapping::FindLegalForm(absl::string_view raw_owner) const {
  auto it = legal_forms_.find(Normalise(raw_owner));
  return it == legal_forms_.end() ? nullptr : &it->second;
}

const DistrictEntry* Mapping::FindDistrictByPartOf(absl::string_view reference) const {
  auto it = district_by_part_of_.find(reference);
  return it == district_by_part_of_.end() ? nullptr : &districts_[it->second];
}

const DistrictEntry* Mapping::FindDistrictByAddress(absl::string_view state,
                                                    absl::string_view district) const {
  auto it = district_by_address_.find(absl::StrCat(Normalise(state), "|", Normalise(district)));
  if (it == district_by_address_.end() && !state.empty())
    it = district_by_address_.find(absl::StrCat("|", Normalise(district)));
  return it == district_by_address_.end() ? nullptr : &districts_[it->second];
}

const std::string* Mapping::CrosswalkCode(absl::string_view national_id) const {
  auto it = crosswalk_.find(national_id);
  return it == crosswalk_.end() ? nullptr : &it->second;
}

const std::string* Mapping::CrosswalkNationalIdOfLocation(absl::string_view location_id) const {
  auto it = crosswalk_by_location_.find(location_id);
  return it == crosswalk_by_location_.end() ? nullptr : &it->second;
}

const std::string* Mapping::CrosswalkOwnerOfCode(absl::string_view hf_code) const {
  auto it = crosswalk_code_owner_.find(hf_code);
  return it == crosswalk_code_owner_.end() ? nullptr : &it->second;
}

std::map<std::string, int> Mapping::TableSizes() const {
  return {{"facility_types", static_cast<int>(facility_types_.size())},
          {"owners", static_cast<int>(legal_forms_.size())},
          {"districts", static_cast<int>(districts_.size())},
          {"area_part_of", static_cast<int>(district_by_part_of_.size())},
          {"area_address", static_cast<int>(district_by_address_.size())},
          {"crosswalk", static_cast<int>(crosswalk_.size())}};
}

}  // namespace mflsync::mapper
