#include "common/grpc_channel.h"

#include <utility>
#include <vector>

#include <grpcpp/support/client_interceptor.h>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/read_file.h"

namespace mflsync {
namespace {

constexpr int kMaxMessageBytes = 64 * 1024 * 1024;

// Adds "authorization: Bearer <token>" to every call of the channel.
class BearerInterceptor : public grpc::experimental::Interceptor {
 public:
  explicit BearerInterceptor(const std::string* header) : header_(header) {}
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      methods->GetSendInitialMetadata()->insert({"authorization", *header_});
    }
    methods->Proceed();
  }

 private:
  const std::string* header_;
};

class BearerInterceptorFactory
    : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit BearerInterceptorFactory(const std::string& token)
      : header_(absl::StrCat("Bearer ", token)) {}
  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo* /*info*/) override {
    return new BearerInterceptor(&header_);
  }

 private:
  const std::string header_;  // outlives the channel's interceptors
};

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> Credentials(
    const ClientSecurity& security) {
  if (security.ca_file.empty()) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions ssl;
  absl::StatusOr<std::string> ca = ReadTextFile(security.ca_file);
  if (!ca.ok()) return ca.status();
  ssl.pem_root_certs = *ca;
  if (!security.cert_file.empty()) {
    absl::StatusOr<std::string> cert = ReadTextFile(security.cert_file);
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> key = ReadTextFile(security.key_file);
    if (!key.ok()) return key.status();
    ssl.pem_cert_chain = *cert;
    ssl.pem_private_key = *key;
  }
  return grpc::SslCredentials(ssl);
}

}  // namespace

ClientSecurity ClientSecurity::FromConfig(const Config& config) {
  return {.ca_file = config.GetString("grpc.tls.ca_file"),
          .cert_file = config.GetString("grpc.tls.cert_file"),
          .key_file = config.GetString("grpc.tls.key_file"),
          .token = config.GetString("grpc.auth.token")};
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeSecureChannel(
    const std::string& address, const ClientSecurity& security) {
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> creds =
      Credentials(security);
  if (!creds.ok()) return creds.status();
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxMessageBytes);
  std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>>
      interceptors;
  if (!security.token.empty()) {
    interceptors.push_back(std::make_unique<BearerInterceptorFactory>(security.token));
  }
  return grpc::experimental::CreateCustomChannelWithInterceptors(
      address, *creds, args, std::move(interceptors));
}

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address,
                                           const ClientSecurity& security) {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      MakeSecureChannel(address, security);
  if (channel.ok()) return *channel;
  LogError("gRPC channel credentials unusable; calls will fail",
           {{"address", address}, {"error", std::string(channel.status().message())}});
  // A channel to nowhere: its calls fail UNAVAILABLE.
  return grpc::CreateChannel("unix:/nonexistent/mflsync-bad-credentials",
                             grpc::InsecureChannelCredentials());
}

}  // namespace mflsync
