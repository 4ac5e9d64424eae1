// Converts between mflsync's HealthFacility/District and the FHIR resources
// openIMIS speaks: the health-facility Organization (type prov) it writes,
// the facility Location (physicalType si) and the area Locations it reads.
#ifndef MFLSYNC_WRITER_OPENIMIS_FHIR_H_
#define MFLSYNC_WRITER_OPENIMIS_FHIR_H_

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "mflsync/v1/records.pb.h"

namespace mflsync::writer {

// The openIMIS FHIR implementation guide base; extension URLs are built from
// it and matched by suffix, as openIMIS does.
inline constexpr char kOpenImisIgBase[] =
    "https://openimis.github.io/openimis_fhir_r4_ig/";

// An administrative area (region, district, ward, village) as read from
// openIMIS's `Location` list.
struct Area {
  std::string uuid;
  std::string code;
  std::string name;
  std::string type;         // "R", "D", "W" or "V"
  std::string parent_uuid;  // empty for a region
  int64_t id = 0;           // openIMIS database id (GraphQL locationId); 0 unknown
};

// tblHF codes: "D"/"C"/"H" and "I"/"O"/"B"; empty when unspecified.
std::string LevelCode(mflsync::v1::FacilityLevel level);
std::string CareTypeCode(mflsync::v1::CareType care_type);
mflsync::v1::FacilityLevel LevelFromCode(absl::string_view code);
mflsync::v1::CareType CareTypeFromCode(absl::string_view code);

// The `Organization` (type prov) body that creates (no uuid) or updates (the
// facility's uuid) a health facility: code identifier typed `Code`, name,
// level / care type / legal form extensions, address with the district
// reference, one contact point per system. `district_uuid` must be set.
nlohmann::json OrganizationBody(const mflsync::v1::HealthFacility& facility);

// The `Location` (physicalType si) body that updates code, name, level and
// parent of a facility (openIMIS's Location update path).
nlohmann::json LocationSiteBody(const mflsync::v1::HealthFacility& facility);

// Reads a facility Location (physicalType si): uuid, code (FI identifier),
// name, level, district uuid (partOf) and status. Errors say which element
// is missing or malformed.
absl::StatusOr<mflsync::v1::HealthFacility> FacilityFromLocation(
    const nlohmann::json& location);

// Reads a health-facility Organization (type prov) into a facility: uuid,
// code (identifier typed Code or LC), name, level, care type, legal form,
// address line, contacts and the district reference when it points to a
// Location.
absl::StatusOr<mflsync::v1::HealthFacility> FacilityFromOrganization(
    const nlohmann::json& organization);

// Reads an administrative area Location.
absl::StatusOr<Area> AreaFromLocation(const nlohmann::json& location);

}  // namespace mflsync::writer

#endif  // MFLSYNC_WRITER_OPENIMIS_FHIR_H_
