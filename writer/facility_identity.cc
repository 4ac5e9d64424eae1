#include "writer/facility_identity.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/facility_fields.h"

namespace mflsync::writer {

using mflsync::v1::HealthFacility;

std::string NameKey(absl::string_view name) {
  std::string out;
  bool pending_space = false;
  for (char c : name) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (absl::ascii_isspace(u)) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    out.push_back(absl::ascii_tolower(u));
  }
  return out;
}

bool SameContent(const HealthFacility& a, const HealthFacility& b) {
  for (const FacilityField& field : WrittenFacilityFields()) {
    if (!field.same(a, b)) return false;
  }
  return true;
}

bool SameLocationView(const HealthFacility& a, const HealthFacility& b) {
  return a.code() == b.code() && a.name() == b.name() && a.level() == b.level() &&
         a.district_uuid() == b.district_uuid() && a.active() == b.active();
}

bool SameIdentity(const HealthFacility& found, const HealthFacility& wanted) {
  return found.code() == wanted.code() && found.name() == wanted.name() &&
         found.district_uuid() == wanted.district_uuid();
}

std::string Describe(const HealthFacility& f) {
  std::string s = absl::StrCat("'", f.name(), "' (HF code ", f.code());
  if (!f.uuid().empty()) absl::StrAppend(&s, ", openIMIS ", f.uuid());
  const std::string& district = f.district_code().empty() ? f.district_uuid() : f.district_code();
  if (!district.empty()) absl::StrAppend(&s, ", district ", district);
  absl::StrAppend(&s, ")");
  return s;
}

}  // namespace mflsync::writer
