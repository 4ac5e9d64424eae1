// The writer's in-memory index of what openIMIS holds: health facilities by
// HF code, by UUID and by normalised name within a district, and the
// districts. Thread-safe; a reload swaps the whole content at once.
#ifndef MFLSYNC_WRITER_FACILITY_INDEX_H_
#define MFLSYNC_WRITER_FACILITY_INDEX_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "mflsync/v1/records.pb.h"
#include "writer/openimis_fhir.h"

namespace mflsync::writer {

// The content of one load, built outside the lock and swapped in.
struct IndexSnapshot {
  std::vector<Area> areas;
  std::vector<mflsync::v1::HealthFacility> facilities;
};

// Builds a snapshot one openIMIS resource at a time, so that a load holds
// one page of JSON at most, not every resource of openIMIS: area Locations,
// facility Locations (physicalType si) and health-facility Organizations
// (type prov), merged by UUID (the Location gives code, name, level, district
// and status; the Organization the other columns). Add every facility
// Location before the Organizations. A malformed resource is an error naming
// it.
class SnapshotBuilder {
 public:
  absl::Status AddArea(const nlohmann::json& location);
  absl::Status AddFacilityLocation(const nlohmann::json& location);
  absl::Status AddOrganization(const nlohmann::json& organization);
  // Records already read by an API that carries every column at once.
  void AddAreaRecord(Area area);
  void AddFacility(mflsync::v1::HealthFacility facility);
  IndexSnapshot Finish() &&;

 private:
  IndexSnapshot snapshot_;
  std::map<std::string, size_t> position_;  // uuid → index in facilities
  size_t areas_seen_ = 0;
  size_t locations_seen_ = 0;
  size_t organizations_seen_ = 0;
};

// Builds a snapshot from openIMIS search results: area Locations, facility
// Locations (physicalType si) and health-facility Organizations (type prov),
// merged by UUID (the Location gives code, name, level and district; the
// Organization the other columns). A malformed resource is an error naming
// it.
absl::StatusOr<IndexSnapshot> BuildSnapshot(
    const std::vector<nlohmann::json>& area_locations,
    const std::vector<nlohmann::json>& facility_locations,
    const std::vector<nlohmann::json>& organizations);

class FacilityIndex {
 public:
  // Replaces the content; district codes of facilities are filled from the
  // areas.
  void Replace(IndexSnapshot snapshot, absl::Time loaded_at);

  // True once Replace ran.
  bool loaded() const;
  absl::Time loaded_at() const;

  std::optional<mflsync::v1::HealthFacility> ByCode(absl::string_view code) const;
  std::optional<mflsync::v1::HealthFacility> ByUuid(absl::string_view uuid) const;
  // Facilities with that name (normalised) in the district with that code.
  std::vector<mflsync::v1::HealthFacility> ByName(absl::string_view name,
                                                  absl::string_view district_code) const;

  // Every facility matching any code or name-in-district, each once, in
  // code order.
  std::vector<mflsync::v1::HealthFacility> Lookup(
      const std::vector<std::string>& codes,
      const std::vector<std::pair<std::string, std::string>>& names) const;

  // Districts (areas of type D), by code.
  std::vector<mflsync::v1::District> Districts() const;
  std::optional<mflsync::v1::District> DistrictByCode(absl::string_view code) const;
  std::optional<mflsync::v1::District> DistrictByUuid(absl::string_view uuid) const;

  // Inserts or replaces one facility after a successful write (by UUID; a
  // code or name change moves its keys).
  void Upsert(mflsync::v1::HealthFacility facility);

  size_t facility_count() const;
  size_t district_count() const;

 private:
  void IndexLocked(const mflsync::v1::HealthFacility& facility)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void UnindexLocked(const mflsync::v1::HealthFacility& facility)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  bool loaded_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time loaded_at_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, mflsync::v1::HealthFacility> by_uuid_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> code_to_uuid_ ABSL_GUARDED_BY(mu_);
  std::multimap<std::string, std::string> name_to_uuid_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, mflsync::v1::District> districts_by_code_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> district_uuid_to_code_ ABSL_GUARDED_BY(mu_);
};

}  // namespace mflsync::writer

#endif  // MFLSYNC_WRITER_FACILITY_INDEX_H_
