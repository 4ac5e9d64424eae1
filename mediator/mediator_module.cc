#include "mediator/mediator_module.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include <httplib.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/ascii.h"
#include "absl/synchronization/notification.h"
#include "common/grpc_server_credentials.h"
#include "common/http_client.h"
#include "common/http_probe.h"
#include "common/log.h"
#include "common/pem.h"
#include "common/proto_time.h"
#include "common/read_file.h"
#include "common/status_util.h"
#include "common/url.h"
#include "mediator/live_settings.h"
#include "mediator/openhim_api.h"
#include "mediator/peers.h"
#include "mediator/push_processor.h"
#include "mediator/registrar.h"
#include "mediator/registration.h"
#include "mediator/sync_runner.h"
#include "mflsync/v1/mediator.grpc.pb.h"

namespace mflsync::mediator {
namespace {

using nlohmann::json;

constexpr char kOpenHimContentType[] = "application/json+openhim";

std::vector<ConfigField> Schema() {
  return {
      {.key = "openhim.api_url", .type = ConfigType::kUrl, .default_value = "",
       .help = "openHIM management API (https://openhim:8080). Empty: the mediator does not "
               "register (push and sync still work)."},
      {.key = "openhim.username", .type = ConfigType::kString, .default_value = "",
       .help = "openHIM user the mediator registers as (openHIM 8.5.0: a user in the admin "
               "group); Basic auth."},
      {.key = "openhim.password", .type = ConfigType::kString, .default_value = "",
       .help = "Password of openhim.username.", .secret = true},
      {.key = "openhim.tls.verify", .type = ConfigType::kBool, .default_value = "true",
       .help = "Verify the openHIM API's TLS certificate and host name."},
      {.key = "openhim.tls.ca_file", .type = ConfigType::kFile, .default_value = "",
       .help = "PEM CA bundle for the openHIM API (its default certificate is self-signed)."},
      {.key = "openhim.tls.cert_file", .type = ConfigType::kFile, .default_value = "",
       .help = "PEM client certificate presented to the openHIM API (mutual TLS, e.g. "
               "a TLS proxy in front of it that requires one); with openhim.tls.key_file. "
               "openHIM 8.5.0's API itself still asks for openhim.username's Basic auth."},
      {.key = "openhim.tls.key_file", .type = ConfigType::kFile, .default_value = "",
       .help = "PEM private key of openhim.tls.cert_file."},
      {.key = "openhim.heartbeat_interval", .type = ConfigType::kDuration,
       .default_value = "10s",
       .help = "Heartbeat period (openHIM warns after 60 s without one; at most 30s)."},
      {.key = "openhim.max_backoff", .type = ConfigType::kDuration, .default_value = "60s",
       .help = "Longest wait between registration attempts while openHIM is down (the "
               "wait starts at 1 s and doubles)."},
      {.key = "openhim.install_channels", .type = ConfigType::kBool, .default_value = "true",
       .help = "Install the default channels that openHIM does not have yet."},
      {.key = "mediator.urn", .type = ConfigType::kString,
       .default_value = "urn:mediator:mflsync", .help = "The mediator's urn in openHIM."},
      {.key = "mediator.host", .type = ConfigType::kString, .default_value = "127.0.0.1",
       .help = "Host name openHIM uses to reach this mediator (endpoint and routes)."},
      {.key = "mediator.port", .type = ConfigType::kInt, .default_value = "0",
       .help = "Port openHIM uses to reach this mediator; 0: the port of http_listen.",
       .min = 0, .max = 65535},
      {.key = "http_listen", .type = ConfigType::kAddress, .default_value = "127.0.0.1:8090",
       .help = "Where the HTTP listener for openHIM (POST /push, POST /sync) binds."},
      {.key = "http.tls.enabled", .type = ConfigType::kBool, .default_value = "true",
       .help = "Serve /push and /sync over HTTPS when a certificate is available "
               "(http.tls.cert_file, else the service's grpc.tls.cert_file); openHIM's "
               "routes to the mediator are then secured. false, or no certificate: plain "
               "HTTP, which a non-loopback http_listen refuses."},
      {.key = "http.tls.cert_file", .type = ConfigType::kFile, .default_value = "",
       .help = "PEM certificate (chain) of the HTTPS listener; with http.tls.key_file. "
               "Empty: grpc.tls.cert_file. Its names must include mediator.host."},
      {.key = "http.tls.key_file", .type = ConfigType::kFile, .default_value = "",
       .help = "PEM private key of http.tls.cert_file. Empty: grpc.tls.key_file."},
      {.key = "http.tls.ca_file", .type = ConfigType::kFile, .default_value = "",
       .help = "PEM CA that signed the listener's certificate; the mediator adds it to "
               "openHIM's trusted certificates (POST /keystore/ca/cert) and names it in its "
               "routes. Empty: grpc.tls.ca_file; neither: openHIM verifies against public "
               "CAs."},
      {.key = "http.max_body_bytes", .type = ConfigType::kInt, .default_value = "16777216",
       .help = "Largest request body accepted on /push (openHIM keeps 15 MB per "
               "transaction).",
       .min = 1024, .max = int64_t{1} << 30},
      {.key = "channels.mfl_url", .type = ConfigType::kUrl, .default_value = "",
       .help = "MFL FHIR base; when set, a default channel ^/mfl/fhir(/.*)?$ routes to it so "
               "that the fetcher's calls appear in openHIM's log."},
      {.key = "channels.openimis_url", .type = ConfigType::kUrl, .default_value = "",
       .help = "openIMIS's API root (…/api); when set, a default channel "
               "^/openimis/api(/.*)?$ (forwardAuthHeader) routes to it for the writer "
               "(graphql and api_fhir_r4/ below it)."},
      {.key = "channels.openimis_whitelist", .type = ConfigType::kString, .default_value = "",
       .help = "Comma-separated IP addresses the openIMIS channel admits without client "
               "credentials (authType public + whitelist; the writer's address). Empty: "
               "clients with role mflsync only, which the writer can reach by mutual TLS."},
      {.key = "scheduler_address", .type = ConfigType::kAddress,
       .default_value = "127.0.0.1:50050", .help = "The scheduler service (host:port)."},
      {.key = "rpc_timeout", .type = ConfigType::kDuration, .default_value = "120s",
       .help = "Deadline of one call to the scheduler (a push waits for its records to be "
               "written)."},
      {.key = "push.enabled", .type = ConfigType::kBool, .default_value = "true",
       .help = "Initial value of the live setting push_enabled (editable in openHIM)."},
      {.key = "push.max_entries", .type = ConfigType::kInt, .default_value = "1000",
       .help = "Initial value of the live setting push_max_entries.", .min = 1,
       .max = 100000},
      {.key = "sync.source", .type = ConfigType::kString, .default_value = "",
       .help = "Initial value of the live setting sync_source (scheduler source for /sync)."},
      {.key = "sync.auto_retry", .type = ConfigType::kBool, .default_value = "false",
       .help = "Report a failed /sync run with an error, which queues its openHIM transaction "
               "for auto-retry (retried where the channel enables auto-retry). Off: the "
               "failure is in the transaction's response and properties only."},
      {.key = "endpoint_password", .type = ConfigType::kString, .default_value = "",
       .help = "Initial value of the live setting endpoint_password: Basic-auth password "
               "(user openhim) required on /push and /sync. Empty: the mediator refuses to "
               "start unless http.allow_unauthenticated is true.",
       .secret = true},
      {.key = "http.allow_unauthenticated", .type = ConfigType::kBool, .default_value = "false",
       .help = "Let /push and /sync accept requests without the endpoint_password (a closed "
               "network only: anyone who reaches the mediator can then write to openIMIS)."},
  };
}

// gRPC edge: the status RPC.
class MediatorGrpc final : public v1::MediatorService::Service {
 public:
  MediatorGrpc(std::string urn, std::string version, std::string api_url,
               const LiveSettings* settings, const std::atomic<const Registrar*>* registrar)
      : urn_(std::move(urn)),
        version_(std::move(version)),
        api_url_(std::move(api_url)),
        settings_(settings),
        registrar_(registrar) {}

  grpc::Status GetMediatorStatus(grpc::ServerContext*, const v1::GetMediatorStatusRequest*,
                                 v1::GetMediatorStatusResponse* response) override {
    response->set_urn(urn_);
    response->set_version(version_);
    response->set_api_url(Redact(api_url_));
    const Registrar* registrar = registrar_->load();
    if (registrar != nullptr) {
      RegistrarState s = registrar->State();
      response->set_registered(s.registered);
      response->set_last_error(s.last_error);
      response->set_heartbeats(s.heartbeats);
      response->set_config_updates(s.config_updates);
      if (s.last_heartbeat != absl::InfinitePast()) {
        *response->mutable_last_heartbeat() = ToTimestamp(s.last_heartbeat);
      }
    } else {
      response->set_last_error("openhim.api_url is not set: registration is off");
    }
    json settings = SettingsToConfig(settings_->Get());
    if (!settings["endpoint_password"].get<std::string>().empty())
      settings["endpoint_password"] = "[REDACTED]";
    response->set_settings_json(settings.dump());
    return grpc::Status::OK;
  }

 private:
  std::string urn_, version_, api_url_;
  const LiveSettings* settings_;
  const std::atomic<const Registrar*>* registrar_;
};

// The listener for openHIM: the server (HTTPS when it has a certificate),
// where it binds, and the PEM CA openHIM must trust to reach it ("": none).
struct HttpListener {
  std::unique_ptr<httplib::Server> server;
  std::string host;
  int port = 0;
  std::string trusted_ca_pem;
};

// The TLS settings of the mediator's calls to openHIM's API (openhim.tls.*).
TlsOptions OpenHimTls(const Config& config) {
  TlsOptions tls;
  tls.verify = config.GetBool("openhim.tls.verify");
  tls.ca_file = config.GetString("openhim.tls.ca_file");
  tls.client_cert_file = config.GetString("openhim.tls.cert_file");
  tls.client_key_file = config.GetString("openhim.tls.key_file");
  return tls;
}

class MediatorModuleImpl final : public MediatorModule {
 public:
  MediatorModuleImpl(const Config& config, std::unique_ptr<SuitePeers> peers,
                     std::shared_ptr<const OpenHimApi> api, Settings initial,
                     MediatorIdentity identity, HttpListener listener)
      : urn_(identity.urn),
        identity_(identity),
        peers_(std::move(peers)),
        api_(std::move(api)),
        settings_(initial,
                  [format = config.GetString("log.format")](const std::string& level) {
                    LogLevel l = LogLevel::kInfo;
                    LogFormat f = LogFormat::kText;
                    (void)ParseLogLevel(level, &l);
                    (void)ParseLogFormat(format, &f);
                    InitLogging("mediator", f, l);
                  }),
        push_(urn_, peers_.get()),
        sync_(urn_, peers_.get(), api_,
              SyncRunnerOptions{.auto_retry = config.GetBool("sync.auto_retry")}),
        listener_(std::move(listener)),
        max_body_(static_cast<size_t>(config.GetInt("http.max_body_bytes"))),
        heartbeat_interval_(config.GetDuration("openhim.heartbeat_interval")),
        max_backoff_(config.GetDuration("openhim.max_backoff")),
        install_channels_(config.GetBool("openhim.install_channels")),
        openhim_tls_(OpenHimTls(config)),
        version_(MediatorVersion()) {
    grpc_ = std::make_unique<MediatorGrpc>(urn_, version_, api_ ? api_->api_url() : "",
                                           &settings_, &registrar_view_);
  }

  ~MediatorModuleImpl() override { Stop(); }

  std::vector<grpc::Service*> GrpcServices() override { return {grpc_.get()}; }

  // openHIM's API, when one is configured: GET /heartbeat (public, cheap).
  std::vector<DependencyProbe> DependencyProbes() override {
    if (api_ == nullptr) return {};
    return {{"openhim", [this](absl::Duration timeout) {
               HttpRequest request;
               request.url = JoinUrl(api_->api_url(), "heartbeat");
               return ProbeHttp("openHIM's API", request, openhim_tls_, timeout);
             }}};
  }

  int http_port() const override { return bound_port_; }

  void WaitForSyncWatchers() override { sync_.Wait(); }

  bool WaitForSettings(const std::function<bool(const Settings&)>& done,
                       absl::Duration max_wait) const override {
    const Registrar* registrar = registrar_view_.load();
    if (registrar == nullptr) return done(settings_.Get());
    return registrar->WaitFor([&](const RegistrarState&) { return done(settings_.Get()); },
                              max_wait);
  }

  bool WaitUntilRegistered(absl::Duration max_wait) const override {
    const Registrar* registrar = registrar_view_.load();
    if (registrar == nullptr) return false;
    return registrar->WaitFor([](const RegistrarState& s) { return s.registered; }, max_wait);
  }

  absl::Status Start() override {
    InstallRoutes();
    absl::Status listening = Listen();
    if (!listening.ok()) return listening;
    if (api_ != nullptr) {
      StartRegistrar();
      resume_thread_ = std::thread([this] { ResumePendingSyncs(); });
    } else {
      LogWarning("openhim.api_url is not set: the mediator does not register with openHIM");
    }
    return absl::OkStatus();
  }

  void Stop() override {
    if (stopped_) return;
    stopped_ = true;
    stopping_.Notify();
    if (resume_thread_.joinable()) resume_thread_.join();
    if (registrar_) registrar_->Stop();
    server_.stop();
    if (http_thread_.joinable()) http_thread_.join();
    sync_.Stop();
  }

 private:
  // The HTTP routes POST /push and POST /sync, and the answers to requests
  // they refuse.
  void InstallRoutes() {
    server_.set_payload_max_length(max_body_);
    server_.set_read_timeout(60, 0);
    server_.Post("/push", [this](const httplib::Request& req, httplib::Response& res) {
      if (!Authorized(req, res)) return;
      json answer = push_.Process(req.body, settings_.Get(),
                                  req.get_header_value("X-OpenHIM-TransactionID"));
      Reply(answer, res);
    });
    server_.Post("/sync", [this](const httplib::Request& req, httplib::Response& res) {
      if (!Authorized(req, res)) return;
      bool full = req.has_param("full") && req.get_param_value("full") == "true";
      json answer = sync_.Start(settings_.Get(),
                                req.get_header_value("X-OpenHIM-TransactionID"), full);
      Reply(answer, res);
    });
    server_.set_error_handler([this](const httplib::Request&, httplib::Response& res) {
      if (!res.body.empty()) return;
      if (res.status == 413) {
        // openHIM stores the mediator's own answer: say why in its format.
        std::string message = absl::StrCat("the request body is larger than ", max_body_,
                                           " bytes (http.max_body_bytes): split the Bundle");
        json answer = MediatorAnswer(urn_, kStatusFailed, 413, {{"error", message}});
        answer["error"] = {{"message", message}};
        res.set_content(answer.dump(), kOpenHimContentType);
        return;
      }
      std::string message =
          res.status == 404 ? "unknown path: the mediator serves POST /push and POST /sync"
                            : absl::StrCat("request refused (HTTP ", res.status, ")");
      res.set_content(json({{"error", message}}).dump(), "application/json");
    });
  }

  // Binds http_listen (port 0: any free port) and serves it on its own
  // thread.
  absl::Status Listen() {
    if (listener_.port == 0) {
      bound_port_ = server_.bind_to_any_port(listener_.host);
    } else {
      bound_port_ = server_.bind_to_port(listener_.host, listener_.port) ? listener_.port : -1;
    }
    if (bound_port_ <= 0)
      return absl::UnavailableError(absl::StrCat("cannot listen on http_listen ",
                                                 listener_.host, ":", listener_.port,
                                                 " (port taken?)"));
    http_thread_ = std::thread([this] { server_.listen_after_bind(); });
    LogInfo("mediator HTTP listener up",
            {{"address", absl::StrCat(listener_.host, ":", bound_port_)},
             {"tls", identity_.secured}});
    return absl::OkStatus();
  }

  // Registers with openHIM (and keeps the heartbeat) from now on.
  void StartRegistrar() {
    MediatorIdentity identity = identity_;
    if (identity.port == 0) identity.port = bound_port_;
    RegistrarOptions options;
    options.heartbeat_interval = heartbeat_interval_;
    options.max_backoff = max_backoff_;
    options.install_channels = install_channels_;
    options.trusted_ca_pem = listener_.trusted_ca_pem;
    // Each registration carries the settings as they are then (console
    // edits included), so a re-registration never reverts them.
    auto build = [identity, version = version_](const Settings& current,
                                                 const std::string& trusted_ca_id) {
      MediatorIdentity routed = identity;
      routed.trusted_ca_id = trusted_ca_id;
      return BuildRegistration(routed, current, version);
    };
    registrar_ = std::make_unique<Registrar>(*api_, build, &settings_, options);
    registrar_view_.store(registrar_.get());
    registrar_->Start();
  }

  // Once registered (the sync channel exists then), watches again the runs
  // whose openHIM transactions a previous mediator left Processing; retries
  // every 5 s while openHIM does not answer, until Stop().
  void ResumePendingSyncs() {
    while (!stopping_.HasBeenNotified()) {
      if (!WaitUntilRegistered(absl::Seconds(1))) continue;
      absl::StatusOr<int> resumed = sync_.ResumePending(kSyncChannelName);
      if (resumed.ok()) {
        if (*resumed > 0) LogInfo("resumed sync transactions", {{"count", *resumed}});
        return;
      }
      LogWarning("cannot list the sync transactions left Processing; trying again in 5 s",
                 {{"error", std::string(resumed.status().message())}});
      stopping_.WaitForNotificationWithTimeout(absl::Seconds(5));
    }
  }

  bool Authorized(const httplib::Request& req, httplib::Response& res) {
    std::string password = settings_.Get().endpoint_password;
    if (password.empty()) return true;
    if (req.get_header_value("Authorization") == BasicAuthHeader("openhim", password))
      return true;
    res.status = 401;
    res.set_header("WWW-Authenticate", "Basic realm=\"mflsync mediator\"");
    res.set_content(json({{"error", "Basic auth as user openhim with the endpoint_password "
                                    "setting is required"}})
                        .dump(),
                    "application/json");
    return false;
  }

  static void Reply(const json& answer, httplib::Response& res) {
    res.status = 200;
    res.set_content(answer.dump(-1, ' ', false, json::error_handler_t::replace),
                    kOpenHimContentType);
  }

  std::string urn_;
  MediatorIdentity identity_;
  std::unique_ptr<SuitePeers> peers_;
  std::shared_ptr<const OpenHimApi> api_;
  LiveSettings settings_;
  PushProcessor push_;
  SyncRunner sync_;
  HttpListener listener_;
  httplib::Server& server_ = *listener_.server;
  size_t max_body_;
  absl::Duration heartbeat_interval_;
  absl::Duration max_backoff_;
  bool install_channels_;
  TlsOptions openhim_tls_;
  std::string version_;
  std::unique_ptr<Registrar> registrar_;
  std::atomic<const Registrar*> registrar_view_{nullptr};
  std::unique_ptr<MediatorGrpc> grpc_;
  std::thread http_thread_;
  int bound_port_ = -1;
  bool stopped_ = false;
  absl::Notification stopping_;
  std::thread resume_thread_;
};

}  // namespace

namespace {

// The addresses the openIMIS channel admits (channels.openimis_whitelist).
absl::StatusOr<std::vector<std::string>> OpenImisWhitelist(const Config& config) {
  std::vector<std::string> out;
  for (absl::string_view ip :
       absl::StrSplit(config.GetString("channels.openimis_whitelist"), ',', absl::SkipEmpty())) {
    std::string address(absl::StripAsciiWhitespace(ip));
    if (address.find_first_not_of("0123456789abcdefABCDEF.:") != std::string::npos)
      return absl::InvalidArgumentError(absl::StrCat(
          "channels.openimis_whitelist: '", address.substr(0, 64),
          "' is not an IP address (openHIM compares the caller's address literally)"));
    if (!address.empty()) out.push_back(address);
  }
  return out;
}

// http_listen as host (without IPv6 brackets) and port.
absl::StatusOr<std::pair<std::string, int>> HttpListen(const Config& config) {
  std::string listen = config.GetString("http_listen");
  size_t colon = listen.rfind(':');
  std::string host = listen.substr(0, colon);
  if (absl::StartsWith(host, "[") && absl::EndsWith(host, "]"))
    host = host.substr(1, host.size() - 2);
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(listen.substr(colon + 1), &port))
    return absl::InvalidArgumentError(absl::StrCat("http_listen '", listen,
                                                   "' must be host:port"));
  return std::make_pair(host, port);
}

// The listener's TLS files, as resolved from http.tls.* and grpc.tls.*.
struct HttpTls {
  std::string cert_file, key_file, ca_file;
  bool on() const { return !cert_file.empty(); }
};

// http.tls.* with the grpc.tls.* fallbacks (CheckTlsFiles checked each
// pair); refuses plain HTTP on a non-loopback http_listen (the endpoint
// password would cross the network in the clear).
absl::StatusOr<HttpTls> ResolveHttpTls(const Config& config, const std::string& listen_host) {
  HttpTls tls;
  if (config.GetBool("http.tls.enabled")) {
    bool own = !config.GetString("http.tls.cert_file").empty();
    tls.cert_file = config.GetString(own ? "http.tls.cert_file" : "grpc.tls.cert_file");
    tls.key_file = config.GetString(own ? "http.tls.key_file" : "grpc.tls.key_file");
    tls.ca_file = config.GetString("http.tls.ca_file");
    if (tls.ca_file.empty()) tls.ca_file = config.GetString("grpc.tls.ca_file");
  }
  if (!tls.on() && !IsLoopbackHost(listen_host))
    return absl::FailedPreconditionError(absl::StrCat(
        "http_listen ", listen_host,
        " is not a loopback address but the listener has no TLS certificate, so the "
        "endpoint_password would cross the network in the clear: set http.tls.cert_file and "
        "http.tls.key_file (or grpc.tls.cert_file and key_file, which it then uses) with "
        "http.tls.enabled true, or listen on 127.0.0.1"));
  if (!tls.on()) tls.ca_file.clear();
  return tls;
}

// The HTTP(S) server for `tls`, TLS 1.2 at least.
absl::StatusOr<std::unique_ptr<httplib::Server>> MakeHttpServer(const HttpTls& tls) {
  if (!tls.on()) return std::make_unique<httplib::Server>();
  auto server = std::make_unique<httplib::SSLServer>(tls.cert_file.c_str(), tls.key_file.c_str());
  if (!server->is_valid())
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot load the HTTPS listener's certificate ", tls.cert_file, " and key ",
        tls.key_file, " (PEM, matching each other)"));
  SSL_CTX_set_min_proto_version(server->ssl_context(), TLS1_2_VERSION);
  return server;
}

}  // namespace

absl::Status ValidateMediatorConfig(const Config& config) {
  absl::Duration interval = config.GetDuration("openhim.heartbeat_interval");
  if (interval <= absl::ZeroDuration() || interval > absl::Seconds(30))
    return absl::InvalidArgumentError(
        "openhim.heartbeat_interval must be more than 0 and at most 30s (openHIM expects a "
        "heartbeat at least every 30 s)");
  if (config.GetDuration("openhim.max_backoff") < absl::Seconds(1))
    return absl::InvalidArgumentError("openhim.max_backoff must be at least 1s");
  if (!config.GetString("openhim.api_url").empty() && config.GetString("openhim.username").empty())
    return absl::InvalidArgumentError(
        "openhim.username is empty but openhim.api_url is set: the mediator registers as "
        "an openHIM user (MFLSYNC_OPENHIM__USERNAME)");
  if (absl::Status files = CheckTlsFiles(
          config, {"openhim.tls.cert_file", "openhim.tls.key_file", "openhim.tls.ca_file"},
          absl::Now());
      !files.ok())
    return files;
  if (absl::Status files = CheckTlsFiles(
          config, {"http.tls.cert_file", "http.tls.key_file", "http.tls.ca_file"}, absl::Now());
      !files.ok())
    return files;
  if (config.GetString("mediator.urn").empty())
    return absl::InvalidArgumentError("mediator.urn must not be empty");
  if (config.GetString("endpoint_password").empty() &&
      !config.GetBool("http.allow_unauthenticated"))
    return absl::InvalidArgumentError(
        "endpoint_password is empty: POST /push and /sync would write to openIMIS and start "
        "runs for anyone who reaches the mediator. Set it (MFLSYNC_ENDPOINT_PASSWORD or "
        "MFLSYNC_ENDPOINT_PASSWORD_FILE; openHIM's routes then carry it) or, on a closed "
        "network only, set http.allow_unauthenticated to true");
  if (absl::StatusOr<std::vector<std::string>> w = OpenImisWhitelist(config); !w.ok())
    return w.status();
  absl::StatusOr<std::pair<std::string, int>> listen = HttpListen(config);
  if (!listen.ok()) return listen.status();
  absl::StatusOr<HttpTls> tls = ResolveHttpTls(config, listen->first);
  if (!tls.ok()) return tls.status();
  // The listener's CA file is http.tls.ca_file or grpc.tls.ca_file, each
  // read as a CA bundle by CheckTlsFiles (above; ValidateGrpcSecurity).
  return MakeHttpServer(*tls).status();
}

absl::StatusOr<std::unique_ptr<MediatorModule>> CreateMediatorModule(const Config& config) {
  if (absl::Status valid = ValidateMediatorConfig(config); !valid.ok()) return valid;
  Settings initial;
  initial.push_enabled = config.GetBool("push.enabled");
  initial.push_max_entries = config.GetInt("push.max_entries");
  initial.sync_source = config.GetString("sync.source");
  initial.log_level = config.GetString("log.level").empty() ? "info"
                                                             : config.GetString("log.level");
  initial.endpoint_password = config.GetString("endpoint_password");

  std::shared_ptr<const OpenHimApi> api;
  if (!config.GetString("openhim.api_url").empty()) {
    OpenHimApiOptions options;
    options.api_url = config.GetString("openhim.api_url");
    options.username = config.GetString("openhim.username");
    options.password = config.GetString("openhim.password");
    options.tls = OpenHimTls(config);
    api = std::make_shared<OpenHimApi>(options);
  }

  MediatorIdentity identity;
  identity.urn = config.GetString("mediator.urn");
  identity.host = config.GetString("mediator.host");
  identity.port = static_cast<int>(config.GetInt("mediator.port"));
  identity.mfl_url = config.GetString("channels.mfl_url");
  identity.openimis_url = config.GetString("channels.openimis_url");
  identity.openimis_whitelist = *OpenImisWhitelist(config);
  auto [host, port] = *HttpListen(config);
  HttpTls tls = *ResolveHttpTls(config, host);
  identity.secured = tls.on();
  absl::StatusOr<std::unique_ptr<httplib::Server>> server = MakeHttpServer(tls);
  if (!server.ok()) return server.status();
  std::string trusted_ca;
  if (!tls.ca_file.empty()) {
    absl::StatusOr<std::string> ca = ReadTextFile(tls.ca_file);
    if (!ca.ok()) return ca.status();
    trusted_ca = *ca;
  }

  GrpcPeersOptions peers;
  peers.scheduler_address = config.GetString("scheduler_address");
  peers.security = ClientSecurity::FromConfig(config);
  peers.rpc_timeout = config.GetDuration("rpc_timeout");
  return std::make_unique<MediatorModuleImpl>(
      config, MakeGrpcPeers(peers), api, initial, identity,
      HttpListener{std::move(*server), host, port, std::move(trusted_ca)});
}

ServiceSpec MediatorSpec() {
  ServiceSpec spec;
  spec.name = "mediator";
  spec.summary =
      "openHIM mediator: registration and heartbeat, push mode (POST /push) and "
      "openHIM-triggered sync runs (POST /sync)";
  spec.default_listen = "127.0.0.1:50055";
  spec.grpc_service_names = {"mflsync.v1.MediatorService"};
  spec.schema = Schema();
  spec.validate = ValidateMediatorConfig;
  spec.create = [](const Config& config) -> absl::StatusOr<std::unique_ptr<ServiceModule>> {
    absl::StatusOr<std::unique_ptr<MediatorModule>> module = CreateMediatorModule(config);
    if (!module.ok()) return module.status();
    return std::unique_ptr<ServiceModule>(std::move(*module));
  };
  return spec;
}

}  // namespace mflsync::mediator
