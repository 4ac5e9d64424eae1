// Newest version wins: the one rule that decides whether a record version
// from the MFL may still be written, given the newest version of its
// Location that already reached openIMIS (StateStore::NewestVersions).
#ifndef MFLSYNC_SCHEDULER_VERSION_ORDER_H_
#define MFLSYNC_SCHEDULER_VERSION_ORDER_H_

#include "mflsync/v1/records.pb.h"

namespace mflsync::scheduler {

// Whether `record` must not be written: its meta.lastUpdated is earlier than
// `newest`'s, or it is `newest` itself (same lastUpdated and versionId) and
// `reverify_equal` is false. A full run re-verifies the same version
// against openIMIS (reverify_equal: it repairs drift there); no run ever
// writes an older one. Versions are ordered by lastUpdated, which FHIR
// servers advance on every change (versionId need not be numeric).
bool IsStale(const v1::SourceRecord& record, const v1::RecordKey& newest, bool reverify_equal);

}  // namespace mflsync::scheduler

#endif  // MFLSYNC_SCHEDULER_VERSION_ORDER_H_
