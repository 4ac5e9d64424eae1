#include "scheduler/plan_diff.h"

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"

namespace mflsync::scheduler {
namespace {

// "FACILITY_LEVEL_HEALTH_CENTRE" → "health_centre"; "" for unspecified.
std::string EnumText(const std::string& name, absl::string_view prefix) {
  absl::string_view rest = name;
  if (absl::StartsWith(rest, prefix)) rest.remove_prefix(prefix.size());
  if (rest == "UNSPECIFIED") return "";
  return absl::AsciiStrToLower(rest);
}

// How a facility's district reads: its code, or its uuid when the code is
// unknown.
std::string DistrictText(const v1::HealthFacility& f) {
  return f.district_code().empty() ? f.district_uuid() : f.district_code();
}

void AddIfChanged(std::vector<v1::FieldChange>& out, const char* field,
                  const std::string& old_value, const std::string& new_value) {
  if (old_value == new_value) return;
  v1::FieldChange& c = out.emplace_back();
  c.set_field(field);
  c.set_old_value(old_value);
  c.set_new_value(new_value);
}

}  // namespace

std::vector<v1::FieldChange> DiffFacilities(const v1::HealthFacility& current,
                                            const v1::HealthFacility& planned) {
  std::vector<v1::FieldChange> out;
  AddIfChanged(out, "code", current.code(), planned.code());
  AddIfChanged(out, "name", current.name(), planned.name());
  AddIfChanged(out, "level", EnumText(v1::FacilityLevel_Name(current.level()), "FACILITY_LEVEL_"),
               EnumText(v1::FacilityLevel_Name(planned.level()), "FACILITY_LEVEL_"));
  AddIfChanged(out, "care_type", EnumText(v1::CareType_Name(current.care_type()), "CARE_TYPE_"),
               EnumText(v1::CareType_Name(planned.care_type()), "CARE_TYPE_"));
  AddIfChanged(out, "legal_form", current.legal_form(), planned.legal_form());
  if (current.district_uuid() != planned.district_uuid()) {
    std::string old_district = DistrictText(current), new_district = DistrictText(planned);
    if (old_district == new_district) {  // the same code under two uuids
      old_district = current.district_uuid();
      new_district = planned.district_uuid();
    }
    AddIfChanged(out, "district", old_district, new_district);
  }
  AddIfChanged(out, "address", current.address(), planned.address());
  AddIfChanged(out, "phone", current.phone(), planned.phone());
  AddIfChanged(out, "fax", current.fax(), planned.fax());
  AddIfChanged(out, "email", current.email(), planned.email());
  AddIfChanged(out, "status", current.active() ? "active" : "inactive",
               planned.active() ? "active" : "inactive");
  return out;
}

v1::PlanAction PlanActionOf(const v1::Reconciliation& decision) {
  switch (decision.action()) {
    case v1::WRITE_ACTION_CREATE:
      return v1::PLAN_ACTION_CREATE;
    case v1::WRITE_ACTION_UPDATE:
      return decision.current().active() && !decision.facility().active()
                 ? v1::PLAN_ACTION_DEACTIVATE
                 : v1::PLAN_ACTION_UPDATE;
    case v1::WRITE_ACTION_NOOP:
      return v1::PLAN_ACTION_NOOP;
    case v1::WRITE_ACTION_REJECT:
      return v1::PLAN_ACTION_REJECT;
    default:
      return v1::PLAN_ACTION_UNSPECIFIED;
  }
}

}  // namespace mflsync::scheduler
