// Decides, for mapped facilities, what the writer must do against what
// openIMIS holds (the writer's index): create, update by UUID, nothing (no-op),
// or reject as a likely duplicate or for a district openIMIS lacks. Pure.
#ifndef MFLSYNC_MAPPER_RECONCILER_H_
#define MFLSYNC_MAPPER_RECONCILER_H_

#include <string>

#include "absl/strings/string_view.h"
#include "mflsync/v1/mapper.pb.h"
#include "mflsync/v1/records.pb.h"

namespace mflsync::mapper {

class Reconciler {
 public:
  // One result per request facility, in order. Within a batch the first of
  // two facilities that share an HF code (or a name in a district) wins; the
  // later ones are rejected naming the first.
  v1::ReconcileFacilitiesResponse Reconcile(
      const v1::ReconcileFacilitiesRequest& request) const;

  // Name key used for "same name in the same district": case folded,
  // whitespace trimmed and collapsed (as the writer's LookupFacilities).
  static std::string NameKey(absl::string_view name);

  // True when `a` and `b` hold the same openIMIS data (code, name, level,
  // care type, legal form, district, address, contacts, active).
  static bool SameContent(const v1::HealthFacility& a, const v1::HealthFacility& b);
};

}  // namespace mflsync::mapper

#endif  // MFLSYNC_MAPPER_RECONCILER_H_
