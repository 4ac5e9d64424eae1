// Test helper: runs the openHIM stand-in (testbed/openhim) as a child
// process with both listeners on free loopback ports, and calls its API.
#ifndef MFLSYNC_TESTS_MEDIATOR_OPENHIM_STANDIN_H_
#define MFLSYNC_TESTS_MEDIATOR_OPENHIM_STANDIN_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "common/http_client.h"
#include "tests/support/child_process.h"

namespace mflsync::mediator::testing {

inline constexpr char kAdminUser[] = "root@openhim.org";
inline constexpr char kAdminPassword[] = "openhim-password";

class OpenHimStandin {
 public:
  // Starts `python3 testbed/openhim/openhim_standin.py --router-port 0
  // --api-port 0 --ready-file F` plus `extra_args`; waits up to 30 s.
  static absl::StatusOr<std::unique_ptr<OpenHimStandin>> Start(
      const std::vector<std::string>& extra_args = {});
  ~OpenHimStandin();  // SIGTERM, then SIGKILL after 5 s

  std::string api_url() const;     // http://127.0.0.1:<api>
  std::string router_url() const;  // http://127.0.0.1:<router>
  const std::string& dir() const { return dir_; }

  // An API call as the admin user; the response (error on transport fault).
  absl::StatusOr<HttpResponse> Api(const std::string& method, const std::string& path,
                                   const nlohmann::json& body = nullptr);
  // The JSON of a 2xx API answer, or null (the test then fails clearly).
  nlohmann::json ApiJson(const std::string& method, const std::string& path,
                         const nlohmann::json& body = nullptr);
  // GET /transactions/{id} once openHIM has stored the response (it does so
  // after answering the client), waiting up to 5 s; null on failure.
  nlohmann::json StoredTransaction(const std::string& id);

 private:
  OpenHimStandin() = default;
  std::unique_ptr<mflsync::testing::ChildProcess> process_;
  int router_port_ = 0;
  int api_port_ = 0;
  std::string dir_;
};

}  // namespace mflsync::mediator::testing

#endif  // MFLSYNC_TESTS_MEDIATOR_OPENHIM_STANDIN_H_
