// Settings of one MFL source (an openHIM channel in front of the MFL): where
// it is, how to authenticate, how to page, how hard to retry.
#ifndef MFLSYNC_FETCHER_SOURCE_CONFIG_H_
#define MFLSYNC_FETCHER_SOURCE_CONFIG_H_

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/config.h"
#include "common/http_client.h"

namespace mflsync::fetcher {

enum class AuthType { kNone, kBasic, kCustom };
enum class FetchModeKind { kSearch, kHistory };

// Bounded exponential backoff with full jitter for transient faults.
struct RetryOptions {
  int max_attempts = 5;  // attempts per request, the first one included
  absl::Duration initial_backoff = absl::Milliseconds(500);
  absl::Duration max_backoff = absl::Seconds(30);
  // A Retry-After longer than this is not waited for: the request fails.
  absl::Duration max_retry_after = absl::Seconds(120);
};

struct SourceConfig {
  std::string name;      // the source's name in the configuration
  std::string base_url;  // FHIR base behind openHIM, e.g. https://ohim:5000/fhir
  // The MFL's own base as it writes it into next links (behind openHIM);
  // links under it are re-pointed to base_url. Empty: such links are refused.
  std::string upstream_base_url;
  AuthType auth_type = AuthType::kNone;
  std::string username;  // kBasic
  std::string password;  // kBasic (secret)
  std::string token;     // kCustom (secret)
  TlsOptions tls;
  // Called after each HTTP request to the MFL (e.g. a metric); may be empty.
  std::function<void(int http_status, absl::Duration took)> on_response;
  absl::Duration connect_timeout = absl::Seconds(10);
  absl::Duration read_timeout = absl::Seconds(120);
  size_t max_body_bytes = 64u << 20;
  int page_size = 500;
  FetchModeKind mode = FetchModeKind::kSearch;
  absl::Duration overlap = absl::Seconds(60);
  bool include_organization = true;
  bool include_endpoint = true;
  // Query parts, each configurable for servers that spell them differently.
  std::string resource_type = "Location";
  std::string last_updated_param = "_lastUpdated";
  std::string count_param = "_count";
  std::string sort_param = "_sort";
  std::string sort_value = "_lastUpdated";
  std::string total_param = "_total";  // asks for Bundle.total; empty: not asked
  std::string total_value = "accurate";
  std::string include_organization_value = "Location:organization";
  std::string include_endpoint_value = "Location:endpoint";
  std::string since_param = "_since";  // history mode
  // After a search pass, re-read the page boundaries that a record updated
  // during the fetch may have shifted (offset paging is not snapshot-stable).
  bool repair_shifted_pages = true;
  // History mode: read the Organizations/Endpoints the versions reference
  // (history cannot _include them) with one `_id=` search per page.
  bool history_resolve_references = true;
  RetryOptions retry;
};

// The configuration keys of the fetcher ("sources.*.…"), with help text.
std::vector<ConfigField> SourceSchema();

// Reads every configured source; the error names the key.
absl::StatusOr<std::vector<SourceConfig>> LoadSources(const Config& config);

}  // namespace mflsync::fetcher

#endif  // MFLSYNC_FETCHER_SOURCE_CONFIG_H_
