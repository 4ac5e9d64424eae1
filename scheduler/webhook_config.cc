#include "scheduler/webhook_config.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/grpc_server_credentials.h"
#include "common/url.h"
#include "scheduler/notification_events.h"

namespace mflsync::scheduler {
namespace {

const std::set<std::string>& KnownEvents() {
  static const auto* kEvents = new std::set<std::string>{kRunFailed, kFailuresNew, kRunRecovered};
  return *kEvents;
}

// "run.failed, failures.new" → the set; an unknown name is an error.
absl::StatusOr<std::set<std::string>> ParseEvents(const std::string& key,
                                                  const std::string& text) {
  std::set<std::string> events;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    std::string name(absl::StripAsciiWhitespace(part));
    if (!KnownEvents().count(name)) {
      return absl::InvalidArgumentError(
          absl::StrCat(key, ": unknown event '", name, "' (known: ",
                       absl::StrJoin(KnownEvents(), ", "), ")"));
    }
    events.insert(name);
  }
  if (events.empty()) return absl::InvalidArgumentError(absl::StrCat(key, ": names no event"));
  return events;
}

// One source's webhook, from the keys under `p` ("sources.NAME.webhook.").
absl::StatusOr<WebhookConfig> WebhookOf(const Config& config, const std::string& p) {
  WebhookConfig hook;
  hook.url = config.GetString(p + "url");
  absl::Status url = CheckWebhookUrl(p + "url", hook.url, config.GetBool(p + "allow_plain_http"));
  if (!url.ok()) return url;
  hook.secret = config.GetString(p + "secret");
  if (!hook.secret.empty() && hook.secret.size() < kMinWebhookSecret) {
    return absl::InvalidArgumentError(absl::StrCat(
        p, "secret is shorter than ", kMinWebhookSecret, " characters (e.g. `openssl rand -hex 32`)"));
  }
  absl::StatusOr<std::set<std::string>> events =
      ParseEvents(p + "events", config.GetString(p + "events"));
  if (!events.ok()) return events.status();
  hook.events = *std::move(events);
  hook.timeout = config.GetDuration(p + "timeout");
  if (absl::Status tls = ValidateTlsConfig(config, p + "tls."); !tls.ok()) return tls;
  hook.tls = TlsOptionsFromConfig(config, p + "tls.");
  hook.max_attempts = static_cast<int>(config.GetInt(p + "max_attempts"));
  hook.initial_backoff = config.GetDuration(p + "initial_backoff");
  if (hook.timeout <= absl::ZeroDuration() || hook.initial_backoff <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat(p, "timeout and ", p, "initial_backoff must be positive"));
  }
  hook.max_backoff = std::max(hook.initial_backoff, hook.max_backoff);
  return hook;
}

}  // namespace

std::vector<ConfigField> WebhookSchema() {
  const std::string p = "sources.*.webhook.";
  std::vector<ConfigField> fields = {
      {.key = p + "url", .type = ConfigType::kUrl,
       .help = "Where the scheduler POSTs this source's notifications (JSON; "
               "docs/operations.md, \"Notifications\"). Empty: none. https://, or http:// only "
               "to a loopback host unless webhook.allow_plain_http."},
      {.key = p + "secret",
       .help = "HMAC-SHA256 key signing each delivery (`X-Mflsync-Signature: sha256=HEX` over "
               "`X-Mflsync-Timestamp` + \".\" + body); at least 16 characters. Empty: unsigned.",
       .secret = true, .env_only = true},
      {.key = p + "events", .default_value = "run.failed,failures.new,run.recovered",
       .help = "The events sent, comma-separated: run.failed, failures.new, run.recovered."},
      {.key = p + "timeout", .type = ConfigType::kDuration, .default_value = "10s",
       .help = "Whole-request timeout of one delivery attempt."},
      {.key = p + "max_attempts", .type = ConfigType::kInt, .default_value = "6",
       .help = "Attempts of one delivery (a transport error or an answer other than 2xx) "
               "before it is dropped with a log line.",
       .min = 1, .max = 100},
      {.key = p + "initial_backoff", .type = ConfigType::kDuration, .default_value = "5s",
       .help = "Wait before the second attempt of a delivery (doubles each time, up to 5m)."},
      {.key = p + "allow_plain_http", .type = ConfigType::kBool, .default_value = "false",
       .help = "true allows an http:// webhook.url to a host off loopback (the body and "
               "signature then cross the network unencrypted)."},
  };
  std::vector<ConfigField> tls = TlsConfigFields(p + "tls.", "the webhook receiver");
  fields.insert(fields.end(), tls.begin(), tls.end());
  return fields;
}

absl::Status CheckWebhookUrl(const std::string& key, const std::string& url,
                             bool allow_plain_http) {
  absl::StatusOr<Url> parsed = ParseUrl(url);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(key, ": ", parsed.status().message()));
  }
  if (parsed->scheme == "http" && !allow_plain_http && !IsLoopbackHost(parsed->host)) {
    return absl::InvalidArgumentError(absl::StrCat(
        key, ": plain http:// to ", parsed->host,
        ", a host off loopback, would send notifications unencrypted; use https:// or set "
        "allow_plain_http"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::map<std::string, WebhookConfig>> WebhooksFromConfig(const Config& config) {
  std::map<std::string, WebhookConfig> hooks;
  for (const std::string& name : config.Names("sources")) {
    const std::string p = absl::StrCat("sources.", name, ".webhook.");
    if (config.GetString(p + "url").empty()) {
      if (!config.GetString(p + "secret").empty()) {
        return absl::InvalidArgumentError(absl::StrCat(p, "secret is set without ", p, "url"));
      }
      continue;
    }
    absl::StatusOr<WebhookConfig> hook = WebhookOf(config, p);
    if (!hook.ok()) return hook.status();
    hooks.emplace(name, *std::move(hook));
  }
  return hooks;
}

}  // namespace mflsync::scheduler
