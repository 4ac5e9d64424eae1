#include "common/grpc_server_credentials.h"

#include <arpa/inet.h>

#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/grpc_auth.h"
#include "common/pem.h"
#include "common/read_file.h"

namespace mflsync {
namespace {

absl::StatusOr<std::string> ReadPem(const std::string& key, const std::string& path) {
  absl::StatusOr<std::string> pem = ReadTextFile(path);
  if (!pem.ok()) return absl::NotFoundError(absl::StrCat(key, ": ", pem.status().message()));
  return pem;
}

std::string ListenHost(const Config& config) {
  const std::string address = config.GetString("listen_address");
  return address.substr(0, address.rfind(':'));
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> TlsCredentials(
    const Config& config) {
  absl::StatusOr<std::string> cert =
      ReadPem("grpc.tls.cert_file", config.GetString("grpc.tls.cert_file"));
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key =
      ReadPem("grpc.tls.key_file", config.GetString("grpc.tls.key_file"));
  if (!key.ok()) return key.status();
  // Callers may present a client certificate (verified against the CA) or a
  // bearer token instead: the access file says which are admitted.
  grpc::SslServerCredentialsOptions ssl(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  const std::string ca_file = config.GetString("grpc.tls.ca_file");
  if (!ca_file.empty()) {
    absl::StatusOr<std::string> ca = ReadPem("grpc.tls.ca_file", ca_file);
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = *ca;
    ssl.client_certificate_request =
        GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  ssl.pem_key_cert_pairs.push_back({*key, *cert});
  return grpc::SslServerCredentials(ssl);
}

// The authorizer of the access file, or nullopt when there is none (then
// allow_unauthenticated is set, or InvalidArgument says what to do).
absl::StatusOr<std::optional<CallAuthorizer>> LoadAuthorizer(
    const Config& config, const std::vector<std::string>& services) {
  absl::StatusOr<std::map<std::string, Role>> roles = MethodRoles(services);
  if (!roles.ok()) return roles.status();
  const std::string access_file = config.GetString("grpc.auth.access_file");
  if (access_file.empty()) {
    if (config.GetBool("grpc.auth.allow_unauthenticated")) return std::nullopt;
    return absl::InvalidArgumentError(
        "grpc.auth.access_file is not set: nobody could call this service "
        "(set it, see docs/security.md, or set "
        "grpc.auth.allow_unauthenticated=true for isolated development)");
  }
  absl::StatusOr<AccessFile> access = AccessFile::Load(access_file);
  if (!access.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("grpc.auth.access_file: ", access.status().message()));
  }
  return CallAuthorizer(*std::move(access), *std::move(roles));
}

}  // namespace

bool IsLoopbackHost(const std::string& host) {
  in_addr v4{};  // 127.0.0.0/8 as a numeric address only: "127.example.org" is a name
  return host == "localhost" || host == "[::1]" || host == "::1" ||
         (absl::StartsWith(host, "127.") && inet_pton(AF_INET, host.c_str(), &v4) == 1);
}

absl::Status ValidateGrpcSecurity(const Config& config,
                                  const std::vector<std::string>& services) {
  absl::Status files = CheckTlsFiles(
      config, {"grpc.tls.cert_file", "grpc.tls.key_file", "grpc.tls.ca_file"}, absl::Now());
  if (!files.ok()) return files;
  const bool tls = !config.GetString("grpc.tls.cert_file").empty();
  if (!tls && !IsLoopbackHost(ListenHost(config))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "listen_address ", config.GetString("listen_address"),
        " is not a loopback address: without grpc.tls.cert_file and "
        "grpc.tls.key_file the server admits loopback callers only"));
  }
  return LoadAuthorizer(config, services).status();
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const Config& config, const std::vector<std::string>& services) {
  std::shared_ptr<grpc::ServerCredentials> creds;
  if (config.GetString("grpc.tls.cert_file").empty()) {
    creds = grpc::experimental::LocalServerCredentials(LOCAL_TCP);
  } else {
    absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> tls = TlsCredentials(config);
    if (!tls.ok()) return tls.status();
    creds = *tls;
  }
  absl::StatusOr<std::optional<CallAuthorizer>> authorizer =
      LoadAuthorizer(config, services);
  if (!authorizer.ok()) return authorizer.status();
  if (*authorizer) {
    creds->SetAuthMetadataProcessor(
        std::make_shared<AuthProcessor>(*std::move(*authorizer)));
  }
  return creds;
}

}  // namespace mflsync
