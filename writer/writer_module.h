// Wiring of the writer service: its configuration schema and the module that
// ServiceMain runs. The logic lives in plain classes beside this file.
#ifndef MFLSYNC_WRITER_WRITER_MODULE_H_
#define MFLSYNC_WRITER_WRITER_MODULE_H_

#include "common/service_main.h"

namespace mflsync::writer {

// The service definition for ServiceMain (schema, default port, factory).
ServiceSpec WriterSpec();

}  // namespace mflsync::writer

#endif  // MFLSYNC_WRITER_WRITER_MODULE_H_
