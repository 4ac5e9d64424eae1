#include "mapper/fhir_structure.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/fhir.h"
#include "absl/strings/strip.h"
#include "common/utf8.h"

namespace mflsync::mapper {
namespace {

constexpr int kMaxDepth = 24;

const absl::flat_hash_map<std::string, bool>& PrimitiveTypes() {
  static const auto* const kPrimitives = new absl::flat_hash_map<std::string, bool>{
      {"boolean", true}, {"integer", true},   {"string", true},      {"decimal", true},
      {"uri", true},     {"url", true},       {"canonical", true},   {"base64Binary", true},
      {"instant", true}, {"date", true},      {"dateTime", true},    {"time", true},
      {"code", true},    {"oid", true},       {"id", true},          {"markdown", true},
      {"unsignedInt", true}, {"positiveInt", true}, {"uuid", true},  {"xhtml", true}};
  return *kPrimitives;
}

bool IsDigits(absl::string_view s, size_t pos, size_t n) {
  if (pos + n > s.size()) return false;
  for (size_t i = pos; i < pos + n; ++i)
    if (!absl::ascii_isdigit(static_cast<unsigned char>(s[i]))) return false;
  return true;
}

int Num(absl::string_view s, size_t pos, size_t n) {
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) v = v * 10 + (s[i] - '0');
  return v;
}

int DaysInMonth(int year, int month) {
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month == 2 && ((year % 4 == 0 && year % 100 != 0) || year % 400 == 0)) return 29;
  return kDays[month - 1];
}

// hh:mm:ss(.fff)? at `pos`; returns the position after it or npos.
size_t ParseTimeOfDay(absl::string_view s, size_t pos, std::string* why) {
  if (!IsDigits(s, pos, 2) || pos + 8 > s.size() || s[pos + 2] != ':' ||
      !IsDigits(s, pos + 3, 2) || s[pos + 5] != ':' || !IsDigits(s, pos + 6, 2)) {
    *why = "expected hh:mm:ss";
    return absl::string_view::npos;
  }
  if (Num(s, pos, 2) > 23 || Num(s, pos + 3, 2) > 59 || Num(s, pos + 6, 2) > 60) {
    *why = "hour, minute or second out of range";
    return absl::string_view::npos;
  }
  pos += 8;
  if (pos < s.size() && s[pos] == '.') {
    size_t start = ++pos;
    while (pos < s.size() && absl::ascii_isdigit(static_cast<unsigned char>(s[pos]))) ++pos;
    if (pos == start) {
      *why = "empty fraction of a second";
      return absl::string_view::npos;
    }
  }
  return pos;
}

// FHIR date / dateTime / instant. `need_time`: instant; `allow_time`: dateTime.
std::string CheckDateLike(absl::string_view s, bool allow_time, bool need_time) {
  if (!IsDigits(s, 0, 4)) return "expected a 4-digit year";
  int year = Num(s, 0, 4);
  if (year == 0) return "year 0000 does not exist";
  size_t pos = 4;
  if (pos == s.size()) return need_time ? "an instant needs date, time and zone" : "";
  if (s[pos] != '-' || !IsDigits(s, pos + 1, 2)) return "expected -MM after the year";
  int month = Num(s, pos + 1, 2);
  if (month < 1 || month > 12) return "month out of range";
  pos += 3;
  if (pos == s.size()) return need_time ? "an instant needs date, time and zone" : "";
  if (s[pos] != '-' || !IsDigits(s, pos + 1, 2)) return "expected -DD after the month";
  int day = Num(s, pos + 1, 2);
  if (day < 1 || day > DaysInMonth(year, month)) return "no such day in that month";
  pos += 3;
  if (pos == s.size()) return need_time ? "an instant needs a time and a zone" : "";
  if (!allow_time) return "a date has no time part";
  if (s[pos] != 'T') return "expected T between date and time";
  std::string why;
  pos = ParseTimeOfDay(s, pos + 1, &why);
  if (pos == absl::string_view::npos) return why;
  absl::string_view zone = s.substr(pos);
  if (zone == "Z") return "";
  if (zone.size() != 6 || (zone[0] != '+' && zone[0] != '-') || !IsDigits(zone, 1, 2) ||
      zone[3] != ':' || !IsDigits(zone, 4, 2))
    return "a time needs a zone: Z or +hh:mm / -hh:mm";
  int hh = Num(zone, 1, 2), mm = Num(zone, 4, 2);
  if (mm > 59 || hh > 14 || (hh == 14 && mm != 0)) return "time zone offset out of range";
  return "";
}

bool IsFhirWhitespace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

bool IsBase64Char(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/' ||
         c == '=';
}

bool IsTypeName(absl::string_view s) {
  if (s.empty() || !absl::ascii_isupper(static_cast<unsigned char>(s[0]))) return false;
  for (char c : s)
    if (!absl::ascii_isalpha(static_cast<unsigned char>(c))) return false;
  return true;
}

std::string JsonTypeName(const nlohmann::json& v) {
  switch (v.type()) {
    case nlohmann::json::value_t::null: return "null";
    case nlohmann::json::value_t::boolean: return "a boolean";
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned:
    case nlohmann::json::value_t::number_float: return "a number";
    case nlohmann::json::value_t::string: return "a string";
    case nlohmann::json::value_t::array: return "an array";
    case nlohmann::json::value_t::object: return "an object";
    default: return "an unexpected JSON value";
  }
}

std::string ValueText(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object()) return "{...}";
  if (v.is_array()) return "[...]";
  return v.dump();
}

}  // namespace

struct FhirValidator::Context {
  std::vector<v1::Rejection>* out;
  size_t max_problems;
  size_t found = 0;
  bool Full() const { return found >= max_problems; }
  void Add(const std::string& path, absl::string_view rule, absl::string_view value,
           absl::string_view message) {
    if (Full()) return;
    ++found;
    AddRejection(out, path, rule, value, message);
  }
};

FhirValidator::FhirValidator() {
  const auto& prims = PrimitiveTypes();
  for (const GeneratedType& gt : GeneratedFhirTypes()) {
    Type& t = types_[gt.name];
    t.required = gt.required;
    for (const GeneratedProperty& gp : gt.properties) {
      Property& p = t.properties[gp.name];
      p.type = gp.type;
      p.array = gp.array;
      p.primitive = prims.contains(gp.type);
      p.enum_values = gp.enum_values;
    }
  }
}

namespace {

// integer, unsignedInt, positiveInt: a whole number in the 32-bit range.
std::string CheckInteger(absl::string_view type, const nlohmann::json& v) {
  if (!v.is_number_integer()) return "expected a whole JSON number";
  int64_t n = v.is_number_unsigned()
                  ? (v.get<uint64_t>() > static_cast<uint64_t>(
                                             std::numeric_limits<int64_t>::max())
                         ? std::numeric_limits<int64_t>::max()
                         : static_cast<int64_t>(v.get<uint64_t>()))
                  : v.get<int64_t>();
  if (n > std::numeric_limits<int32_t>::max() || n < std::numeric_limits<int32_t>::min())
    return "out of the 32-bit integer range";
  if (type == "unsignedInt" && n < 0) return "must not be negative";
  if (type == "positiveInt" && n < 1) return "must be at least 1";
  return "";
}

// R4 2.24.0.1: no character below U+0020 but tab, LF and CR (NUL and the
// like would reach openIMIS's database and logs).
std::string CheckControlCharacters(const std::string& s) {
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
      return absl::StrFormat(
          "contains the control character U+%04X at byte %d (FHIR strings allow tab, LF and "
          "CR only)",
          c, i);
  }
  return "";
}

std::string CheckCode(const std::string& s) {
  if (s.empty()) return "empty code";
  if (IsFhirWhitespace(s.front()) || IsFhirWhitespace(s.back()))
    return "leading or trailing whitespace";
  for (size_t i = 0; i < s.size(); ++i) {
    if (IsFhirWhitespace(s[i]) && (s[i] != ' ' || IsFhirWhitespace(s[i + 1])))
      return "whitespace other than single spaces";
  }
  return "";
}

std::string CheckUri(const std::string& s) {
  if (s.empty()) return "empty URI";
  for (char c : s)
    if (IsFhirWhitespace(c)) return "URIs contain no whitespace";
  return "";
}

std::string CheckUuid(const std::string& s) {
  static constexpr absl::string_view kPrefix = "urn:uuid:";
  if (!absl::StartsWith(s, kPrefix) || s.size() != kPrefix.size() + 36)
    return "expected urn:uuid: and a lower-case UUID";
  for (size_t i = 0; i < 36; ++i) {
    char c = s[kPrefix.size() + i];
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? c != '-' : !(absl::ascii_isdigit(c) || (c >= 'a' && c <= 'f')))
      return "expected urn:uuid: and a lower-case UUID";
  }
  return "";
}

std::string CheckOid(const std::string& s) {
  static constexpr absl::string_view kPrefix = "urn:oid:";
  absl::string_view rest = absl::string_view(s);
  if (!absl::ConsumePrefix(&rest, kPrefix) || rest.size() < 3 || rest[0] < '0' ||
      rest[0] > '2' || rest[1] != '.')
    return "expected urn:oid: and a dotted OID";
  for (absl::string_view arc : absl::StrSplit(rest.substr(2), '.')) {
    if (arc.empty() || !IsDigits(arc, 0, arc.size()) || (arc.size() > 1 && arc[0] == '0'))
      return "expected urn:oid: and a dotted OID";
  }
  return "";
}

std::string CheckBase64(const std::string& s) {
  size_t chars = 0;
  for (char c : s) {
    if (IsFhirWhitespace(c)) continue;
    if (!IsBase64Char(c)) return "not base64";
    ++chars;
  }
  if (chars == 0 || chars % 4 != 0) return "not base64 (length is not a multiple of 4)";
  return "";
}

std::string CheckTime(const std::string& s) {
  std::string why;
  size_t end = ParseTimeOfDay(s, 0, &why);
  if (end == absl::string_view::npos) return why;
  return end == s.size() ? "" : "unexpected characters after the time";
}

}  // namespace

std::string FhirValidator::CheckPrimitive(absl::string_view type, const nlohmann::json& v) {
  if (type == "boolean") return v.is_boolean() ? "" : "expected true or false";
  if (type == "decimal") return v.is_number() ? "" : "expected a JSON number";
  if (type == "integer" || type == "unsignedInt" || type == "positiveInt")
    return CheckInteger(type, v);
  if (!v.is_string()) return "expected a JSON string";
  const std::string& s = v.get_ref<const std::string&>();
  if (std::string control = CheckControlCharacters(s); !control.empty()) return control;
  if (type == "string" || type == "markdown" || type == "xhtml")
    return s.empty() ? "empty string (omit the element instead)" : "";
  if (type == "id")
    return IsFhirId(s) ? "" : "ids are 1-64 characters of A-Z, a-z, 0-9, '-' and '.'";
  if (type == "code") return CheckCode(s);
  if (type == "uri" || type == "url" || type == "canonical") return CheckUri(s);
  if (type == "uuid") return CheckUuid(s);
  if (type == "oid") return CheckOid(s);
  if (type == "base64Binary") return CheckBase64(s);
  if (type == "instant") return CheckDateLike(s, true, true);
  if (type == "dateTime") return CheckDateLike(s, true, false);
  if (type == "date") return CheckDateLike(s, false, false);
  if (type == "time") return CheckTime(s);
  return absl::StrCat("unknown primitive type ", type);
}

bool FhirValidator::IsValidReference(absl::string_view ref) {
  if (ref.empty()) return false;
  for (char c : ref)
    if (IsFhirWhitespace(c)) return false;
  if (ref[0] == '#') return ref.size() == 1 || IsFhirId(ref.substr(1));
  if (absl::StartsWith(ref, "urn:uuid:")) {
    return CheckPrimitive("uuid", nlohmann::json(std::string(ref))).empty();
  }
  if (absl::StartsWith(ref, "urn:oid:")) {
    return CheckPrimitive("oid", nlohmann::json(std::string(ref))).empty();
  }
  std::vector<absl::string_view> parts = absl::StrSplit(ref, '/');
  if (parts.size() >= 4 && parts[parts.size() - 2] == "_history") {
    if (!IsFhirId(parts.back())) return false;
    parts.resize(parts.size() - 2);
  }
  if (parts.size() < 2) return false;
  if (parts.size() > 2) {
    // Absolute: scheme://host/.../Type/id
    if (!absl::StartsWith(ref, "http://") && !absl::StartsWith(ref, "https://")) return false;
  }
  return IsTypeName(parts[parts.size() - 2]) && IsFhirId(parts.back());
}

bool FhirValidator::Validate(const nlohmann::json& resource,
                             absl::string_view expected_type,
                             std::vector<v1::Rejection>* out, size_t max_problems) const {
  Context ctx{out, max_problems};
  std::string type(expected_type);
  if (!resource.is_object()) {
    ctx.Add(type, "fhir.structure.type", ValueText(resource),
            absl::StrCat("A ", type, " resource must be a JSON object, not ",
                         JsonTypeName(resource), "."));
    return false;
  }
  auto rt = resource.find("resourceType");
  if (rt == resource.end() || !rt->is_string() || rt->get<std::string>() != type) {
    ctx.Add(absl::StrCat(type, ".resourceType"), "fhir.resource_type",
            rt == resource.end() ? "" : ValueText(*rt),
            absl::StrCat("resourceType must be \"", type, "\"."));
    return false;
  }
  if (!types_.contains(type)) {
    ctx.Add(type, "fhir.resource_type", type,
            absl::StrCat("mflsync does not validate ", type, " resources."));
    return false;
  }
  ValidateComplex(resource, type, type, 0, &ctx);
  return ctx.found == 0;
}

void FhirValidator::ValidateComplex(const nlohmann::json& value, const std::string& type_name,
                                    const std::string& path, int depth, Context* ctx) const {
  if (ctx->Full()) return;
  if (depth > kMaxDepth) {
    ctx->Add(path, "fhir.structure.depth", "",
             absl::StrCat("Elements are nested deeper than ", kMaxDepth, " levels."));
    return;
  }
  if (!value.is_object()) {
    ctx->Add(path, "fhir.structure.type", ValueText(value),
             absl::StrCat("Expected a ", type_name, " object, found ", JsonTypeName(value), "."));
    return;
  }
  auto type_it = types_.find(type_name);
  if (type_it == types_.end()) {
    ctx->Add(path, "fhir.structure.unsupported_type", type_name,
             absl::StrCat("mflsync cannot validate elements of type ", type_name, "."));
    return;
  }
  const Type& type = type_it->second;
  for (auto it = value.begin(); it != value.end(); ++it) {
    if (ctx->Full()) return;
    const std::string& key = it.key();
    std::string child = absl::StrCat(path, ".", key);
    auto prop = type.properties.find(key);
    if (prop == type.properties.end()) {
      ctx->Add(child, "fhir.structure.unknown_element", key,
               absl::StrCat("\"", key, "\" is not an element of ", type_name,
                            " in FHIR R4 (check the spelling and the FHIR version)."));
      continue;
    }
    ValidateValue(it.value(), prop->second, child, depth, ctx);
  }
  for (const std::string& req : type.required) {
    if (!value.contains(req))
      ctx->Add(absl::StrCat(path, ".", req), "fhir.required", "",
               absl::StrCat(type_name, ".", req, " is required."));
  }
  SemanticChecks(value, type_name, path, ctx);
}

void FhirValidator::ValidateValue(const nlohmann::json& value, const Property& prop,
                                  const std::string& path, int depth, Context* ctx) const {
  if (prop.array) {
    if (!value.is_array()) {
      ctx->Add(path, "fhir.structure.cardinality", ValueText(value),
               absl::StrCat("Expected an array (this element repeats), found ",
                            JsonTypeName(value), "."));
      return;
    }
    Property item = prop;
    item.array = false;
    for (size_t i = 0; i < value.size() && !ctx->Full(); ++i)
      ValidateValue(value[i], item, absl::StrCat(path, "[", i, "]"), depth + 1, ctx);
    return;
  }
  if (value.is_array()) {
    ctx->Add(path, "fhir.structure.cardinality", "[...]",
             "Expected a single value (this element does not repeat), found an array.");
    return;
  }
  if (prop.type == "ResourceList") {
    std::string rt = value.is_object() && value.contains("resourceType") &&
                             value["resourceType"].is_string()
                         ? value["resourceType"].get<std::string>()
                         : "";
    if (rt != "Location" && rt != "Organization" && rt != "Endpoint") {
      ctx->Add(path, "fhir.contained.unsupported", rt,
               "mflsync accepts only contained Location, Organization and Endpoint "
               "resources.");
      return;
    }
    ValidateComplex(value, rt, path, depth + 1, ctx);
    return;
  }
  if (!prop.primitive) {
    ValidateComplex(value, prop.type, path, depth + 1, ctx);
    return;
  }
  std::string why = CheckPrimitive(prop.type, value);
  if (!why.empty()) {
    std::string rule = absl::StrCat("fhir.", prop.type, ".syntax");
    ctx->Add(path, rule, ValueText(value),
             absl::StrCat("Not a valid FHIR ", prop.type, ": ", why, "."));
    return;
  }
  if (!prop.enum_values.empty()) {
    const std::string& s = value.get_ref<const std::string&>();
    bool found = false;
    for (const std::string& e : prop.enum_values) found = found || e == s;
    if (!found) {
      std::string allowed;
      for (const std::string& e : prop.enum_values)
        absl::StrAppend(&allowed, allowed.empty() ? "" : ", ", e);
      ctx->Add(path, "fhir.code.value_set", s,
               absl::StrCat("\"", s, "\" is not one of the allowed codes: ", allowed, "."));
    }
  }
}

void FhirValidator::SemanticChecks(const nlohmann::json& value, const std::string& type_name,
                                   const std::string& path, Context* ctx) const {
  if (type_name == "Reference") {
    auto ref = value.find("reference");
    if (ref != value.end() && ref->is_string() && !ref->get<std::string>().empty() &&
        !IsValidReference(ref->get<std::string>())) {
      ctx->Add(absl::StrCat(path, ".reference"), "fhir.reference.syntax",
               ref->get<std::string>(),
               "A reference must be Type/id (relative or at the end of an absolute "
               "URL), #local-id, urn:uuid: or urn:oid:.");
    }
  } else if (type_name == "Period") {
    auto start = value.find("start"), end = value.find("end");
    if (start != value.end() && end != value.end() && start->is_string() &&
        end->is_string()) {
      const std::string& s = start->get_ref<const std::string&>();
      const std::string& e = end->get_ref<const std::string&>();
      // Comparable only when both are full instants in the same zone form.
      if (s.size() >= 10 && e.size() >= 10 && s.substr(0, 10) > e.substr(0, 10))
        ctx->Add(absl::StrCat(path, ".end"), "fhir.period.order", e,
                 absl::StrCat("The period ends (", e, ") before it starts (", s, ")."));
    }
  } else if (type_name == "Location_Position") {
    struct Axis {
      const char* name;
      double limit;
    };
    for (Axis axis : {Axis{"latitude", 90.0}, Axis{"longitude", 180.0}}) {
      auto v = value.find(axis.name);
      std::string p = absl::StrCat(path, ".", axis.name);
      if (v == value.end()) {
        ctx->Add(p, "fhir.required", "",
                 absl::StrCat("Location.position.", axis.name, " is required."));
      } else if (v->is_number()) {
        double d = v->get<double>();
        if (!std::isfinite(d) || d < -axis.limit || d > axis.limit)
          ctx->Add(p, "fhir.position.range", v->dump(),
                   absl::StrCat(axis.name, " must be between ", -axis.limit, " and ",
                                axis.limit, " degrees (WGS84)."));
      }
    }
  } else if (type_name == "Extension") {
    if (!value.contains("url"))
      ctx->Add(absl::StrCat(path, ".url"), "fhir.required", "", "Extension.url is required.");
    int values = 0;
    for (auto it = value.begin(); it != value.end(); ++it)
      if (absl::StartsWith(it.key(), "value")) ++values;
    bool nested = value.contains("extension");
    if (values > 1 || (values == 1 && nested) || (values == 0 && !nested))
      ctx->Add(path, "fhir.extension.shape", "",
               "An extension has exactly one value[x] or nested extensions, not both.");
  } else if (type_name == "Narrative") {
    auto div = value.find("div");
    if (div != value.end() && div->is_string() &&
        !absl::StartsWith(div->get<std::string>(), "<div"))
      ctx->Add(absl::StrCat(path, ".div"), "fhir.xhtml.syntax", div->get<std::string>(),
               "Narrative.div must be an XHTML <div> element.");
  }
}

}  // namespace mflsync::mapper
