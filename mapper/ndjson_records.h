// Builds source records from an MFL FHIR NDJSON export (one resource a line,
// as testbed/data_tools writes): each facility Location (physicalType si)
// with its managing Organization and Endpoints, as the fetcher would send
// them. For the map report, the benchmark and the Kenya tests.
#ifndef MFLSYNC_MAPPER_NDJSON_RECORDS_H_
#define MFLSYNC_MAPPER_NDJSON_RECORDS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "mflsync/v1/records.pb.h"

namespace mflsync::mapper {

// Reads `path`; errors name the file and line. Locations other than sites
// (jurisdictions) are skipped.
absl::StatusOr<std::vector<v1::SourceRecord>> LoadNdjsonRecords(const std::string& path,
                                                                const std::string& source_id);

}  // namespace mflsync::mapper

#endif  // MFLSYNC_MAPPER_NDJSON_RECORDS_H_
