// The writer's dependency check (common/dependency_health.h): does openIMIS
// (or the openHIM channel in front of it) answer on the API the writer
// writes through? One cheap request without credentials and without side
// effects, under the common reachability rule (common/http_probe.h).
#ifndef MFLSYNC_WRITER_OPENIMIS_PROBE_H_
#define MFLSYNC_WRITER_OPENIMIS_PROBE_H_

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "writer/writer_core.h"

namespace mflsync::writer {

// graphql: POST {root}/graphql with the document "{ __typename }";
// fhir: GET {root}/api_fhir_r4/Organization?_count=1. OK when openIMIS
// answers (a refusal of the anonymous call counts as an answer).
absl::Status ProbeOpenImis(const WriterCoreOptions& options, absl::Duration timeout);

}  // namespace mflsync::writer

#endif  // MFLSYNC_WRITER_OPENIMIS_PROBE_H_
