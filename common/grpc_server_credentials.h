// A service's gRPC server credentials from its configuration: TLS (mutual
// when grpc.tls.ca_file is set) or, without a certificate, gRPC local
// credentials that admit loopback callers only; with the access file's
// AuthProcessor on every call unless grpc.auth.allow_unauthenticated.
#ifndef MFLSYNC_COMMON_GRPC_SERVER_CREDENTIALS_H_
#define MFLSYNC_COMMON_GRPC_SERVER_CREDENTIALS_H_

#include <memory>
#include <string>
#include <vector>

#include <grpcpp/security/server_credentials.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/config.h"

namespace mflsync {

// The start-up checks of the grpc.* keys (run by --check-config too):
// cert and key together, a valid certificate and its key, a CA bundle
// that holds certificates (common/pem.h); a non-loopback listen_address needs TLS; the
// access file is set (or unauthenticated use allowed explicitly) and
// parses; every RPC of `services` declares its role. InvalidArgument or
// FailedPrecondition naming the key and why.
absl::Status ValidateGrpcSecurity(const Config& config,
                                  const std::vector<std::string>& services);

// The credentials to listen with. Call after ValidateGrpcSecurity.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const Config& config, const std::vector<std::string>& services);

// Whether `host` (no port; "[::1]" form accepted) is a loopback address.
bool IsLoopbackHost(const std::string& host);

}  // namespace mflsync

#endif  // MFLSYNC_COMMON_GRPC_SERVER_CREDENTIALS_H_
