// Wiring of the mapper service: its configuration schema and the module that
// ServiceMain runs. The logic lives in plain classes beside this file.
#ifndef MFLSYNC_MAPPER_MAPPER_MODULE_H_
#define MFLSYNC_MAPPER_MAPPER_MODULE_H_

#include <memory>

#include "absl/status/statusor.h"
#include "common/config.h"
#include "common/service_main.h"

namespace mflsync::mapper {

// The service definition for ServiceMain (schema, default port, factory).
ServiceSpec MapperSpec();

// Loads the mapping file named by `mapping_file` and builds the module.
absl::StatusOr<std::unique_ptr<ServiceModule>> CreateMapperModule(const Config& config);

}  // namespace mflsync::mapper

#endif  // MFLSYNC_MAPPER_MAPPER_MODULE_H_
