// Decides, for mapped facilities, what the writer must do against what
// openIMIS holds (the facility index): create, update by UUID, nothing, or
// reject as a likely duplicate or for a district openIMIS lacks. Reads the
// index, writes nothing: the RPC WriterService.PlanWrites, and the first
// step of every sync, retry and push.
#ifndef MFLSYNC_WRITER_WRITE_PLANNER_H_
#define MFLSYNC_WRITER_WRITE_PLANNER_H_

#include "mflsync/v1/writer.pb.h"
#include "writer/facility_index.h"

namespace mflsync::writer {

class WritePlanner {
 public:
  // `index` must outlive the planner.
  explicit WritePlanner(const FacilityIndex* index) : index_(index) {}

  // One decision per record, in order. Within one request the first of two
  // facilities that share an HF code, or a name in a district, wins; the
  // later ones are rejected naming the first. The request's links (an
  // operator's decisions about likely duplicates) apply to their Locations.
  mflsync::v1::PlanWritesResponse Plan(const mflsync::v1::PlanWritesRequest& request) const;

  // The decision for one record against the index alone; for an update or
  // a no-op `current` is what openIMIS holds now (a dry run's old values).
  // With `link`: written to the linked facility's HF code (rejected when
  // openIMIS has none), or without the likely-duplicate check by name.
  mflsync::v1::Reconciliation PlanOne(const mflsync::v1::MappedRecord& record,
                                      const mflsync::v1::PlanLink* link = nullptr) const;

 private:
  // A deletion: deactivate what openIMIS holds under the code, keeping its
  // other data; nothing when openIMIS never had it or has it inactive.
  mflsync::v1::Reconciliation PlanDeactivation(const mflsync::v1::HealthFacility& f) const;

  const FacilityIndex* index_;
};

}  // namespace mflsync::writer

#endif  // MFLSYNC_WRITER_WRITE_PLANNER_H_
