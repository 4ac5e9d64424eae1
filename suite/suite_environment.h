// The suite's one list of MFLSYNC_* environment variables: every key of
// every service's configuration schema, plus the variables the mflsync
// command, the scripts and the tests read. Each service checks its
// environment against it at start-up (and --check-config), so that a variable
// no part of the suite reads, a misspelling, stops it.
#ifndef MFLSYNC_SUITE_SUITE_ENVIRONMENT_H_
#define MFLSYNC_SUITE_SUITE_ENVIRONMENT_H_

#include <vector>

#include "common/known_environment.h"

namespace mflsync {

// The variables outside the schemas, with who reads them.
std::vector<EnvironmentVariable> OtherEnvironmentVariables();

// Every service's schema (the common keys included) and the others.
KnownEnvironment SuiteEnvironment();

}  // namespace mflsync

#endif  // MFLSYNC_SUITE_SUITE_ENVIRONMENT_H_
