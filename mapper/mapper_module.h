// Wiring of the mapper service: its configuration schema and the module that
// ServiceMain runs. The logic lives in plain classes beside this file.
#ifndef MFLSYNC_MAPPER_MAPPER_MODULE_H_
#define MFLSYNC_MAPPER_MAPPER_MODULE_H_

#include "common/service_main.h"

namespace mflsync::mapper {

// The service definition for ServiceMain (schema, default port, factory).
ServiceSpec MapperSpec();

}  // namespace mflsync::mapper

#endif  // MFLSYNC_MAPPER_MAPPER_MODULE_H_
