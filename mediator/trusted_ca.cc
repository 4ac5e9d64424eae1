#include "mediator/trusted_ca.h"

#include <memory>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"

namespace mflsync::mediator {
namespace {

// Fingerprints compared without separators or case.
std::string Canonical(const std::string& fingerprint) {
  return absl::AsciiStrToUpper(absl::StrReplaceAll(fingerprint, {{":", ""}}));
}

// The keystore id of the entry with `fingerprint`, or "" when none.
absl::StatusOr<std::string> FindTrusted(const OpenHimApi& api, const std::string& fingerprint) {
  absl::StatusOr<nlohmann::json> cas = api.GetJsonList("/keystore/ca", "GET /keystore/ca");
  if (!cas.ok()) return cas.status();
  for (const nlohmann::json& ca : *cas) {
    if (!ca.is_object() || !ca.contains("_id") || !ca["_id"].is_string()) continue;
    std::string stored = ca.value("fingerprint", "");
    if (stored.empty() && ca.contains("data") && ca["data"].is_string()) {
      absl::StatusOr<std::string> computed = CertificateFingerprint(ca["data"]);
      if (computed.ok()) stored = *computed;
    }
    if (!stored.empty() && Canonical(stored) == Canonical(fingerprint))
      return ca["_id"].get<std::string>();
  }
  return std::string();
}

}  // namespace

absl::StatusOr<std::string> CertificateFingerprint(const std::string& pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  if (bio == nullptr) return absl::ResourceExhaustedError("cannot read the certificate");
  std::unique_ptr<X509, decltype(&X509_free)> cert(
      PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), X509_free);
  if (cert == nullptr)
    return absl::InvalidArgumentError("no PEM certificate (-----BEGIN CERTIFICATE-----) found");
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (X509_digest(cert.get(), EVP_sha1(), digest, &length) != 1)
    return absl::InternalError("cannot compute the certificate's fingerprint");
  std::string out;
  for (unsigned int i = 0; i < length; ++i)
    absl::StrAppend(&out, i == 0 ? "" : ":", absl::StrFormat("%02X", digest[i]));
  return out;
}

absl::StatusOr<std::string> EnsureTrustedCa(const OpenHimApi& api, const std::string& pem) {
  absl::StatusOr<std::string> fingerprint = CertificateFingerprint(pem);
  if (!fingerprint.ok()) return fingerprint.status();
  absl::StatusOr<std::string> id = FindTrusted(api, *fingerprint);
  if (!id.ok() || !id->empty()) return id;
  absl::StatusOr<HttpResponse> added =
      api.Call("POST", "/keystore/ca/cert", nlohmann::json{{"cert", pem}});
  if (!added.ok()) return added.status();
  if (added->status != 201)
    return api.UnexpectedAnswer("adding the mediator's CA (POST /keystore/ca/cert)", *added);
  id = FindTrusted(api, *fingerprint);
  if (id.ok() && id->empty())
    return absl::InternalError(absl::StrCat(
        "openHIM at ", api.api_url(), " accepted the mediator's CA (fingerprint ", *fingerprint,
        ") but GET /keystore/ca does not list it"));
  return id;
}

}  // namespace mflsync::mediator
