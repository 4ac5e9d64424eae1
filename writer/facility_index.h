// The writer's in-memory index of what openIMIS holds: health facilities by
// HF code, by UUID and by normalised name within a district, and the areas.
// Compact (one packed buffer per facility, interned districts and legal
// forms, no per-facility JSON or protobuf) so that it stays small at a
// national size. Refreshed in place: a refresh puts what it read and, when
// it read everything, sweeps away what openIMIS no longer lists. Tracks what
// changed since the last save, for the index store (index_store.h).
// Thread-safe.
#ifndef MFLSYNC_WRITER_FACILITY_INDEX_H_
#define MFLSYNC_WRITER_FACILITY_INDEX_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "mflsync/v1/records.pb.h"
#include "writer/openimis_fhir.h"

namespace mflsync::writer {

// The content of one load, built outside the lock and put in.
struct IndexSnapshot {
  std::vector<Area> areas;
  std::vector<mflsync::v1::HealthFacility> facilities;
};

// Where an index read puts complete records as they arrive (the index
// itself during a refresh), so that a read holds one page, not all of
// openIMIS.
class IndexSink {
 public:
  virtual ~IndexSink() = default;
  virtual void PutArea(Area area) = 0;
  // `changed_at`: openIMIS's validityFrom of the row (when it last changed),
  // absl::InfinitePast() when the API does not say.
  virtual void PutFacility(const mflsync::v1::HealthFacility& facility,
                           absl::Time changed_at) = 0;
};

// Builds a snapshot one openIMIS resource at a time, so that a load holds
// one page of JSON at most, not every resource of openIMIS: area Locations,
// facility Locations (physicalType si) and health-facility Organizations
// (type prov), merged by UUID (the Location gives code, name, level, district
// and status; the Organization the other columns). Add every facility
// Location before the Organizations. A malformed resource is an error naming
// it. Complete records (AddAreaRecord, AddFacility) go straight to the sink
// when there is one.
class SnapshotBuilder {
 public:
  SnapshotBuilder() = default;
  explicit SnapshotBuilder(IndexSink* sink) : sink_(sink) {}

  absl::Status AddArea(const nlohmann::json& location);
  absl::Status AddFacilityLocation(const nlohmann::json& location);
  absl::Status AddOrganization(const nlohmann::json& organization);
  // Records already read by an API that carries every column at once.
  void AddAreaRecord(Area area);
  void AddFacility(mflsync::v1::HealthFacility facility,
                   absl::Time changed_at = absl::InfinitePast());
  // What was merged (and, without a sink, every record); with a sink, the
  // merged records are put into it first.
  IndexSnapshot Finish() &&;

 private:
  IndexSink* sink_ = nullptr;
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

// What putting a facility into the index did.
enum class PutResult {
  kAdded,    // the index did not have its UUID
  kChanged,  // it had it with other content (or another code or name)
  kSame,     // it had it exactly so
};

class FacilityIndex {
 public:
  FacilityIndex();
  ~FacilityIndex();

  // Replaces the content (a full load): the areas, then every facility;
  // district codes of facilities are filled from the areas.
  void Replace(IndexSnapshot snapshot, absl::Time loaded_at);

  // Replaces the areas (every refresh reads them all; they are few).
  void SetAreas(std::vector<Area> areas);
  // Inserts or replaces one facility by UUID (a code or name change moves
  // its keys): after a refresh read it, or after a successful write.
  PutResult Put(const mflsync::v1::HealthFacility& facility);

  // A full read: facilities not Put between BeginSweep and EndSweep are
  // removed by EndSweep, which returns their HF codes.
  void BeginSweep();
  std::vector<std::string> EndSweep();
  // Ends a sweep whose read failed: removes nothing.
  void AbortSweep();

  // Marks the content complete (after a full load, or a restore from the
  // store) as of `loaded_at`.
  void MarkLoaded(absl::Time loaded_at);
  // True once a full load or a restore completed.
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
  std::vector<Area> Areas() const;

  // The changes since the last drain (facilities put with new content, UUIDs
  // removed), handed over one at a time and forgotten.
  void DrainChanges(const std::function<void(const mflsync::v1::HealthFacility&)>& put,
                    const std::function<void(const std::string& uuid)>& removed);
  // Forgets the changes (after a restore from the store).
  void ForgetChanges();
  // Every facility, one at a time (the store's full rewrite); also forgets
  // the changes.
  void ForEachFacility(const std::function<void(const mflsync::v1::HealthFacility&)>& visit);

  size_t facility_count() const;
  size_t district_count() const;

 public:
  // One facility as the index packs it (facility_index.cc).
  struct Entry;

 private:
  // A district a facility refers to: its UUID and the code it came with.
  struct DistrictRef {
    std::string uuid;
    std::string code;
  };

  mflsync::v1::HealthFacility ToProto(const Entry& entry) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  Entry Pack(const mflsync::v1::HealthFacility& facility) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string DistrictCodeOf(const Entry& entry) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  uint64_t NameHash(absl::string_view name, absl::string_view district_code) const;
  std::optional<uint32_t> SlotByCode(absl::string_view code) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  std::vector<uint32_t> SlotsByName(absl::string_view name, absl::string_view district_code)
      const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  void IndexLocked(uint32_t slot) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void UnindexLocked(uint32_t slot) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RemoveLocked(uint32_t slot) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SetAreasLocked(std::vector<Area> areas) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  uint32_t InternDistrict(absl::string_view uuid, absl::string_view code)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  uint16_t InternLegalForm(absl::string_view code) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  bool loaded_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time loaded_at_ ABSL_GUARDED_BY(mu_);
  // Facilities by slot; a removed slot is empty and reused.
  std::vector<Entry> entries_ ABSL_GUARDED_BY(mu_);
  std::vector<uint32_t> free_slots_ ABSL_GUARDED_BY(mu_);
  size_t live_ ABSL_GUARDED_BY(mu_) = 0;
  // Keys view the entries' own buffers.
  absl::flat_hash_map<absl::string_view, uint32_t> by_uuid_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<absl::string_view, uint32_t> by_code_ ABSL_GUARDED_BY(mu_);
  absl::btree_multimap<uint64_t, uint32_t> by_name_ ABSL_GUARDED_BY(mu_);
  std::vector<DistrictRef> district_refs_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, uint32_t> district_ref_by_uuid_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> legal_forms_ ABSL_GUARDED_BY(mu_);
  std::vector<Area> areas_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, mflsync::v1::District> districts_by_code_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> district_uuid_to_code_ ABSL_GUARDED_BY(mu_);
  // Changes since the last drain.
  absl::flat_hash_set<uint32_t> dirty_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> removed_ ABSL_GUARDED_BY(mu_);
  // The sweep in progress: slots put since BeginSweep.
  bool sweeping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<bool> swept_ ABSL_GUARDED_BY(mu_);
};

}  // namespace mflsync::writer

#endif  // MFLSYNC_WRITER_FACILITY_INDEX_H_
