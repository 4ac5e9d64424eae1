#include "fetcher/source_config.h"

#include "absl/strings/str_cat.h"
#include "common/url.h"

namespace mflsync::fetcher {

std::vector<ConfigField> SourceSchema() {
  const std::string p = "sources.*.";
  std::vector<ConfigField> fields = {
      {.key = p + "base_url", .type = ConfigType::kUrl,
       .help = "FHIR base URL of the openHIM channel in front of the MFL, e.g. "
               "https://openhim:5000/mfl/fhir. Next links are followed only to this "
               "scheme, host and port.",
       .required = true},
      {.key = p + "upstream_base_url", .type = ConfigType::kUrl,
       .help = "The MFL's own FHIR base as it writes it into next links when it sits "
               "behind openHIM (e.g. http://mfl:8080/fhir). A next link under it is "
               "re-pointed to base_url, so requests still go only to base_url's origin. "
               "Empty: next links to any other origin stop the fetch."},
      {.key = p + "auth.type", .type = ConfigType::kEnum, .default_value = "none",
       .help = "Client authentication to openHIM: none, basic (username/password) or "
               "custom (`Authorization: Custom <token>`).",
       .choices = {"none", "basic", "custom"}},
      {.key = p + "auth.username", .help = "openHIM client id for basic auth."},
      {.key = p + "auth.password", .help = "Password for basic auth.", .secret = true},
      {.key = p + "auth.token", .help = "Token for `Authorization: Custom <token>`.",
       .secret = true},
  };
  std::vector<ConfigField> tls = TlsConfigFields(p + "tls.", "the openHIM channel");
  fields.insert(fields.end(), tls.begin(), tls.end());
  std::vector<ConfigField> rest = {
      {.key = p + "connect_timeout", .type = ConfigType::kDuration, .default_value = "10s",
       .help = "TCP/TLS connect timeout per request."},
      {.key = p + "read_timeout", .type = ConfigType::kDuration, .default_value = "120s",
       .help = "Whole-request timeout per page (openHIM's router gives up after 60s by "
               "default)."},
      {.key = p + "max_body_bytes", .type = ConfigType::kInt, .default_value = "16777216",
       .help = "Largest page body accepted (bytes, after gzip decoding); a larger one "
               "stops the fetch with an error.",
       .min = 1024, .max = int64_t{1} << 32},
      {.key = p + "page_size", .type = ConfigType::kInt, .default_value = "500",
       .help = "Resources per page (`_count`). Memory is bounded by this, not by the MFL "
               "size.",
       .min = 1, .max = 10000},
      {.key = p + "mode", .type = ConfigType::kEnum, .default_value = "search",
       .help = "search: `Location?_lastUpdated=ge{since}` (cannot see deletions); history: "
               "`Location/_history?_since={since}` (deletions arrive as deactivations).",
       .choices = {"search", "history"}},
      {.key = p + "overlap", .type = ConfigType::kDuration, .default_value = "60s",
       .help = "Overlap window subtracted from the watermark (clock skew, paging that is "
               "not snapshot-stable); repeats inside it are dropped by id+version."},
      {.key = p + "include_organization", .type = ConfigType::kBool,
       .default_value = "true",
       .help = "Ask for the managing Organization (`_include=Location:organization`)."},
      {.key = p + "include_endpoint", .type = ConfigType::kBool, .default_value = "true",
       .help = "Ask for the Endpoints (`_include=Location:endpoint`)."},
      {.key = p + "query.resource_type", .default_value = "Location",
       .help = "Resource type searched."},
      {.key = p + "query.last_updated_param", .default_value = "_lastUpdated",
       .help = "Search parameter for the watermark (value `ge<instant>`)."},
      {.key = p + "query.count_param", .default_value = "_count",
       .help = "Search parameter for the page size."},
      {.key = p + "query.sort_param", .default_value = "_sort",
       .help = "Sort parameter; empty sends none."},
      {.key = p + "query.sort_value", .default_value = "_lastUpdated",
       .help = "Sort value (ascending by last update is what the overlap logic expects)."},
      {.key = p + "query.total_param", .default_value = "_total",
       .help = "Search parameter asking for Bundle.total on the first page (the run's "
               "progress and time left are shown against it); empty sends none."},
      {.key = p + "query.total_value", .default_value = "accurate",
       .help = "Its value (`accurate`: HAPI FHIR otherwise gives no total for a large "
               "result until it has counted it)."},
      {.key = p + "query.include_organization", .default_value = "Location:organization",
       .help = "`_include` value for the managing Organization."},
      {.key = p + "query.include_endpoint", .default_value = "Location:endpoint",
       .help = "`_include` value for the Endpoints."},
      {.key = p + "query.since_param", .default_value = "_since",
       .help = "History mode: the parameter carrying the watermark."},
      {.key = p + "repair_shifted_pages", .type = ConfigType::kBool,
       .default_value = "true",
       .help = "Search mode: when a record changed during the fetch, re-read the page "
               "boundaries it may have shifted so that no facility is skipped."},
      {.key = p + "history_resolve_references", .type = ConfigType::kBool,
       .default_value = "true",
       .help = "History mode: read the referenced Organizations and Endpoints with one "
               "`_id=` search per page (history cannot `_include`)."},
      {.key = p + "retry.max_attempts", .type = ConfigType::kInt, .default_value = "5",
       .help = "Attempts per request on 429/502/503/504, timeouts and resets (first "
               "included).",
       .min = 1, .max = 20},
      {.key = p + "retry.initial_backoff", .type = ConfigType::kDuration,
       .default_value = "500ms",
       .help = "First backoff; doubles per attempt, with full jitter."},
      {.key = p + "retry.max_backoff", .type = ConfigType::kDuration, .default_value = "30s",
       .help = "Longest backoff between attempts."},
      {.key = p + "retry.max_retry_after", .type = ConfigType::kDuration,
       .default_value = "120s",
       .help = "Longest `Retry-After` honoured; a longer one fails the request."},
  };
  fields.insert(fields.end(), rest.begin(), rest.end());
  return fields;
}

absl::StatusOr<std::vector<SourceConfig>> LoadSources(const Config& config) {
  std::vector<SourceConfig> sources;
  for (const std::string& name : config.Names("sources")) {
    auto key = [&](absl::string_view k) { return absl::StrCat("sources.", name, ".", k); };
    SourceConfig s;
    s.name = name;
    s.base_url = config.GetString(key("base_url"));
    absl::StatusOr<Url> parsed = ParseUrl(s.base_url);
    if (!parsed.ok())
      return absl::InvalidArgumentError(
          absl::StrCat(key("base_url"), ": ", parsed.status().message()));
    s.upstream_base_url = config.GetString(key("upstream_base_url"));
    const std::string auth = config.GetString(key("auth.type"));
    s.auth_type = auth == "basic"    ? AuthType::kBasic
                  : auth == "custom" ? AuthType::kCustom
                                     : AuthType::kNone;
    s.username = config.GetString(key("auth.username"));
    s.password = config.GetString(key("auth.password"));
    s.token = config.GetString(key("auth.token"));
    if (s.auth_type == AuthType::kBasic && s.username.empty())
      return absl::InvalidArgumentError(absl::StrCat(
          key("auth.username"), ": required when ", key("auth.type"), " = basic"));
    if (s.auth_type == AuthType::kCustom && s.token.empty())
      return absl::InvalidArgumentError(absl::StrCat(
          key("auth.token"), ": required when ", key("auth.type"), " = custom"));
    if (absl::Status tls = ValidateTlsConfig(config, key("tls.")); !tls.ok()) return tls;
    s.tls = TlsOptionsFromConfig(config, key("tls."));
    s.connect_timeout = config.GetDuration(key("connect_timeout"));
    s.read_timeout = config.GetDuration(key("read_timeout"));
    s.max_body_bytes = static_cast<size_t>(config.GetInt(key("max_body_bytes")));
    s.page_size = static_cast<int>(config.GetInt(key("page_size")));
    s.mode = config.GetString(key("mode")) == "history" ? FetchModeKind::kHistory
                                                        : FetchModeKind::kSearch;
    s.overlap = config.GetDuration(key("overlap"));
    s.include_organization = config.GetBool(key("include_organization"));
    s.include_endpoint = config.GetBool(key("include_endpoint"));
    s.resource_type = config.GetString(key("query.resource_type"));
    s.last_updated_param = config.GetString(key("query.last_updated_param"));
    s.count_param = config.GetString(key("query.count_param"));
    s.sort_param = config.GetString(key("query.sort_param"));
    s.sort_value = config.GetString(key("query.sort_value"));
    s.total_param = config.GetString(key("query.total_param"));
    s.total_value = config.GetString(key("query.total_value"));
    s.include_organization_value = config.GetString(key("query.include_organization"));
    s.include_endpoint_value = config.GetString(key("query.include_endpoint"));
    s.since_param = config.GetString(key("query.since_param"));
    s.repair_shifted_pages = config.GetBool(key("repair_shifted_pages"));
    s.history_resolve_references = config.GetBool(key("history_resolve_references"));
    s.retry.max_attempts = static_cast<int>(config.GetInt(key("retry.max_attempts")));
    s.retry.initial_backoff = config.GetDuration(key("retry.initial_backoff"));
    s.retry.max_backoff = config.GetDuration(key("retry.max_backoff"));
    s.retry.max_retry_after = config.GetDuration(key("retry.max_retry_after"));
    if (s.resource_type.empty() || s.count_param.empty() || s.last_updated_param.empty())
      return absl::InvalidArgumentError(absl::StrCat(
          "sources.", name, ".query.*: resource_type, count_param and last_updated_param "
          "must not be empty"));
    sources.push_back(std::move(s));
  }
  return sources;
}

}  // namespace mflsync::fetcher
