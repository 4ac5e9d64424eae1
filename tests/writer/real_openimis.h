// Test helper: the real openIMIS backend started by the ctest fixture
// (testbed/openimis-real/openimis-real.sh start DIR), read from its
// DIR/openimis.env, plus SQL on its PostgreSQL for checks that do not go
// through the API under test, and the fault proxy (testbed/faultproxy).
#ifndef MFLSYNC_TESTS_WRITER_REAL_OPENIMIS_H_
#define MFLSYNC_TESTS_WRITER_REAL_OPENIMIS_H_

#include <map>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "common/http_client.h"
#include "tests/support/child_process.h"
#include "tests/support/env_file.h"

namespace mflsync::writer::testing {

struct RealOpenImis {
  std::string api_root;   // http://127.0.0.1:<port>/api
  std::string user;
  std::string password;
  int pg_port = 0;
  bool async = false;

  // The server described by the env file at $`env_var`, or why there is
  // none (the fixture's skip reason is in its log).
  static absl::StatusOr<RealOpenImis> FromEnv(const char* env_var);
  // The server described by the openimis.env at `path`.
  static absl::StatusOr<RealOpenImis> FromFile(const std::string& path);

  // From parsed env-file values; `path` names the file in errors.
  static absl::StatusOr<RealOpenImis> FromValues(mflsync::testing::EnvValues values,
                                                 const std::string& path);

  // One value (first column of the first row) of `sql` run by psql on the
  // openimis database; "" when no row.
  absl::StatusOr<std::string> Sql(const std::string& sql) const;
  // Current (ValidityTo IS NULL) tblHF rows with this code.
  int CurrentRows(const std::string& code) const;
};

// testbed/faultproxy/fault_proxy.py in front of `upstream` (scheme://host:port).
class FaultProxy {
 public:
  static absl::StatusOr<std::unique_ptr<FaultProxy>> Start(const std::string& upstream);
  // http://127.0.0.1:<port>
  std::string origin() const;
  absl::Status AddRule(const nlohmann::json& rule);
  nlohmann::json Stats();

 private:
  FaultProxy() = default;
  std::unique_ptr<mflsync::testing::ChildProcess> process_;
  int port_ = 0;
  std::string dir_;
  HttpClient http_{HttpClientOptions{}};
};

}  // namespace mflsync::writer::testing

#endif  // MFLSYNC_TESTS_WRITER_REAL_OPENIMIS_H_
