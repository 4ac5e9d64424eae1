#include "fetcher/mfl_probe.h"

#include "absl/strings/str_cat.h"
#include "common/url.h"
#include "fetcher/mfl_client.h"

namespace mflsync::fetcher {

absl::Status ProbeMfl(const SourceConfig& source, absl::Duration timeout) {
  SourceConfig once = source;
  once.connect_timeout = timeout;
  once.read_timeout = timeout;
  once.max_body_bytes = 4u << 20;
  once.retry.max_attempts = 1;
  once.on_response = nullptr;  // checks are not MFL traffic
  MflClient client(once);
  absl::StatusOr<MflResponse> answer = client.Get(JoinUrl(once.base_url, "metadata"));
  if (answer.ok()) return absl::OkStatus();
  return absl::Status(answer.status().code(),
                      absl::StrCat("MFL source ", source.name, ": ", answer.status().message()));
}

}  // namespace mflsync::fetcher
