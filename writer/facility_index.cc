#include "writer/facility_index.h"

#include <cctype>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "writer/facility_identity.h"

namespace mflsync::writer {
namespace {

using mflsync::v1::District;
using mflsync::v1::HealthFacility;

std::string NameInDistrict(absl::string_view name, absl::string_view district_code) {
  return absl::StrCat(NameKey(name), "\x1f", district_code);
}

}  // namespace

absl::Status SnapshotBuilder::AddArea(const nlohmann::json& location) {
  absl::StatusOr<Area> area = AreaFromLocation(location);
  if (!area.ok()) {
    return absl::DataLossError(absl::StrCat("openIMIS area list, resource ", areas_seen_,
                                            ": ", area.status().message()));
  }
  ++areas_seen_;
  snapshot_.areas.push_back(*std::move(area));
  return absl::OkStatus();
}

absl::Status SnapshotBuilder::AddFacilityLocation(const nlohmann::json& location) {
  absl::StatusOr<HealthFacility> facility = FacilityFromLocation(location);
  if (!facility.ok()) {
    return absl::DataLossError(absl::StrCat("openIMIS facility list, resource ",
                                            locations_seen_, ": ",
                                            facility.status().message()));
  }
  ++locations_seen_;
  position_[facility->uuid()] = snapshot_.facilities.size();
  snapshot_.facilities.push_back(*std::move(facility));
  return absl::OkStatus();
}

absl::Status SnapshotBuilder::AddOrganization(const nlohmann::json& organization) {
  absl::StatusOr<HealthFacility> org = FacilityFromOrganization(organization);
  if (!org.ok()) {
    return absl::DataLossError(absl::StrCat("openIMIS HF Organization list, resource ",
                                            organizations_seen_, ": ",
                                            org.status().message()));
  }
  ++organizations_seen_;
  auto it = position_.find(org->uuid());
  if (it == position_.end()) {
    position_[org->uuid()] = snapshot_.facilities.size();
    snapshot_.facilities.push_back(*std::move(org));
    return absl::OkStatus();
  }
  // The Location is authoritative for code, name, level, district and
  // status; the Organization adds the columns only it carries.
  HealthFacility& merged = snapshot_.facilities[it->second];
  merged.set_care_type(org->care_type());
  merged.set_legal_form(org->legal_form());
  merged.set_address(org->address());
  merged.set_phone(org->phone());
  merged.set_fax(org->fax());
  merged.set_email(org->email());
  if (merged.district_uuid().empty()) merged.set_district_uuid(org->district_uuid());
  if (merged.level() == mflsync::v1::FACILITY_LEVEL_UNSPECIFIED) {
    merged.set_level(org->level());
  }
  return absl::OkStatus();
}

void SnapshotBuilder::AddAreaRecord(Area area) {
  ++areas_seen_;
  snapshot_.areas.push_back(std::move(area));
}

void SnapshotBuilder::AddFacility(HealthFacility facility) {
  ++locations_seen_;
  position_[facility.uuid()] = snapshot_.facilities.size();
  snapshot_.facilities.push_back(std::move(facility));
}

IndexSnapshot SnapshotBuilder::Finish() && { return std::move(snapshot_); }

absl::StatusOr<IndexSnapshot> BuildSnapshot(
    const std::vector<nlohmann::json>& area_locations,
    const std::vector<nlohmann::json>& facility_locations,
    const std::vector<nlohmann::json>& organizations) {
  SnapshotBuilder builder;
  for (const nlohmann::json& area : area_locations) {
    absl::Status status = builder.AddArea(area);
    if (!status.ok()) return status;
  }
  for (const nlohmann::json& location : facility_locations) {
    absl::Status status = builder.AddFacilityLocation(location);
    if (!status.ok()) return status;
  }
  for (const nlohmann::json& organization : organizations) {
    absl::Status status = builder.AddOrganization(organization);
    if (!status.ok()) return status;
  }
  return std::move(builder).Finish();
}

void FacilityIndex::Replace(IndexSnapshot snapshot, absl::Time loaded_at) {
  std::map<std::string, const Area*> area_by_uuid;
  for (const Area& area : snapshot.areas) area_by_uuid[area.uuid] = &area;
  absl::MutexLock lock(&mu_);
  by_uuid_.clear();
  code_to_uuid_.clear();
  name_to_uuid_.clear();
  districts_by_code_.clear();
  district_uuid_to_code_.clear();
  for (const Area& area : snapshot.areas) {
    if (area.type != "D") continue;
    District district;
    district.set_uuid(area.uuid);
    district.set_code(area.code);
    district.set_name(area.name);
    auto parent = area_by_uuid.find(area.parent_uuid);
    if (parent != area_by_uuid.end()) district.set_region_code(parent->second->code);
    district_uuid_to_code_[area.uuid] = area.code;
    districts_by_code_[area.code] = std::move(district);
  }
  for (HealthFacility& facility : snapshot.facilities) {
    IndexLocked(facility);
  }
  loaded_ = true;
  loaded_at_ = loaded_at;
}

void FacilityIndex::IndexLocked(const HealthFacility& input) {
  HealthFacility facility = input;
  auto district = district_uuid_to_code_.find(facility.district_uuid());
  if (district != district_uuid_to_code_.end()) {
    facility.set_district_code(district->second);
  }
  code_to_uuid_[facility.code()] = facility.uuid();
  name_to_uuid_.emplace(NameInDistrict(facility.name(), facility.district_code()),
                        facility.uuid());
  by_uuid_[facility.uuid()] = std::move(facility);
}

void FacilityIndex::UnindexLocked(const HealthFacility& facility) {
  auto code = code_to_uuid_.find(facility.code());
  if (code != code_to_uuid_.end() && code->second == facility.uuid()) {
    code_to_uuid_.erase(code);
  }
  auto range = name_to_uuid_.equal_range(
      NameInDistrict(facility.name(), facility.district_code()));
  for (auto it = range.first; it != range.second; ++it) {
    if (it->second == facility.uuid()) {
      name_to_uuid_.erase(it);
      break;
    }
  }
  by_uuid_.erase(facility.uuid());
}

void FacilityIndex::Upsert(HealthFacility facility) {
  absl::MutexLock lock(&mu_);
  auto old = by_uuid_.find(facility.uuid());
  if (old != by_uuid_.end()) {
    HealthFacility previous = old->second;
    UnindexLocked(previous);
  }
  IndexLocked(facility);
}

bool FacilityIndex::loaded() const {
  absl::MutexLock lock(&mu_);
  return loaded_;
}

absl::Time FacilityIndex::loaded_at() const {
  absl::MutexLock lock(&mu_);
  return loaded_at_;
}

std::optional<HealthFacility> FacilityIndex::ByCode(absl::string_view code) const {
  absl::MutexLock lock(&mu_);
  auto it = code_to_uuid_.find(std::string(code));
  if (it == code_to_uuid_.end()) return std::nullopt;
  return by_uuid_.at(it->second);
}

std::optional<HealthFacility> FacilityIndex::ByUuid(absl::string_view uuid) const {
  absl::MutexLock lock(&mu_);
  auto it = by_uuid_.find(std::string(uuid));
  if (it == by_uuid_.end()) return std::nullopt;
  return it->second;
}

std::vector<HealthFacility> FacilityIndex::ByName(absl::string_view name,
                                                  absl::string_view district_code) const {
  absl::MutexLock lock(&mu_);
  std::vector<HealthFacility> out;
  auto range = name_to_uuid_.equal_range(NameInDistrict(name, district_code));
  for (auto it = range.first; it != range.second; ++it) {
    out.push_back(by_uuid_.at(it->second));
  }
  return out;
}

std::vector<HealthFacility> FacilityIndex::Lookup(
    const std::vector<std::string>& codes,
    const std::vector<std::pair<std::string, std::string>>& names) const {
  absl::MutexLock lock(&mu_);
  std::set<std::string> uuids;
  for (const std::string& code : codes) {
    auto it = code_to_uuid_.find(code);
    if (it != code_to_uuid_.end()) uuids.insert(it->second);
  }
  for (const auto& [name, district_code] : names) {
    auto range = name_to_uuid_.equal_range(NameInDistrict(name, district_code));
    for (auto it = range.first; it != range.second; ++it) uuids.insert(it->second);
  }
  std::map<std::string, HealthFacility> by_code;
  for (const std::string& uuid : uuids) {
    const HealthFacility& facility = by_uuid_.at(uuid);
    by_code.emplace(absl::StrCat(facility.code(), "\x1f", uuid), facility);
  }
  std::vector<HealthFacility> out;
  out.reserve(by_code.size());
  for (auto& [key, facility] : by_code) out.push_back(std::move(facility));
  return out;
}

std::vector<District> FacilityIndex::Districts() const {
  absl::MutexLock lock(&mu_);
  std::vector<District> out;
  out.reserve(districts_by_code_.size());
  for (const auto& [code, district] : districts_by_code_) out.push_back(district);
  return out;
}

std::optional<District> FacilityIndex::DistrictByCode(absl::string_view code) const {
  absl::MutexLock lock(&mu_);
  auto it = districts_by_code_.find(std::string(code));
  if (it == districts_by_code_.end()) return std::nullopt;
  return it->second;
}

std::optional<District> FacilityIndex::DistrictByUuid(absl::string_view uuid) const {
  absl::MutexLock lock(&mu_);
  auto code = district_uuid_to_code_.find(std::string(uuid));
  if (code == district_uuid_to_code_.end()) return std::nullopt;
  return districts_by_code_.at(code->second);
}

size_t FacilityIndex::facility_count() const {
  absl::MutexLock lock(&mu_);
  return by_uuid_.size();
}

size_t FacilityIndex::district_count() const {
  absl::MutexLock lock(&mu_);
  return districts_by_code_.size();
}

}  // namespace mflsync::writer
