// Small FHIR R4 JSON helpers shared by the services: instants, references,
// OperationOutcome text.
#ifndef MFLSYNC_COMMON_FHIR_H_
#define MFLSYNC_COMMON_FHIR_H_

#include <string>
#include "absl/strings/string_view.h"

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace mflsync {

// Parses a FHIR `instant` (YYYY-MM-DDThh:mm:ss(.sss)(Z|±hh:mm)); also accepts
// a `dateTime` with a time zone. The error says why.
absl::StatusOr<absl::Time> ParseFhirInstant(absl::string_view text);

// Formats as a FHIR instant in UTC with milliseconds: 2024-05-01T10:00:00.000Z;
// always a valid instant (times before year 1 or after 9999 are clamped).
std::string FormatFhirInstant(absl::Time time);

// Whether `s` is a FHIR id: 1-64 characters of A-Z, a-z, 0-9, '-' and '.'.
bool IsFhirId(absl::string_view s);

// A relative literal reference "Type/id" (optionally "/_history/v").
struct FhirReference {
  std::string type;
  std::string id;
};
// Parses "Organization/abc", also from an absolute URL ending in Type/id.
absl::StatusOr<FhirReference> ParseFhirReference(absl::string_view reference);

// The diagnostics/details text of an OperationOutcome body, or the first
// `max_chars` of the body when it is not one.
std::string OperationOutcomeText(absl::string_view body, size_t max_chars = 300);

// Parses JSON without exceptions, within the default JsonBounds (depth,
// string length: common/json_bounds.h); a syntax error names its line and
// column ("not JSON: syntax error at line 3, column 7: …").
absl::StatusOr<nlohmann::json> ParseJson(absl::string_view text);

}  // namespace mflsync

#endif  // MFLSYNC_COMMON_FHIR_H_
