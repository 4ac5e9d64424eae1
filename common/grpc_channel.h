// Client channels from one mflsync service (or the mflsync command) to
// another, with the caller's credentials: TLS with the suite's CA and this
// caller's certificate (mutual TLS), and/or a bearer token sent on every
// call. The servers' side is common/grpc_auth.h.
#ifndef MFLSYNC_COMMON_GRPC_CHANNEL_H_
#define MFLSYNC_COMMON_GRPC_CHANNEL_H_

#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "common/config.h"

namespace mflsync {

// How a caller reaches and proves itself to a service.
struct ClientSecurity {
  std::string ca_file;    // PEM CA that signs the servers; empty: plaintext
                          // (a loopback server with local credentials)
  std::string cert_file;  // PEM client certificate (with key_file; TLS only)
  std::string key_file;
  std::string token;      // bearer token; empty: none

  // From a service's grpc.tls.ca_file, grpc.tls.cert_file/key_file and
  // grpc.auth.token.
  static ClientSecurity FromConfig(const Config& config);
};

// A channel with `security`. Unreadable TLS files give an error naming the
// file (never its content).
absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeSecureChannel(
    const std::string& address, const ClientSecurity& security);

// As MakeSecureChannel, for callers that report errors per call: a file that
// cannot be read yields a channel whose calls fail UNAVAILABLE with the
// reason logged once.
std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address,
                                           const ClientSecurity& security);

}  // namespace mflsync

#endif  // MFLSYNC_COMMON_GRPC_CHANNEL_H_
