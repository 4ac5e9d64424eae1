#include "scheduler/dependency_probes.h"

#include <filesystem>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/health_probe.h"
#include "common/sqlite.h"

namespace mflsync::scheduler {

absl::Status ProbePeer(const std::string& name, const std::string& address,
                       const ClientSecurity& security, absl::Duration timeout) {
  absl::StatusOr<std::string> state = CheckHealth(MakeChannel(address, security), "", timeout);
  if (!state.ok()) {
    return absl::Status(state.status().code(),
                        absl::StrCat("the ", name, " at ", address,
                                     " does not answer: ", state.status().message()));
  }
  if (*state == "SERVING") return absl::OkStatus();
  return absl::UnavailableError(absl::StrCat("the ", name, " at ", address, " is ", *state,
                                             " (`mflsync health` shows its cause)"));
}

absl::Status ProbeStateDb(const std::string& path, absl::Duration timeout) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return absl::UnavailableError(absl::StrCat("state database ", path, " is missing"));
  }
  absl::StatusOr<std::unique_ptr<SqliteDb>> db = SqliteDb::Open(path, timeout);
  if (!db.ok()) return db.status();
  absl::StatusOr<int> version = (*db)->SchemaVersion();
  return version.ok() ? absl::OkStatus() : version.status();
}

std::vector<DependencyProbe> SchedulerProbes(const std::string& fetcher_address,
                                             const std::string& mapper_address,
                                             const std::string& writer_address,
                                             const ClientSecurity& security,
                                             const std::string& state_db) {
  std::vector<DependencyProbe> probes;
  for (const auto& [name, address] : {std::pair{"fetcher", fetcher_address},
                                      std::pair{"mapper", mapper_address},
                                      std::pair{"writer", writer_address}}) {
    probes.push_back({absl::StrCat("peer:", name),
                      [name = std::string(name), address = address,
                       security](absl::Duration timeout) {
                        return ProbePeer(name, address, security, timeout);
                      }});
  }
  probes.push_back({"state_db", [state_db](absl::Duration timeout) {
                      return ProbeStateDb(state_db, timeout);
                    }});
  return probes;
}

}  // namespace mflsync::scheduler
