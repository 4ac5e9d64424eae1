// Wiring of the writer service: its configuration schema and the module that
// ServiceMain runs. The logic lives in plain classes beside this file.
#ifndef MFLSYNC_WRITER_WRITER_MODULE_H_
#define MFLSYNC_WRITER_WRITER_MODULE_H_

#include <memory>

#include "common/service_main.h"
#include "writer/writer_core.h"

namespace mflsync::writer {

// The service definition for ServiceMain (schema, default port, factory).
ServiceSpec WriterSpec();

// The module with explicit options (tests, benchmarks).
std::unique_ptr<ServiceModule> MakeWriterModule(WriterCoreOptions options);

}  // namespace mflsync::writer

#endif  // MFLSYNC_WRITER_WRITER_MODULE_H_
