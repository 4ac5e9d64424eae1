// Turns a FHIR payload pushed by an MFL (a Bundle of type transaction, batch
// or collection, or a single Location) into the SourceRecords the mapper
// takes: each Location joined with its managing Organization and Endpoints
// by reference within the payload; entries that cannot be used are listed
// with the reason.
#ifndef MFLSYNC_MEDIATOR_PUSH_BUNDLE_H_
#define MFLSYNC_MEDIATOR_PUSH_BUNDLE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "mflsync/v1/records.pb.h"

namespace mflsync::mediator {

// Source id given to pushed records.
inline constexpr char kPushSourceId[] = "push";

// An entry of the payload that was refused before mapping.
struct RejectedEntry {
  int entry = -1;         // index in Bundle.entry; -1 for the payload itself
  std::string full_url;   // entry.fullUrl, when present
  std::string resource_type;
  std::string id;
  std::string stage;      // "parse", "map", "reconcile", "write"
  std::vector<v1::Rejection> reasons;
  int64_t failure_id = 0;  // the failure-queue entry holding it, when parked
};

// One Location of the payload, ready for the mapper.
struct PushedRecord {
  int entry = -1;  // index in Bundle.entry (0 for a single Location)
  v1::SourceRecord record;
};

struct PushedPayload {
  std::string kind;  // "Location", or the Bundle type
  int entries = 0;   // Bundle.entry count (1 for a single Location)
  std::vector<PushedRecord> records;
  std::vector<RejectedEntry> rejected;
};

// Parses and joins. An error (INVALID_ARGUMENT) means the payload as a whole
// is unusable: not JSON, not a Bundle or Location, a Bundle type other than
// transaction/batch/collection, or more than `max_entries` entries. A
// transaction/batch entry with request.method DELETE and request.url
// "Location/<id>" becomes a deletion record.
absl::StatusOr<PushedPayload> ParsePushedPayload(absl::string_view body, int64_t max_entries);

}  // namespace mflsync::mediator

#endif  // MFLSYNC_MEDIATOR_PUSH_BUNDLE_H_
