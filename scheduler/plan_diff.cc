#include "scheduler/plan_diff.h"

#include <string>
#include <utility>

#include "common/facility_fields.h"

namespace mflsync::scheduler {

std::vector<v1::FieldChange> DiffFacilities(const v1::HealthFacility& current,
                                            const v1::HealthFacility& planned) {
  std::vector<v1::FieldChange> out;
  for (const FacilityField& field : WrittenFacilityFields()) {
    if (field.same(current, planned)) continue;
    std::string old_value = field.text(current), new_value = field.text(planned);
    if (old_value == new_value && field.exact != nullptr) {  // e.g. one code, two uuids
      old_value = field.exact(current);
      new_value = field.exact(planned);
    }
    v1::FieldChange& c = out.emplace_back();
    c.set_field(field.name);
    c.set_old_value(std::move(old_value));
    c.set_new_value(std::move(new_value));
  }
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
