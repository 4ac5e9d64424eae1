// Each source's webhook (sources.*.webhook.*): where the scheduler sends
// its notifications, how it signs them, which events, and the checks a
// configuration must pass at start (a URL from the configuration only; no
// plain http:// to a host off loopback unless allowed; a secret from the
// environment only, long enough to sign with).
#ifndef MFLSYNC_SCHEDULER_WEBHOOK_CONFIG_H_
#define MFLSYNC_SCHEDULER_WEBHOOK_CONFIG_H_

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/config.h"
#include "common/http_client.h"

namespace mflsync::scheduler {

struct WebhookConfig {
  std::string url;
  std::string secret;             // HMAC-SHA256 key; empty: deliveries are unsigned
  std::set<std::string> events;   // of kRunFailed, kFailuresNew, kRunRecovered
  absl::Duration timeout = absl::Seconds(10);
  TlsOptions tls;
  int max_attempts = 6;
  absl::Duration initial_backoff = absl::Seconds(5);
  absl::Duration max_backoff = absl::Minutes(5);
};

// The shortest webhook secret accepted (characters).
inline constexpr size_t kMinWebhookSecret = 16;

// The keys under sources.*.webhook.
std::vector<ConfigField> WebhookSchema();

// The webhook of each source that has one (webhook.url set), checked.
absl::StatusOr<std::map<std::string, WebhookConfig>> WebhooksFromConfig(const Config& config);

// OK when `url` may receive webhooks: https://, or http:// to a loopback
// host, or http:// anywhere with `allow_plain_http`. `key` names the
// setting in the error.
absl::Status CheckWebhookUrl(const std::string& key, const std::string& url,
                             bool allow_plain_http);

}  // namespace mflsync::scheduler

#endif  // MFLSYNC_SCHEDULER_WEBHOOK_CONFIG_H_
