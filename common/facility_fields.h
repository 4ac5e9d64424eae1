// The columns of an openIMIS health facility that a write sends, listed
// once: the writer compares them to know whether there is anything to write
// (writer/facility_identity.h, SameContent), and a dry run's plan shows each
// one that changes, old → new (scheduler/plan_diff.h).
#ifndef MFLSYNC_COMMON_FACILITY_FIELDS_H_
#define MFLSYNC_COMMON_FACILITY_FIELDS_H_

#include <string>
#include <vector>

#include "mflsync/v1/records.pb.h"

namespace mflsync {

struct FacilityField {
  // As an operator reads it: "name", "care_type", "status".
  const char* name;
  // Whether `a` and `b` hold the same value (what openIMIS stores).
  bool (*same)(const v1::HealthFacility& a, const v1::HealthFacility& b);
  // The value as an operator reads it: "health_centre", "active", the
  // district's code.
  std::string (*text)(const v1::HealthFacility& f);
  // The value compared, for a field whose `text` can read the same for two
  // different values (the district: its uuid); null otherwise.
  std::string (*exact)(const v1::HealthFacility& f);
};

// In a fixed order: code, name, level, care_type, legal_form, district,
// address, phone, fax, email, status.
const std::vector<FacilityField>& WrittenFacilityFields();

}  // namespace mflsync

#endif  // MFLSYNC_COMMON_FACILITY_FIELDS_H_
