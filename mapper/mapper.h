// Maps one MFL source record (FHIR Location + Organization + Endpoints) to an
// openIMIS health facility, or to the list of rejections that say which
// element broke which rule. Pure: depends only on the record and the mapping.
#ifndef MFLSYNC_MAPPER_MAPPER_H_
#define MFLSYNC_MAPPER_MAPPER_H_

#include <memory>
#include <vector>

#include "mapper/fhir_structure.h"
#include "mapper/mapping.h"
#include "mflsync/v1/mapper.pb.h"
#include "mflsync/v1/records.pb.h"

namespace mflsync::mapper {

class Mapper {
 public:
  // `mapping` must outlive the mapper.
  explicit Mapper(const Mapping* mapping);

  // Validates and maps one record. A deletion maps to a deactivation: a
  // facility with only `code`, `national_id` and active=false (see
  // docs/mapping.md, "Deleted records").
  v1::MappedRecord Map(const v1::SourceRecord& record) const;

  // Maps a batch, in order.
  v1::MapFacilitiesResponse MapBatch(const v1::MapFacilitiesRequest& request) const;

  const Mapping& mapping() const { return *mapping_; }

 private:
  struct Work;  // one record's mapping in progress (mapper.cc)

  void MapDeleted(const v1::SourceRecord& record, v1::MappedRecord* out) const;
  // Parses the Location, its Organization and Endpoints and validates their
  // FHIR structure; false when any broke a rule (then nothing is mapped).
  bool ParseAndValidate(const v1::SourceRecord& record, Work& w) const;
  // One step each, in Map's order; each adds its rejections to `w`.
  void MapNationalId(Work& w) const;    // national id → HF code
  void MapName(Work& w) const;
  void MapFacilityType(Work& w) const;  // type → level (and default care type)
  void MapOwner(Work& w) const;         // owner → legal form
  void MapCareType(Work& w) const;      // services → care type
  void MapDistrict(Work& w) const;      // area → district
  void MapAddress(Work& w) const;
  void MapContacts(Work& w) const;      // first phone, fax and e-mail
  // HF code for a national id value; empty and a rejection on failure.
  std::string HfCode(const std::string& national_id, const std::string& path,
                     std::vector<v1::Rejection>* out) const;

  const Mapping* mapping_;
  FhirValidator validator_;
};

}  // namespace mflsync::mapper

#endif  // MFLSYNC_MAPPER_MAPPER_H_
