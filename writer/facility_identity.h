// Facility identity, in one place: the rules that say whether two openIMIS
// health facilities are the same facility, hold the same content, or share
// a name in a district. The planner (write_planner.h), the index
// (facility_index.h) and the writer (facility_writer.h) all ask here.
#ifndef MFLSYNC_WRITER_FACILITY_IDENTITY_H_
#define MFLSYNC_WRITER_FACILITY_IDENTITY_H_

#include <string>

#include "absl/strings/string_view.h"
#include "mflsync/v1/records.pb.h"

namespace mflsync::writer {

// The key of "the same name in the same district": case folded (ASCII),
// whitespace trimmed and inner runs collapsed to one space.
std::string NameKey(absl::string_view name);

// Same content as openIMIS stores it: every field a write sends
// (common/facility_fields.h) equal. Equal content means nothing to write.
bool SameContent(const mflsync::v1::HealthFacility& a, const mflsync::v1::HealthFacility& b);

// The fields openIMIS's FHIR Location view of a facility carries: code,
// name, level, district UUID and status.
bool SameLocationView(const mflsync::v1::HealthFacility& a,
                      const mflsync::v1::HealthFacility& b);

// The facility a create was meant to make: same code, name and district
// UUID (a create whose answer was lost, found again by its code).
bool SameIdentity(const mflsync::v1::HealthFacility& found,
                  const mflsync::v1::HealthFacility& wanted);

// "'Name' (HF code C, openIMIS uuid, district D)", for messages; parts that
// are empty are left out.
std::string Describe(const mflsync::v1::HealthFacility& facility);

}  // namespace mflsync::writer

#endif  // MFLSYNC_WRITER_FACILITY_IDENTITY_H_
