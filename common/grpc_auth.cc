#include "common/grpc_auth.h"

#include <google/protobuf/descriptor.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/log.h"
#include "common/read_file.h"
#include "common/sha256.h"
#include "common/status_util.h"
#include "mflsync/v1/access.pb.h"

namespace mflsync {
namespace {

// The AuthContext property holding the admitted principal's name.
constexpr char kPrincipalProperty[] = "mflsync.principal";

constexpr absl::string_view kOpenPrefixes[] = {
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
};

bool IsLowerHex(absl::string_view s) {
  for (char c : s) {
    if (!absl::ascii_isdigit(c) && (c < 'a' || c > 'f')) return false;
  }
  return true;
}

// One non-comment line of an access file into `file`.
absl::Status ParseLine(absl::string_view line, AccessFile* file) {
  std::vector<absl::string_view> words =
      absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
  if (words.size() != 3) {
    return absl::InvalidArgumentError(
        "expected three words: NAME ROLES cert|sha256:HEX");
  }
  absl::StatusOr<RoleSet> roles = ParseRoles(words[1]);
  if (!roles.ok()) return roles.status();
  AccessFile::Principal principal{std::string(words[0]), *roles};
  absl::string_view credential = words[2];
  if (credential == "cert") {
    if (!file->by_cert_name.emplace(principal.name, principal).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("certificate name '", principal.name, "' is listed twice"));
    }
    return absl::OkStatus();
  }
  if (!absl::ConsumePrefix(&credential, "sha256:") || credential.size() != 64 ||
      !IsLowerHex(credential)) {
    return absl::InvalidArgumentError(
        "the credential is 'cert' or 'sha256:' and 64 lowercase hex digits "
        "(scripts/grpc-credentials.sh token prints one)");
  }
  if (!file->by_token_sha256.emplace(std::string(credential), principal).second) {
    return absl::InvalidArgumentError("this token is listed twice");
  }
  return absl::OkStatus();
}

// The bearer token of "authorization: Bearer …", or empty.
std::string BearerToken(const grpc::AuthMetadataProcessor::InputMetadata& md) {
  auto it = md.find("authorization");
  if (it == md.end()) return "";
  absl::string_view value(it->second.data(), it->second.size());
  if (!absl::ConsumePrefix(&value, "Bearer ") &&
      !absl::ConsumePrefix(&value, "bearer ")) {
    return "";
  }
  return std::string(absl::StripAsciiWhitespace(value));
}

// The CN of a verified client certificate, or empty.
std::string CertName(const grpc::AuthContext& context) {
  std::vector<grpc::string_ref> type =
      context.FindPropertyValues("transport_security_type");
  if (type.empty() || type[0] != "ssl") return "";
  std::vector<grpc::string_ref> cn = context.FindPropertyValues("x509_common_name");
  if (cn.empty()) return "";
  return std::string(cn[0].data(), cn[0].size());
}

}  // namespace

absl::StatusOr<RoleSet> ParseRoles(absl::string_view text) {
  RoleSet roles = 0;
  for (absl::string_view word : absl::StrSplit(text, ',')) {
    if (word == "viewer") roles |= kRoleViewer;
    else if (word == "operator") roles |= kRoleOperator;
    else if (word == "service") roles |= kRoleService;
    else
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown role '", word, "' (roles: viewer, operator, service)"));
  }
  return roles;
}

std::string RolesToString(RoleSet roles) {
  std::vector<std::string> names;
  if (roles & kRoleOperator) names.push_back("operator");
  if (roles & kRoleService) names.push_back("service");
  if (roles & kRoleViewer) names.push_back("viewer");
  return names.empty() ? "none" : absl::StrJoin(names, ",");
}

std::string TokenSha256(absl::string_view token) { return Sha256Hex(token); }

absl::StatusOr<AccessFile> AccessFile::Parse(absl::string_view text,
                                             absl::string_view source) {
  AccessFile file;
  int number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++number;
    line = absl::StripAsciiWhitespace(line.substr(0, line.find('#')));
    if (line.empty()) continue;
    if (absl::Status s = ParseLine(line, &file); !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ":", number, ": ", s.message()));
    }
  }
  return file;
}

absl::StatusOr<AccessFile> AccessFile::Load(const std::string& path) {
  absl::StatusOr<std::string> text = ReadTextFile(path);
  if (!text.ok()) return text.status();
  return Parse(*text, path);
}

absl::StatusOr<std::map<std::string, Role>> MethodRoles(
    const std::vector<std::string>& full_service_names) {
  const google::protobuf::DescriptorPool* pool =
      google::protobuf::DescriptorPool::generated_pool();
  std::map<std::string, Role> roles;
  for (const std::string& name : full_service_names) {
    const google::protobuf::ServiceDescriptor* service = pool->FindServiceByName(name);
    if (service == nullptr) {
      return absl::FailedPreconditionError(absl::StrCat("unknown gRPC service ", name));
    }
    for (int i = 0; i < service->method_count(); ++i) {
      const google::protobuf::MethodDescriptor* method = service->method(i);
      const std::string path = absl::StrCat("/", name, "/", method->name());
      switch (method->options().GetExtension(v1::access)) {
        case v1::ACCESS_VIEWER: roles[path] = kRoleViewer; break;
        case v1::ACCESS_OPERATOR: roles[path] = kRoleOperator; break;
        case v1::ACCESS_SERVICE: roles[path] = kRoleService; break;
        default:
          return absl::FailedPreconditionError(absl::StrCat(
              path, " declares no (mflsync.v1.access) role in its proto"));
      }
    }
  }
  return roles;
}

bool CallAuthorizer::IsOpen(absl::string_view path) {
  for (absl::string_view prefix : kOpenPrefixes) {
    if (absl::StartsWith(path, prefix)) return true;
  }
  return false;
}

const AccessFile::Principal* CallAuthorizer::Find(const Caller& caller) const {
  if (!caller.bearer_token.empty()) {
    auto it = access_.by_token_sha256.find(TokenSha256(caller.bearer_token));
    if (it != access_.by_token_sha256.end()) return &it->second;
  }
  if (!caller.cert_name.empty()) {
    auto it = access_.by_cert_name.find(caller.cert_name);
    if (it != access_.by_cert_name.end()) return &it->second;
  }
  return nullptr;
}

CallAuthorizer::Decision CallAuthorizer::Authorize(absl::string_view path,
                                                   const Caller& caller) const {
  if (IsOpen(path)) return {absl::OkStatus(), ""};
  const AccessFile::Principal* principal = Find(caller);
  if (principal == nullptr) {
    std::string why;
    if (!caller.bearer_token.empty()) {
      why = "its bearer token is not in this service's access file";
    } else if (!caller.cert_name.empty()) {
      why = absl::StrCat("its certificate '", caller.cert_name,
                         "' is not in this service's access file");
    } else {
      why = "it carries no credentials (a bearer token or a client certificate)";
    }
    return {absl::UnauthenticatedError(absl::StrCat(path, " refused: ", why)),
            caller.cert_name};
  }
  auto it = method_roles_.find(std::string(path));
  if (it == method_roles_.end()) return {absl::OkStatus(), principal->name};
  RoleSet held = principal->roles;
  if (held & kRoleOperator) held |= kRoleViewer;
  if (held & it->second) return {absl::OkStatus(), principal->name};
  return {absl::PermissionDeniedError(absl::StrCat(
              path, " needs the ", RolesToString(it->second), " role; '",
              principal->name, "' has ", RolesToString(principal->roles))),
          principal->name};
}

std::string CallerPrincipal(const grpc::ServerContext& context) {
  std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  if (auth == nullptr) return "";
  std::vector<grpc::string_ref> values = auth->FindPropertyValues(kPrincipalProperty);
  if (values.empty()) return "";
  return std::string(values.back().data(), values.back().size());
}

grpc::Status AuthProcessor::Process(const InputMetadata& auth_metadata,
                                    grpc::AuthContext* context,
                                    OutputMetadata* /*consumed_auth_metadata*/,
                                    OutputMetadata* /*response_metadata*/) {
  auto path_it = auth_metadata.find(":path");
  std::string path = path_it == auth_metadata.end()
                         ? std::string()
                         : std::string(path_it->second.data(), path_it->second.size());
  CallAuthorizer::Caller caller{BearerToken(auth_metadata), CertName(*context)};
  CallAuthorizer::Decision decision = authorizer_.Authorize(path, caller);
  if (decision.status.ok() && !decision.caller.empty())
    context->AddProperty(kPrincipalProperty, decision.caller);
  if (!decision.status.ok()) {
    LogWarning("call refused",
               {{"method", path},
                {"caller", decision.caller.empty() ? "unknown" : decision.caller},
                {"code", absl::StatusCodeToString(decision.status.code())},
                {"why", std::string(decision.status.message())}});
  }
  return ToGrpcStatus(decision.status);
}

}  // namespace mflsync
