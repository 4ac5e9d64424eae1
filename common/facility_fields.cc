#include "common/facility_fields.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"

namespace mflsync {
namespace {

using v1::HealthFacility;

// "FACILITY_LEVEL_HEALTH_CENTRE" → "health_centre"; "" for unspecified.
std::string EnumText(const std::string& name, absl::string_view prefix) {
  absl::string_view rest = name;
  if (absl::StartsWith(rest, prefix)) rest.remove_prefix(prefix.size());
  if (rest == "UNSPECIFIED") return "";
  return absl::AsciiStrToLower(rest);
}

// A field read and compared as one string member of HealthFacility.
template <const std::string& (HealthFacility::*kGet)() const>
FacilityField StringField(const char* name) {
  return {name,
          [](const HealthFacility& a, const HealthFacility& b) {
            return (a.*kGet)() == (b.*kGet)();
          },
          [](const HealthFacility& f) { return (f.*kGet)(); }, nullptr};
}

FacilityField Level() {
  return {"level",
          [](const HealthFacility& a, const HealthFacility& b) { return a.level() == b.level(); },
          [](const HealthFacility& f) {
            return EnumText(v1::FacilityLevel_Name(f.level()), "FACILITY_LEVEL_");
          },
          nullptr};
}

FacilityField CareType() {
  return {"care_type",
          [](const HealthFacility& a, const HealthFacility& b) {
            return a.care_type() == b.care_type();
          },
          [](const HealthFacility& f) {
            return EnumText(v1::CareType_Name(f.care_type()), "CARE_TYPE_");
          },
          nullptr};
}

// Compared by uuid, read by code (by uuid when the code is unknown).
FacilityField District() {
  return {"district",
          [](const HealthFacility& a, const HealthFacility& b) {
            return a.district_uuid() == b.district_uuid();
          },
          [](const HealthFacility& f) {
            return f.district_code().empty() ? f.district_uuid() : f.district_code();
          },
          [](const HealthFacility& f) { return f.district_uuid(); }};
}

FacilityField Status() {
  return {"status",
          [](const HealthFacility& a, const HealthFacility& b) { return a.active() == b.active(); },
          [](const HealthFacility& f) { return std::string(f.active() ? "active" : "inactive"); },
          nullptr};
}

}  // namespace

const std::vector<FacilityField>& WrittenFacilityFields() {
  static const std::vector<FacilityField>* const fields = new std::vector<FacilityField>{
      StringField<&HealthFacility::code>("code"),
      StringField<&HealthFacility::name>("name"),
      Level(),
      CareType(),
      StringField<&HealthFacility::legal_form>("legal_form"),
      District(),
      StringField<&HealthFacility::address>("address"),
      StringField<&HealthFacility::phone>("phone"),
      StringField<&HealthFacility::fax>("fax"),
      StringField<&HealthFacility::email>("email"),
      Status(),
  };
  return *fields;
}

}  // namespace mflsync
