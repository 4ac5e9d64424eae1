// Test helper: the real openHIM core (v8.5.0) that a ctest fixture started
// with testbed/openhim-real/openhim-real.sh, read from the openhim.env it
// writes; calls to its management API (HTTPS, its own CA) and its router.
#ifndef MFLSYNC_TESTS_MEDIATOR_REAL_OPENHIM_H_
#define MFLSYNC_TESTS_MEDIATOR_REAL_OPENHIM_H_

#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/http_client.h"
#include "mediator/openhim_api.h"

namespace mflsync::mediator::testing {

struct RealOpenHim {
  std::string api_url;     // https://localhost:<port>
  std::string api_ca;      // PEM CA of the API and the HTTPS router
  std::string router_url;  // http://127.0.0.1:<port>
  std::string root_user, root_password;
  std::string mediator_user, mediator_password;  // group admin
  std::string fetcher_id, fetcher_password;      // client, role `client_role`
  std::string writer_id, writer_password;        // client, role `client_role`
  std::string client_role;

  // The server of the env file named by $`env_var`, or why there is none.
  static absl::StatusOr<RealOpenHim> FromEnv(const char* env_var, const std::string& fixture);

  // OpenHimApi options for the mediator's user (or root).
  OpenHimApiOptions ApiOptions(bool as_root = false) const;
  // One API call as root; body null: none.
  absl::StatusOr<HttpResponse> Api(const std::string& method, const std::string& path,
                                   const nlohmann::json& body = nullptr) const;
  // The JSON of a 2xx API answer; an error names the call and the answer.
  absl::StatusOr<nlohmann::json> ApiJson(const std::string& method, const std::string& path,
                                         const nlohmann::json& body = nullptr) const;
  // The stored channel named `name`.
  absl::StatusOr<nlohmann::json> Channel(const std::string& name) const;
  // PUTs `changes` onto channel `name`, then waits out openHIM's channel
  // cache refresh (caching.refreshMillis, 1 s) before returning.
  absl::Status UpdateChannel(const std::string& name, const nlohmann::json& changes) const;
  // Adds `roles` to the client `client_id` (PUT /clients/{_id}).
  absl::Status AddClientRoles(const std::string& client_id, const nlohmann::json& roles) const;
  // A router call as client `client_id`.
  absl::StatusOr<HttpResponse> Router(const std::string& method, const std::string& path,
                                      const std::string& body, const std::string& client_id,
                                      const std::string& client_password,
                                      const std::string& content_type = "") const;
  // The transactions of channel `channel_id`, full representation, newest
  // first, at most `limit`.
  absl::StatusOr<nlohmann::json> Transactions(const std::string& channel_id, int limit) const;
};

}  // namespace mflsync::mediator::testing

#endif  // MFLSYNC_TESTS_MEDIATOR_REAL_OPENHIM_H_
