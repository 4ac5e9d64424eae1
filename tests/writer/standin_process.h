// Test helper: runs the openIMIS stand-in (testbed/openimis) as a child
// process on a free loopback port and talks to its $testbed API.
#ifndef MFLSYNC_TESTS_WRITER_STANDIN_PROCESS_H_
#define MFLSYNC_TESTS_WRITER_STANDIN_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "common/http_client.h"
#include "tests/support/child_process.h"

namespace mflsync::writer::testing {

// The repository root (MFLSYNC_SOURCE_DIR from the build).
std::string SourceDir();

class OpenImisStandin {
 public:
  // Starts `python3 testbed/openimis/openimis_standin.py --port 0
  // --ready-file F` plus `extra_args`, and waits (up to 30 s) for the port.
  static absl::StatusOr<std::unique_ptr<OpenImisStandin>> Start(
      const std::vector<std::string>& extra_args = {});
  ~OpenImisStandin();  // SIGTERM, then SIGKILL after 5 s

  int port() const { return port_; }
  // http://127.0.0.1:<port>/api: openIMIS's API root (the writer's
  // openimis.base_url).
  std::string api_root() const;
  // http://127.0.0.1:<port>/api/api_fhir_r4: the FHIR R4 module's base.
  std::string base_url() const;
  // A $testbed call; the answer's JSON (error on a transport fault or a
  // non-2xx answer).
  absl::StatusOr<nlohmann::json> Testbed(const std::string& method,
                                         const std::string& sub,
                                         const nlohmann::json& body = nullptr);
  // Adds faults (a list or one object).
  void AddFaults(const nlohmann::json& faults);
  // Wipes facilities, faults and stats.
  void Reset();
  // GET /$testbed/facilities: the current facilities.
  nlohmann::json Facilities();
  // Number of current facilities with this code (-1 on error).
  int CountCode(const std::string& code);
  nlohmann::json Stats();
  // Requests counted by the stand-in for method + stat path (e.g. "POST",
  // "/api/api_fhir_r4/Organization/"), any status.
  int Requests(const std::string& method, const std::string& path);

 private:
  OpenImisStandin() = default;
  std::unique_ptr<mflsync::testing::ChildProcess> process_;
  int port_ = 0;
  std::string dir_;
  HttpClient http_{HttpClientOptions{}};
};

}  // namespace mflsync::writer::testing

#endif  // MFLSYNC_TESTS_WRITER_STANDIN_PROCESS_H_
