// The fetcher's dependency check (common/dependency_health.h): does a
// source's MFL answer, through the openHIM channel the fetcher reads, with
// the fetcher's credentials? GET {base_url}/metadata (the FHIR
// CapabilityStatement: cheap, no side effect), one attempt, bounded.
#ifndef MFLSYNC_FETCHER_MFL_PROBE_H_
#define MFLSYNC_FETCHER_MFL_PROBE_H_

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "fetcher/source_config.h"

namespace mflsync::fetcher {

// OK on a 2xx answer within `timeout`; otherwise the MFL client's error
// (what, where, why; credentials never appear), prefixed with the source.
absl::Status ProbeMfl(const SourceConfig& source, absl::Duration timeout);

}  // namespace mflsync::fetcher

#endif  // MFLSYNC_FETCHER_MFL_PROBE_H_
