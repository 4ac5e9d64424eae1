// A dry run's plan, in one place: what a real run would do with a record
// the writer planned (create, update, deactivate, no-op, reject) and, for an
// update, each field that changes from what openIMIS holds (old → new).
#ifndef MFLSYNC_SCHEDULER_PLAN_DIFF_H_
#define MFLSYNC_SCHEDULER_PLAN_DIFF_H_

#include <vector>

#include "mflsync/v1/mapper.pb.h"
#include "mflsync/v1/records.pb.h"
#include "mflsync/v1/scheduler.pb.h"

namespace mflsync::scheduler {

// The fields a write sends (common/facility_fields.h) that differ between
// `current` (what openIMIS holds) and `planned` (what the write would send),
// in that list's order. Values are shown as an operator reads them:
// "hospital", "out_patient", "active".
std::vector<v1::FieldChange> DiffFacilities(const v1::HealthFacility& current,
                                            const v1::HealthFacility& planned);

// The plan action of the writer's decision: an update that makes an active
// facility inactive (an MFL deletion or closure) is a deactivation.
v1::PlanAction PlanActionOf(const v1::Reconciliation& decision);

}  // namespace mflsync::scheduler

#endif  // MFLSYNC_SCHEDULER_PLAN_DIFF_H_
