#include "writer/write_planner.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/proto_time.h"
#include "common/rejection.h"
#include "writer/facility_identity.h"

namespace mflsync::writer {
namespace {

using mflsync::v1::HealthFacility;
using mflsync::v1::Reconciliation;

void Reject(Reconciliation* r, absl::string_view path, absl::string_view rule,
            absl::string_view value, absl::string_view message) {
  r->set_action(mflsync::v1::WRITE_ACTION_REJECT);
  *r->add_rejections() = MakeRejection(path, rule, value, message);
}

// The first facility of `namesakes` that is not `self` (by uuid), if any.
std::optional<HealthFacility> OtherNamesake(const std::vector<HealthFacility>& namesakes,
                                            const std::optional<HealthFacility>& self) {
  for (const HealthFacility& e : namesakes) {
    if (!self.has_value() || e.uuid() != self->uuid()) return e;
  }
  return std::nullopt;
}

// `record` as its link says: the linked facility's HF code instead of the
// mapped one.
mflsync::v1::MappedRecord Linked(const mflsync::v1::MappedRecord& record,
                                 const mflsync::v1::PlanLink* link) {
  mflsync::v1::MappedRecord out = record;
  if (link != nullptr && !link->hf_code().empty())
    out.mutable_facility()->set_code(link->hf_code());
  return out;
}

}  // namespace

Reconciliation WritePlanner::PlanDeactivation(const HealthFacility& f) const {
  Reconciliation r;
  r.set_action(mflsync::v1::WRITE_ACTION_NOOP);
  *r.mutable_facility() = f;
  r.mutable_facility()->clear_uuid();
  if (f.code().empty()) return r;  // the deletion of a non-facility Location
  std::optional<HealthFacility> target = index_->ByCode(f.code());
  if (!target.has_value()) return r;  // openIMIS never had it
  *r.mutable_current() = *target;
  HealthFacility* out = r.mutable_facility();
  *out = *target;
  if (!f.national_id().empty()) out->set_national_id(f.national_id());
  out->set_active(false);
  if (target->active()) r.set_action(mflsync::v1::WRITE_ACTION_UPDATE);
  return r;
}

Reconciliation WritePlanner::PlanOne(const mflsync::v1::MappedRecord& mapped,
                                     const mflsync::v1::PlanLink* link) const {
  const mflsync::v1::MappedRecord record = Linked(mapped, link);
  const HealthFacility& f = record.facility();
  if (link != nullptr && !link->hf_code().empty() && !index_->ByCode(f.code()).has_value()) {
    Reconciliation r;
    *r.mutable_facility() = f;
    Reject(&r, "Location.identifier", "reconcile.link.unknown_code", f.code(),
           absl::StrCat("Location ", record.location_id(), " is linked to openIMIS HF code ",
                        f.code(), ", which openIMIS does not hold: link it to another "
                        "facility (mflsync link) or fix it in openIMIS."));
    return r;
  }
  if (record.deactivation()) return PlanDeactivation(f);
  const bool accept_namesake = link != nullptr && link->accept_namesake();
  Reconciliation r;
  *r.mutable_facility() = f;
  r.mutable_facility()->clear_uuid();
  std::optional<mflsync::v1::District> district = index_->DistrictByCode(f.district_code());
  if (f.district_code().empty() || !district.has_value()) {
    Reject(&r, "Location.partOf", "openimis.district.unknown", f.district_code(),
           absl::StrCat("District '", f.district_code(), "' of ", Describe(f),
                        " is not an openIMIS district (", index_->district_count(),
                        " known): create it in openIMIS or fix areas.districts in the "
                        "mapping file."));
    return r;
  }
  r.mutable_facility()->set_district_uuid(district->uuid());
  std::optional<HealthFacility> target = index_->ByCode(f.code());
  std::optional<HealthFacility> namesake;
  if (!accept_namesake)
    namesake = OtherNamesake(index_->ByName(f.name(), f.district_code()), target);
  if (namesake.has_value()) {
    Reject(&r, "Location.name", "reconcile.duplicate.name_in_district", f.name(),
           absl::StrCat("Likely duplicate: ", Describe(f), " has the same name in district ",
                        f.district_code(), " as openIMIS facility ", Describe(*namesake),
                        "."));
    return r;
  }
  if (!target.has_value()) {
    r.set_action(mflsync::v1::WRITE_ACTION_CREATE);
    return r;
  }
  r.mutable_facility()->set_uuid(target->uuid());
  *r.mutable_current() = *target;
  r.set_action(SameContent(r.facility(), *target) ? mflsync::v1::WRITE_ACTION_NOOP
                                                  : mflsync::v1::WRITE_ACTION_UPDATE);
  return r;
}

mflsync::v1::PlanWritesResponse WritePlanner::Plan(
    const mflsync::v1::PlanWritesRequest& request) const {
  mflsync::v1::PlanWritesResponse response;
  *response.mutable_index_loaded_at() = ToTimestamp(index_->loaded_at());
  // The first record of the batch holding an HF code, or a name in a district.
  absl::flat_hash_map<std::string, int> first_by_code, first_by_name;
  absl::flat_hash_map<std::string, const mflsync::v1::PlanLink*> links;
  for (const mflsync::v1::PlanLink& link : request.links()) links[link.location_id()] = &link;
  for (int i = 0; i < request.records_size(); ++i) {
    auto link = links.find(request.records(i).location_id());
    const mflsync::v1::PlanLink* l = link == links.end() ? nullptr : link->second;
    const mflsync::v1::MappedRecord record = Linked(request.records(i), l);
    Reconciliation* r = response.add_results();
    *r = PlanOne(request.records(i), l);
    const bool writes = r->action() == mflsync::v1::WRITE_ACTION_CREATE ||
                        r->action() == mflsync::v1::WRITE_ACTION_UPDATE ||
                        r->action() == mflsync::v1::WRITE_ACTION_NOOP;
    if (record.deactivation() || !writes) continue;
    const HealthFacility& f = record.facility();
    const std::string name_key = absl::StrCat(f.district_code(), "|", NameKey(f.name()));
    auto [by_code, new_code] = first_by_code.emplace(f.code(), i);
    if (!new_code) {
      *r = Reconciliation();
      *r->mutable_facility() = f;
      Reject(r, "Location.identifier", "reconcile.duplicate.code_in_batch", f.code(),
             absl::StrCat("Likely duplicate: ", Describe(f), " has the same HF code as ",
                          Describe(request.records(by_code->second).facility()),
                          " earlier in the batch."));
      continue;
    }
    if (l != nullptr && l->accept_namesake()) continue;  // accepted despite namesakes
    auto [by_name, new_name] = first_by_name.emplace(name_key, i);
    if (!new_name) {
      first_by_code.erase(f.code());
      *r = Reconciliation();
      *r->mutable_facility() = f;
      Reject(r, "Location.name", "reconcile.duplicate.name_in_batch", f.name(),
             absl::StrCat("Likely duplicate: ", Describe(f), " has the same name in district ",
                          f.district_code(), " as ",
                          Describe(request.records(by_name->second).facility()),
                          " earlier in the batch."));
    }
  }
  return response;
}

}  // namespace mflsync::writer
