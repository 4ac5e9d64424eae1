// Operators' decisions about Locations the writer took for likely
// duplicates (`mflsync link`, `mflsync accept`): the one place they are
// kept. The scheduler sends them with every plan of their Locations
// (PlanWritesRequest.links), so later versions flow the same way.
#ifndef MFLSYNC_SCHEDULER_FACILITY_LINKS_H_
#define MFLSYNC_SCHEDULER_FACILITY_LINKS_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/sqlite.h"
#include "mflsync/v1/scheduler.pb.h"
#include "mflsync/v1/writer.pb.h"

namespace mflsync::scheduler {

// The facility_links table of a state database (state_db.h). Runs inside
// the caller's transaction; not thread-safe (StateStore serializes).
class FacilityLinks {
 public:
  explicit FacilityLinks(SqliteDb& db) : db_(db) {}

  // Sets the decision for `link`'s Location (replacing an earlier one).
  absl::Status Set(const v1::FacilityLink& link);
  // The decision for one Location, if any.
  absl::StatusOr<std::optional<v1::FacilityLink>> Get(const std::string& source_id,
                                                      const std::string& location_id);
  // The decisions for those of `location_ids` that have one, as the writer
  // applies them.
  absl::StatusOr<std::vector<v1::PlanLink>> ForPlan(const std::string& source_id,
                                                    const std::vector<std::string>& location_ids);

 private:
  SqliteDb& db_;
};

}  // namespace mflsync::scheduler

#endif  // MFLSYNC_SCHEDULER_FACILITY_LINKS_H_
