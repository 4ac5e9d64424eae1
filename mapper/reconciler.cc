#include "mapper/reconciler.h"

#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "mapper/fhir_structure.h"
#include "mapper/mapper.h"

namespace mflsync::mapper {
namespace {

std::string Describe(const v1::HealthFacility& f) {
  std::string s = absl::StrCat("'", f.name(), "' (HF code ", f.code());
  if (!f.uuid().empty()) absl::StrAppend(&s, ", openIMIS ", f.uuid());
  if (!f.national_id().empty()) absl::StrAppend(&s, ", national id ", f.national_id());
  if (!f.district_code().empty()) absl::StrAppend(&s, ", district ", f.district_code());
  absl::StrAppend(&s, ")");
  return s;
}

void Reject(v1::Reconciliation* r, absl::string_view path, absl::string_view rule,
            absl::string_view value, absl::string_view message) {
  r->set_action(v1::WRITE_ACTION_REJECT);
  std::vector<v1::Rejection> rej;
  AddRejection(&rej, path, rule, value, message);
  *r->add_rejections() = std::move(rej[0]);
}

}  // namespace

std::string Reconciler::NameKey(absl::string_view name) {
  std::string out;
  bool space = false;
  for (char c : name) {
    unsigned char u = static_cast<unsigned char>(c);
    if (absl::ascii_isspace(u)) {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(absl::ascii_tolower(u));
  }
  return out;
}

bool Reconciler::SameContent(const v1::HealthFacility& a, const v1::HealthFacility& b) {
  bool same_district = (!a.district_uuid().empty() && !b.district_uuid().empty())
                           ? a.district_uuid() == b.district_uuid()
                           : a.district_code() == b.district_code();
  return a.code() == b.code() && a.name() == b.name() && a.level() == b.level() &&
         a.care_type() == b.care_type() && a.legal_form() == b.legal_form() &&
         same_district && a.address() == b.address() && a.phone() == b.phone() &&
         a.fax() == b.fax() && a.email() == b.email() && a.active() == b.active();
}

v1::ReconcileFacilitiesResponse Reconciler::Reconcile(
    const v1::ReconcileFacilitiesRequest& request) const {
  absl::flat_hash_map<std::string, const v1::District*> district_by_code;
  absl::flat_hash_map<std::string, std::string> district_code_by_uuid;
  for (const v1::District& d : request.districts()) {
    district_by_code.emplace(d.code(), &d);
    district_code_by_uuid.emplace(d.uuid(), d.code());
  }
  auto district_of = [&](const v1::HealthFacility& f) -> std::string {
    if (!f.district_code().empty()) return f.district_code();
    auto it = district_code_by_uuid.find(f.district_uuid());
    return it == district_code_by_uuid.end() ? f.district_uuid() : it->second;
  };
  absl::flat_hash_map<std::string, const v1::HealthFacility*> by_code, by_national;
  absl::flat_hash_map<std::string, std::vector<const v1::HealthFacility*>> by_name;
  for (const v1::HealthFacility& e : request.existing()) {
    by_code.emplace(e.code(), &e);
    if (!e.national_id().empty()) by_national.emplace(e.national_id(), &e);
    by_name[absl::StrCat(district_of(e), "|", NameKey(e.name()))].push_back(&e);
  }
  absl::flat_hash_map<std::string, int> batch_code, batch_name;

  v1::ReconcileFacilitiesResponse response;
  for (int i = 0; i < request.facilities_size(); ++i) {
    const v1::HealthFacility& f = request.facilities(i);
    v1::Reconciliation* r = response.add_results();
    *r->mutable_facility() = f;
    r->mutable_facility()->clear_uuid();

    if (IsDeactivationOnly(f) && f.code().empty()) {
      r->set_action(v1::WRITE_ACTION_NOOP);  // deletion of a non-facility Location
      continue;
    }
    const v1::HealthFacility* by_nat =
        f.national_id().empty() ? nullptr
                                : (by_national.contains(f.national_id())
                                       ? by_national[f.national_id()]
                                       : nullptr);
    const v1::HealthFacility* same_code =
        by_code.contains(f.code()) ? by_code[f.code()] : nullptr;
    const v1::HealthFacility* target = by_nat != nullptr ? by_nat : same_code;
    if (same_code != nullptr && same_code != target) {
      Reject(r, "Location.identifier", "reconcile.duplicate.code", f.code(),
             absl::StrCat("HF code ", f.code(), " is held in openIMIS by another facility ",
                          Describe(*same_code), "; this facility is ", Describe(*target), "."));
      continue;
    }
    if (target != nullptr && by_nat == nullptr && !target->national_id().empty() &&
        target->national_id() != f.national_id()) {
      Reject(r, "Location.identifier", "reconcile.duplicate.code", f.code(),
             absl::StrCat("Likely duplicate: HF code ", f.code(), " of ", Describe(f),
                          " is held in openIMIS by a different facility ", Describe(*target),
                          "."));
      continue;
    }

    if (IsDeactivationOnly(f)) {
      // A deletion: deactivate what openIMIS holds, keeping its other data.
      if (target == nullptr) {
        r->set_action(v1::WRITE_ACTION_NOOP);  // openIMIS never had it
        continue;
      }
      v1::HealthFacility* out = r->mutable_facility();
      *out = *target;
      if (!f.national_id().empty()) out->set_national_id(f.national_id());
      out->set_active(false);
      if (out->district_code().empty()) out->set_district_code(district_of(*target));
      r->set_action(target->active() ? v1::WRITE_ACTION_UPDATE : v1::WRITE_ACTION_NOOP);
      continue;
    }

    auto district = district_by_code.find(f.district_code());
    if (f.district_code().empty() || district == district_by_code.end()) {
      Reject(r, "Location.partOf", "openimis.district.unknown", f.district_code(),
             absl::StrCat("District '", f.district_code(), "' of ", Describe(f),
                          " is not an openIMIS district (", request.districts_size(),
                          " known): create it in openIMIS or fix areas.districts in the "
                          "mapping file."));
      continue;
    }
    r->mutable_facility()->set_district_uuid(district->second->uuid());

    std::string name_key = absl::StrCat(f.district_code(), "|", NameKey(f.name()));
    const v1::HealthFacility* namesake = nullptr;
    if (auto it = by_name.find(name_key); it != by_name.end()) {
      for (const v1::HealthFacility* e : it->second)
        if (target == nullptr || e->uuid() != target->uuid()) namesake = namesake ? namesake : e;
    }
    if (namesake != nullptr) {
      Reject(r, "Location.name", "reconcile.duplicate.name_in_district", f.name(),
             absl::StrCat("Likely duplicate: ", Describe(f), " has the same name in district ",
                          f.district_code(), " as openIMIS facility ", Describe(*namesake),
                          "."));
      continue;
    }
    if (auto it = batch_code.find(f.code()); it != batch_code.end()) {
      Reject(r, "Location.identifier", "reconcile.duplicate.code_in_batch", f.code(),
             absl::StrCat("Likely duplicate: ", Describe(f), " has the same HF code as ",
                          Describe(request.facilities(it->second)), " earlier in the batch."));
      continue;
    }
    if (auto it = batch_name.find(name_key); it != batch_name.end()) {
      Reject(r, "Location.name", "reconcile.duplicate.name_in_batch", f.name(),
             absl::StrCat("Likely duplicate: ", Describe(f), " has the same name in district ",
                          f.district_code(), " as ", Describe(request.facilities(it->second)),
                          " earlier in the batch."));
      continue;
    }
    batch_code.emplace(f.code(), i);
    batch_name.emplace(name_key, i);

    if (target == nullptr) {
      r->set_action(v1::WRITE_ACTION_CREATE);
      continue;
    }
    r->mutable_facility()->set_uuid(target->uuid());
    r->set_action(SameContent(r->facility(), *target) ? v1::WRITE_ACTION_NOOP
                                                      : v1::WRITE_ACTION_UPDATE);
  }
  return response;
}

}  // namespace mflsync::mapper
