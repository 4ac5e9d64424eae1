#include "writer/facility_index.h"

#include <array>
#include <cctype>
#include <cstring>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/hash/hash.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "writer/facility_identity.h"

namespace mflsync::writer {
namespace {

using mflsync::v1::District;
using mflsync::v1::HealthFacility;

constexpr uint32_t kNoDistrict = UINT32_MAX;

// The packed text fields of an entry, in order.
enum TextField { kUuid, kCode, kName, kAddress, kPhone, kFax, kEmail, kTextFields };

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
  if (sink_ != nullptr) return sink_->PutArea(std::move(area));
  snapshot_.areas.push_back(std::move(area));
}

void SnapshotBuilder::AddFacility(HealthFacility facility, absl::Time changed_at) {
  ++locations_seen_;
  if (sink_ != nullptr) return sink_->PutFacility(facility, changed_at);
  position_[facility.uuid()] = snapshot_.facilities.size();
  snapshot_.facilities.push_back(std::move(facility));
}

IndexSnapshot SnapshotBuilder::Finish() && {
  if (sink_ == nullptr) return std::move(snapshot_);
  for (Area& area : snapshot_.areas) sink_->PutArea(std::move(area));
  for (const HealthFacility& facility : snapshot_.facilities) {
    sink_->PutFacility(facility, absl::InfinitePast());
  }
  return IndexSnapshot();
}

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

// One facility, packed: its text fields in one buffer (field i ends at
// ends[i]), the district and legal form as indexes into interned tables.
struct FacilityIndex::Entry {
  std::unique_ptr<char[]> text;
  std::array<uint32_t, kTextFields> ends{};
  uint32_t district = kNoDistrict;
  uint16_t legal_form = 0;
  uint8_t level = 0;
  uint8_t care_type = 0;
  bool active = false;
  bool live = false;

  absl::string_view Field(int i) const {
    const uint32_t begin = i == 0 ? 0 : ends[i - 1];
    return absl::string_view(text.get() + begin, ends[i] - begin);
  }
};

namespace {

bool SamePacked(const FacilityIndex::Entry& a, const FacilityIndex::Entry& b) {
  return a.ends == b.ends && a.district == b.district && a.legal_form == b.legal_form &&
         a.level == b.level && a.care_type == b.care_type && a.active == b.active &&
         std::memcmp(a.text.get(), b.text.get(), a.ends[kTextFields - 1]) == 0;
}

}  // namespace

FacilityIndex::FacilityIndex() { legal_forms_.emplace_back(); }
FacilityIndex::~FacilityIndex() = default;

FacilityIndex::Entry FacilityIndex::Pack(const HealthFacility& facility) {
  const std::array<const std::string*, kTextFields> fields = {
      &facility.uuid(),    &facility.code(),  &facility.name(), &facility.address(),
      &facility.phone(),   &facility.fax(),   &facility.email()};
  Entry entry;
  size_t total = 0;
  for (const std::string* field : fields) total += field->size();
  entry.text = std::make_unique<char[]>(std::max<size_t>(total, 1));
  uint32_t at = 0;
  for (int i = 0; i < kTextFields; ++i) {
    std::memcpy(entry.text.get() + at, fields[i]->data(), fields[i]->size());
    at += static_cast<uint32_t>(fields[i]->size());
    entry.ends[i] = at;
  }
  entry.district = InternDistrict(facility.district_uuid(), facility.district_code());
  entry.legal_form = InternLegalForm(facility.legal_form());
  entry.level = static_cast<uint8_t>(facility.level());
  entry.care_type = static_cast<uint8_t>(facility.care_type());
  entry.active = facility.active();
  entry.live = true;
  return entry;
}

uint32_t FacilityIndex::InternDistrict(absl::string_view uuid, absl::string_view code) {
  if (uuid.empty() && code.empty()) return kNoDistrict;
  // By uuid: the code is only a fallback for a district the areas lack.
  std::string key = uuid.empty() ? absl::StrCat("\x1f", code) : std::string(uuid);
  auto [it, added] = district_ref_by_uuid_.try_emplace(std::move(key), district_refs_.size());
  if (added) district_refs_.push_back(DistrictRef{std::string(uuid), std::string(code)});
  DistrictRef& ref = district_refs_[it->second];
  if (ref.code.empty() && !code.empty()) ref.code = std::string(code);
  return it->second;
}

uint16_t FacilityIndex::InternLegalForm(absl::string_view code) {
  for (size_t i = 0; i < legal_forms_.size(); ++i) {
    if (legal_forms_[i] == code) return static_cast<uint16_t>(i);
  }
  legal_forms_.emplace_back(code);
  return static_cast<uint16_t>(legal_forms_.size() - 1);
}

std::string FacilityIndex::DistrictCodeOf(const Entry& entry) const {
  if (entry.district == kNoDistrict) return "";
  const DistrictRef& ref = district_refs_[entry.district];
  auto known = district_uuid_to_code_.find(ref.uuid);
  return known != district_uuid_to_code_.end() ? known->second : ref.code;
}

HealthFacility FacilityIndex::ToProto(const Entry& entry) const {
  HealthFacility f;
  f.set_uuid(std::string(entry.Field(kUuid)));
  f.set_code(std::string(entry.Field(kCode)));
  f.set_name(std::string(entry.Field(kName)));
  f.set_level(static_cast<mflsync::v1::FacilityLevel>(entry.level));
  f.set_care_type(static_cast<mflsync::v1::CareType>(entry.care_type));
  f.set_legal_form(legal_forms_[entry.legal_form]);
  if (entry.district != kNoDistrict) {
    f.set_district_uuid(district_refs_[entry.district].uuid);
    f.set_district_code(DistrictCodeOf(entry));
  }
  f.set_address(std::string(entry.Field(kAddress)));
  f.set_phone(std::string(entry.Field(kPhone)));
  f.set_fax(std::string(entry.Field(kFax)));
  f.set_email(std::string(entry.Field(kEmail)));
  f.set_active(entry.active);
  return f;
}

uint64_t FacilityIndex::NameHash(absl::string_view name, absl::string_view district_code) const {
  return absl::HashOf(NameKey(name), district_code);
}

void FacilityIndex::IndexLocked(uint32_t slot) {
  const Entry& entry = entries_[slot];
  // Erase before emplace: the key must view this entry's buffer, not the
  // one of an entry that held the key before (a duplicate HF code).
  by_uuid_.erase(entry.Field(kUuid));
  by_uuid_.emplace(entry.Field(kUuid), slot);
  by_code_.erase(entry.Field(kCode));
  by_code_.emplace(entry.Field(kCode), slot);
  by_name_.emplace(NameHash(entry.Field(kName), DistrictCodeOf(entry)), slot);
}

void FacilityIndex::UnindexLocked(uint32_t slot) {
  const Entry& entry = entries_[slot];
  auto code = by_code_.find(entry.Field(kCode));
  if (code != by_code_.end() && code->second == slot) by_code_.erase(code);
  auto range = by_name_.equal_range(NameHash(entry.Field(kName), DistrictCodeOf(entry)));
  for (auto it = range.first; it != range.second; ++it) {
    if (it->second == slot) {
      by_name_.erase(it);
      break;
    }
  }
  by_uuid_.erase(entry.Field(kUuid));
}

void FacilityIndex::RemoveLocked(uint32_t slot) {
  UnindexLocked(slot);
  removed_.emplace_back(entries_[slot].Field(kUuid));
  dirty_.erase(slot);
  entries_[slot] = Entry();
  free_slots_.push_back(slot);
  --live_;
}

PutResult FacilityIndex::Put(const HealthFacility& facility) {
  absl::MutexLock lock(&mu_);
  Entry entry = Pack(facility);
  auto old = by_uuid_.find(absl::string_view(facility.uuid()));
  uint32_t slot;
  PutResult result = PutResult::kAdded;
  if (old != by_uuid_.end()) {
    slot = old->second;
    result = SamePacked(entries_[slot], entry) ? PutResult::kSame : PutResult::kChanged;
    UnindexLocked(slot);
  } else if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
    ++live_;
  } else {
    slot = static_cast<uint32_t>(entries_.size());
    entries_.emplace_back();
    ++live_;
  }
  entries_[slot] = std::move(entry);
  IndexLocked(slot);
  if (result != PutResult::kSame) dirty_.insert(slot);
  if (sweeping_) {
    if (swept_.size() <= slot) swept_.resize(entries_.size(), false);
    swept_[slot] = true;
  }
  return result;
}

void FacilityIndex::BeginSweep() {
  absl::MutexLock lock(&mu_);
  sweeping_ = true;
  swept_.assign(entries_.size(), false);
}

std::vector<std::string> FacilityIndex::EndSweep() {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> codes;
  if (!sweeping_) return codes;
  sweeping_ = false;
  swept_.resize(entries_.size(), false);
  for (uint32_t slot = 0; slot < entries_.size(); ++slot) {
    if (!entries_[slot].live || swept_[slot]) continue;
    codes.emplace_back(entries_[slot].Field(kCode));
    RemoveLocked(slot);
  }
  swept_.clear();
  swept_.shrink_to_fit();
  return codes;
}

void FacilityIndex::AbortSweep() {
  absl::MutexLock lock(&mu_);
  sweeping_ = false;
  swept_.clear();
}

void FacilityIndex::SetAreas(std::vector<Area> areas) {
  absl::MutexLock lock(&mu_);
  SetAreasLocked(std::move(areas));
}

void FacilityIndex::SetAreasLocked(std::vector<Area> areas) {
  std::map<std::string, const Area*> area_by_uuid;
  for (const Area& area : areas) area_by_uuid[area.uuid] = &area;
  std::map<std::string, District> districts;
  std::map<std::string, std::string> uuid_to_code;
  for (const Area& area : areas) {
    if (area.type != "D") continue;
    District district;
    district.set_uuid(area.uuid);
    district.set_code(area.code);
    district.set_name(area.name);
    auto parent = area_by_uuid.find(area.parent_uuid);
    if (parent != area_by_uuid.end()) district.set_region_code(parent->second->code);
    uuid_to_code[area.uuid] = area.code;
    districts[area.code] = std::move(district);
  }
  const bool codes_moved = uuid_to_code != district_uuid_to_code_;
  // The name keys hold district codes: unindex under the old codes.
  if (codes_moved) {
    for (uint32_t slot = 0; slot < entries_.size(); ++slot) {
      if (entries_[slot].live) UnindexLocked(slot);
    }
  }
  districts_by_code_ = std::move(districts);
  district_uuid_to_code_ = std::move(uuid_to_code);
  areas_ = std::move(areas);
  if (codes_moved) {
    for (uint32_t slot = 0; slot < entries_.size(); ++slot) {
      if (entries_[slot].live) IndexLocked(slot);
    }
  }
}

void FacilityIndex::Replace(IndexSnapshot snapshot, absl::Time loaded_at) {
  SetAreas(std::move(snapshot.areas));
  BeginSweep();
  for (const HealthFacility& facility : snapshot.facilities) Put(facility);
  EndSweep();
  MarkLoaded(loaded_at);
}

void FacilityIndex::MarkLoaded(absl::Time loaded_at) {
  absl::MutexLock lock(&mu_);
  loaded_ = true;
  loaded_at_ = loaded_at;
}

bool FacilityIndex::loaded() const {
  absl::MutexLock lock(&mu_);
  return loaded_;
}

absl::Time FacilityIndex::loaded_at() const {
  absl::MutexLock lock(&mu_);
  return loaded_at_;
}

std::optional<uint32_t> FacilityIndex::SlotByCode(absl::string_view code) const {
  auto it = by_code_.find(code);
  if (it == by_code_.end()) return std::nullopt;
  return it->second;
}

std::vector<uint32_t> FacilityIndex::SlotsByName(absl::string_view name,
                                                 absl::string_view district_code) const {
  std::vector<uint32_t> slots;
  const std::string key = NameKey(name);
  auto range = by_name_.equal_range(NameHash(name, district_code));
  for (auto it = range.first; it != range.second; ++it) {
    const Entry& entry = entries_[it->second];
    if (NameKey(entry.Field(kName)) == key && DistrictCodeOf(entry) == district_code) {
      slots.push_back(it->second);
    }
  }
  return slots;
}

std::optional<HealthFacility> FacilityIndex::ByCode(absl::string_view code) const {
  absl::MutexLock lock(&mu_);
  std::optional<uint32_t> slot = SlotByCode(code);
  if (!slot.has_value()) return std::nullopt;
  return ToProto(entries_[*slot]);
}

std::optional<HealthFacility> FacilityIndex::ByUuid(absl::string_view uuid) const {
  absl::MutexLock lock(&mu_);
  auto it = by_uuid_.find(uuid);
  if (it == by_uuid_.end()) return std::nullopt;
  return ToProto(entries_[it->second]);
}

std::vector<HealthFacility> FacilityIndex::ByName(absl::string_view name,
                                                  absl::string_view district_code) const {
  absl::MutexLock lock(&mu_);
  std::vector<HealthFacility> out;
  for (uint32_t slot : SlotsByName(name, district_code)) out.push_back(ToProto(entries_[slot]));
  return out;
}

std::vector<HealthFacility> FacilityIndex::Lookup(
    const std::vector<std::string>& codes,
    const std::vector<std::pair<std::string, std::string>>& names) const {
  absl::MutexLock lock(&mu_);
  std::set<uint32_t> slots;
  for (const std::string& code : codes) {
    if (std::optional<uint32_t> slot = SlotByCode(code)) slots.insert(*slot);
  }
  for (const auto& [name, district_code] : names) {
    for (uint32_t slot : SlotsByName(name, district_code)) slots.insert(slot);
  }
  std::map<std::string, uint32_t> by_code;
  for (uint32_t slot : slots) {
    const Entry& entry = entries_[slot];
    by_code.emplace(absl::StrCat(entry.Field(kCode), "\x1f", entry.Field(kUuid)), slot);
  }
  std::vector<HealthFacility> out;
  out.reserve(by_code.size());
  for (const auto& [key, slot] : by_code) out.push_back(ToProto(entries_[slot]));
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

std::vector<Area> FacilityIndex::Areas() const {
  absl::MutexLock lock(&mu_);
  return areas_;
}

void FacilityIndex::DrainChanges(const std::function<void(const HealthFacility&)>& put,
                                 const std::function<void(const std::string& uuid)>& removed) {
  absl::MutexLock lock(&mu_);
  for (const std::string& uuid : removed_) removed(uuid);
  for (uint32_t slot : dirty_) put(ToProto(entries_[slot]));
  removed_.clear();
  dirty_.clear();
}

void FacilityIndex::ForgetChanges() {
  absl::MutexLock lock(&mu_);
  removed_.clear();
  dirty_.clear();
}

void FacilityIndex::ForEachFacility(const std::function<void(const HealthFacility&)>& visit) {
  absl::MutexLock lock(&mu_);
  for (const Entry& entry : entries_) {
    if (entry.live) visit(ToProto(entry));
  }
  removed_.clear();
  dirty_.clear();
}

size_t FacilityIndex::facility_count() const {
  absl::MutexLock lock(&mu_);
  return live_;
}

size_t FacilityIndex::district_count() const {
  absl::MutexLock lock(&mu_);
  return districts_by_code_.size();
}

}  // namespace mflsync::writer
