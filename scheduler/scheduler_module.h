// Wiring of the scheduler service: its configuration schema and the module that
// ServiceMain runs. The logic lives in plain classes beside this file.
#ifndef MFLSYNC_SCHEDULER_SCHEDULER_MODULE_H_
#define MFLSYNC_SCHEDULER_SCHEDULER_MODULE_H_

#include "common/service_main.h"

namespace mflsync::scheduler {

// The service definition for ServiceMain (schema, default port, factory).
ServiceSpec SchedulerSpec();

}  // namespace mflsync::scheduler

#endif  // MFLSYNC_SCHEDULER_SCHEDULER_MODULE_H_
