// Wiring of the fetcher service: its configuration schema and the module that
// ServiceMain runs. The logic lives in plain classes beside this file.
#ifndef MFLSYNC_FETCHER_FETCHER_MODULE_H_
#define MFLSYNC_FETCHER_FETCHER_MODULE_H_

#include <memory>

#include "absl/status/statusor.h"
#include "common/config.h"
#include "common/service_main.h"

namespace mflsync::fetcher {

// The service definition for ServiceMain (schema, default port, factory).
ServiceSpec FetcherSpec();

// Builds the module from a loaded configuration (exposed for in-process
// tests of the gRPC edge).
absl::StatusOr<std::unique_ptr<ServiceModule>> CreateFetcherModule(const Config& config);

}  // namespace mflsync::fetcher

#endif  // MFLSYNC_FETCHER_FETCHER_MODULE_H_
