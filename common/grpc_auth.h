// Who may call which RPC. An access file grants roles to principals (a
// bearer token, by its SHA-256, or a client certificate, by its common
// name); each RPC declares the role it needs in its proto
// (option (mflsync.v1.access)). CallAuthorizer decides one call;
// AuthProcessor applies it to every call a gRPC server receives.
#ifndef MFLSYNC_COMMON_GRPC_AUTH_H_
#define MFLSYNC_COMMON_GRPC_AUTH_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/security/auth_metadata_processor.h>
#include <grpcpp/server_context.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace mflsync {

// The roles (docs/security.md). An operator may do what a viewer may.
enum Role : uint8_t { kRoleViewer = 1, kRoleOperator = 2, kRoleService = 4 };
using RoleSet = uint8_t;

// "viewer", "operator,viewer", … → the set; InvalidArgument names the word.
absl::StatusOr<RoleSet> ParseRoles(absl::string_view text);
// The set as "operator,service" (for logs and errors).
std::string RolesToString(RoleSet roles);

// Lowercase hex SHA-256 of a token, as the access file stores it.
std::string TokenSha256(absl::string_view token);

// The principals of an access file. One per line, `#` starts a comment:
//   NAME ROLES cert             a client certificate whose CN is NAME
//   NAME ROLES sha256:HEX       a bearer token whose SHA-256 is HEX
struct AccessFile {
  struct Principal {
    std::string name;
    RoleSet roles = 0;
  };
  std::map<std::string, Principal> by_token_sha256;
  std::map<std::string, Principal> by_cert_name;

  // `source` names the file in errors ("access.txt:3: ...").
  static absl::StatusOr<AccessFile> Parse(absl::string_view text,
                                          absl::string_view source);
  static absl::StatusOr<AccessFile> Load(const std::string& path);
};

// Full gRPC method path ("/mflsync.v1.WriterService/WriteFacilities") → the
// role it needs, read from the services' descriptors. FailedPrecondition
// when a service is unknown or an RPC declares no role.
absl::StatusOr<std::map<std::string, Role>> MethodRoles(
    const std::vector<std::string>& full_service_names);

// The decision for one call, from what the transport and metadata show.
class CallAuthorizer {
 public:
  CallAuthorizer(AccessFile access, std::map<std::string, Role> method_roles)
      : access_(std::move(access)), method_roles_(std::move(method_roles)) {}

  struct Caller {
    std::string bearer_token;  // from "authorization: Bearer …"; may be empty
    std::string cert_name;     // verified client certificate CN; may be empty
  };
  struct Decision {
    absl::Status status;  // OK, Unauthenticated or PermissionDenied
    std::string caller;   // the principal's name; empty when unknown
  };
  // Health and reflection are open; any other path needs a known principal
  // (Unauthenticated otherwise) holding the method's role (PermissionDenied
  // otherwise). A path no service declares needs a principal and then
  // passes (gRPC answers UNIMPLEMENTED). Messages never hold the token.
  Decision Authorize(absl::string_view path, const Caller& caller) const;

  // Whether `path` is open to anyone (health, reflection).
  static bool IsOpen(absl::string_view path);

 private:
  const AccessFile::Principal* Find(const Caller& caller) const;

  AccessFile access_;
  std::map<std::string, Role> method_roles_;
};

// The principal (its name in the access file) whose call `context` is, as
// AuthProcessor admitted it; empty when the server authenticates no one
// (grpc.auth.allow_unauthenticated) or for an open method.
std::string CallerPrincipal(const grpc::ServerContext& context);

// Applies a CallAuthorizer to every call of a secure gRPC server (TLS or
// local credentials) and logs each refusal with the caller's name; an
// admitted caller's name goes into the call's AuthContext (CallerPrincipal).
class AuthProcessor : public grpc::AuthMetadataProcessor {
 public:
  explicit AuthProcessor(CallAuthorizer authorizer)
      : authorizer_(std::move(authorizer)) {}
  bool IsBlocking() const override { return false; }
  grpc::Status Process(const InputMetadata& auth_metadata,
                       grpc::AuthContext* context,
                       OutputMetadata* consumed_auth_metadata,
                       OutputMetadata* response_metadata) override;

 private:
  CallAuthorizer authorizer_;
};

}  // namespace mflsync

#endif  // MFLSYNC_COMMON_GRPC_AUTH_H_
