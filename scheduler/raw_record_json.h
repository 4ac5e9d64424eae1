// The raw FHIR of a record as one JSON object, as the failure queue shows it
// to administrators.
#ifndef MFLSYNC_SCHEDULER_RAW_RECORD_JSON_H_
#define MFLSYNC_SCHEDULER_RAW_RECORD_JSON_H_

#include <cstddef>
#include <string>

#include "mflsync/v1/records.pb.h"

namespace mflsync::scheduler {

// {"location": {...}, "organization": {...}, "endpoints": [...], ...}; for a
// page entry the fetcher could not use, {"entry": ..., "fetch_rejections":
// [...]} instead of the FHIR members.
// At most kMaxRawJson bytes of it are kept (cut on a character boundary and
// marked); FullRawRecordJson is the whole text.
std::string RawRecordJson(const v1::SourceRecord& record);
std::string FullRawRecordJson(const v1::SourceRecord& record);
inline constexpr size_t kMaxRawJson = 256 * 1024;

}  // namespace mflsync::scheduler

#endif  // MFLSYNC_SCHEDULER_RAW_RECORD_JSON_H_
