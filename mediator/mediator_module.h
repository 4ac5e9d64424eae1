// Wiring of the openHIM mediator service: its configuration schema, the
// gRPC status service and the HTTP listener (POST /push, POST /sync) that
// openHIM's channels call. The logic lives in plain classes beside this file.
#ifndef MFLSYNC_MEDIATOR_MEDIATOR_MODULE_H_
#define MFLSYNC_MEDIATOR_MEDIATOR_MODULE_H_

#include <functional>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/config.h"
#include "common/service_main.h"
#include "mediator/live_settings.h"

namespace mflsync::mediator {

// The service definition for ServiceMain (schema, default port, factory).
ServiceSpec MediatorSpec();

// The module as the factory builds it, with accessors for in-process tests.
class MediatorModule : public ServiceModule {
 public:
  // The port the HTTP listener is bound to (after Start()).
  virtual int http_port() const = 0;
  // Blocks until openHIM accepted the registration (true) or `max_wait`
  // passed or no openHIM API is configured (false).
  virtual bool WaitUntilRegistered(absl::Duration max_wait) const = 0;
  // Blocks until every sync run started through /sync has ended and its
  // openHIM transaction has been updated.
  virtual void WaitForSyncWatchers() = 0;
  // Blocks until the live settings satisfy `done` (re-checked after each
  // heartbeat) or `max_wait` passes; returns whether they did.
  virtual bool WaitForSettings(const std::function<bool(const Settings&)>& done,
                               absl::Duration max_wait) const = 0;
};

// Builds the module (the HTTP listener binds in Start()).
absl::StatusOr<std::unique_ptr<MediatorModule>> CreateMediatorModule(const Config& config);

// The start-up checks of the configuration that the schema cannot express
// (run by --check-config too): heartbeat and backoff bounds, the openHIM
// user, the urn, the endpoint password (or http.allow_unauthenticated), the
// whitelist and http_listen.
absl::Status ValidateMediatorConfig(const Config& config);

}  // namespace mflsync::mediator

#endif  // MFLSYNC_MEDIATOR_MEDIATOR_MODULE_H_
