// Keeps the mediator registered with openHIM: registers (retrying with
// backoff while the API is down or refuses), installs the default channels,
// then sends a heartbeat every interval with the uptime and applies the
// settings openHIM returns, live. Runs in its own thread.
#ifndef MFLSYNC_MEDIATOR_REGISTRAR_H_
#define MFLSYNC_MEDIATOR_REGISTRAR_H_

#include <cstdint>
#include <functional>
#include <vector>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "mediator/live_settings.h"
#include "mediator/openhim_api.h"

namespace mflsync::mediator {

struct RegistrarOptions {
  absl::Duration heartbeat_interval = absl::Seconds(10);
  absl::Duration initial_backoff = absl::Seconds(1);  // doubles while failing
  absl::Duration max_backoff = absl::Seconds(60);
  // Install the default channels openHIM lacks and bring the routes of the
  // present ones (matched by name) to the registration's host, port, TLS
  // and credentials.
  bool install_channels = true;
  // PEM CA of the mediator's HTTPS certificate: added to openHIM's trusted
  // certificates before each registration, its keystore id given to the
  // builder. Empty: none (plain HTTP, or a certificate from a public CA).
  std::string trusted_ca_pem;
};

// What the registrar has achieved so far.
struct RegistrarState {
  bool registered = false;
  std::string version;
  std::string last_error;    // empty when the last API call succeeded
  int64_t registrations = 0;  // successful POST /mediators
  int64_t heartbeats = 0;     // successful heartbeats
  int64_t config_updates = 0; // configs from openHIM applied
  absl::Time last_heartbeat = absl::InfinitePast();
};

// Builds the POST /mediators body from the current settings and the
// keystore id of the mediator's CA in openHIM ("" when none).
using RegistrationBuilder =
    std::function<nlohmann::json(const Settings&, const std::string& trusted_ca_id)>;

class Registrar {
 public:
  // `build` makes the POST /mediators body (BuildRegistration) from the
  // settings current at each registration, so that openHIM, when it has
  // forgotten the mediator, gets the console's edits back rather than the
  // start-up values. `settings` must outlive the registrar.
  Registrar(OpenHimApi api, RegistrationBuilder build, LiveSettings* settings,
            RegistrarOptions options);
  // A fixed registration whose `config` takes the current settings' values.
  Registrar(OpenHimApi api, nlohmann::json registration, LiveSettings* settings,
            RegistrarOptions options);
  ~Registrar();  // Stop()

  // One registration: the CA into openHIM's keystore (trusted_ca_pem), POST
  // /mediators, then the default channels (install_channels).
  absl::Status RegisterOnce();
  // One heartbeat (`config:true` asks openHIM for the current config, as
  // on the first heartbeat after a registration). A returned config is
  // validated and applied, and the routes follow it (install_channels);
  // NOT_FOUND means openHIM forgot the mediator.
  absl::Status HeartbeatOnce(bool request_config);

  // Starts the background loop (register with backoff, then heartbeats).
  void Start();
  // Stops it promptly (an HTTP call in progress finishes first).
  void Stop();

  RegistrarState State() const;
  // Blocks until State() satisfies `done` or `max_wait` passes; returns
  // whether it did (for tests and start-up logs).
  bool WaitFor(const std::function<bool(const RegistrarState&)>& done,
               absl::Duration max_wait) const;

  absl::Duration Uptime() const { return absl::Now() - started_; }

 private:
  void Loop();
  void Note(const absl::Status& status);
  // The default channels: POST /mediators/{urn}/channels for the missing,
  // PUT /channels/{id} for present ones whose routes went stale.
  absl::Status InstallChannels(const nlohmann::json& registration);
  absl::Status InstallMissing(const std::vector<std::string>& names);
  // After settings from openHIM changed (a new endpoint password): the
  // routes again, until it succeeds (warnings meanwhile).
  void RefreshRoutes();


  OpenHimApi api_;
  RegistrationBuilder build_;
  std::string urn_;
  LiveSettings* settings_;
  RegistrarOptions options_;
  absl::Time started_ = absl::Now();

  mutable absl::Mutex mu_;
  RegistrarState state_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::string trusted_ca_id_ ABSL_GUARDED_BY(mu_);  // of the last registration
  bool routes_stale_ = false;  // the heartbeat thread's own
  std::thread thread_;
};

}  // namespace mflsync::mediator

#endif  // MFLSYNC_MEDIATOR_REGISTRAR_H_
