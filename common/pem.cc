#include "common/pem.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <ctime>
#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/read_file.h"

namespace mflsync {
namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using Bio = std::unique_ptr<BIO, BioFree>;
using Cert = std::unique_ptr<X509, X509Free>;
using Key = std::unique_ptr<EVP_PKEY, KeyFree>;

// Refuses any passphrase: mflsync reads keys unencrypted.
int NoPassphrase(char*, int, int, void*) { return 0; }

absl::Status Refused(absl::string_view key, const std::string& path, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(key, " = '", path, "': ", why));
}

// A hint for a file that holds the other half of a pair.
std::string Holds(const std::string& text) {
  if (absl::StrContains(text, "PRIVATE KEY-----")) return " (it holds a private key)";
  if (absl::StrContains(text, "BEGIN CERTIFICATE")) return " (it holds a certificate)";
  if (!absl::StrContains(text, "-----BEGIN ")) return " (it is not PEM text: DER?)";
  return "";
}

// The text of `path`, which configuration key `key` names.
absl::StatusOr<std::string> ReadNamed(absl::string_view key, const std::string& path) {
  absl::StatusOr<std::string> text = ReadTextFile(path);
  if (!text.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(key, ": ", text.status().message()));
  }
  return text;
}

Bio Open(const std::string& text) {
  return Bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

Cert FirstCertificate(const std::string& text) {
  Bio bio = Open(text);
  Cert cert(PEM_read_bio_X509(bio.get(), nullptr, NoPassphrase, nullptr));
  ERR_clear_error();  // a failed read leaves errors for the thread's next TLS call
  return cert;
}

// "Jan  1 00:00:00 2030 GMT"
std::string TimeText(const ASN1_TIME* t) {
  Bio bio(BIO_new(BIO_s_mem()));
  ASN1_TIME_print(bio.get(), t);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

absl::Status CheckValidAt(absl::string_view key, const std::string& path, const X509* cert,
                          absl::Time now) {
  time_t t = absl::ToTimeT(now);
  if (X509_cmp_time(X509_get0_notBefore(cert), &t) > 0) {
    return Refused(key, path, absl::StrCat("the certificate is not valid before ",
                                           TimeText(X509_get0_notBefore(cert))));
  }
  if (X509_cmp_time(X509_get0_notAfter(cert), &t) < 0) {
    return Refused(key, path, absl::StrCat("the certificate expired on ",
                                           TimeText(X509_get0_notAfter(cert))));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckPemCertificates(absl::string_view key, const std::string& path) {
  absl::StatusOr<std::string> text = ReadNamed(key, path);
  if (!text.ok()) return text.status();
  if (FirstCertificate(*text) == nullptr) {
    return Refused(key, path, absl::StrCat("holds no PEM certificate", Holds(*text)));
  }
  return absl::OkStatus();
}

absl::Status CheckPemKeyPair(absl::string_view cert_key, const std::string& cert_path,
                             absl::string_view key_key, const std::string& key_path,
                             absl::Time now) {
  absl::StatusOr<std::string> cert_text = ReadNamed(cert_key, cert_path);
  if (!cert_text.ok()) return cert_text.status();
  const Cert cert = FirstCertificate(*cert_text);
  if (cert == nullptr) {
    return Refused(cert_key, cert_path,
                   absl::StrCat("holds no PEM certificate", Holds(*cert_text)));
  }
  if (absl::Status valid = CheckValidAt(cert_key, cert_path, cert.get(), now); !valid.ok())
    return valid;
  absl::StatusOr<std::string> key_text = ReadNamed(key_key, key_path);
  if (!key_text.ok()) return key_text.status();
  if (absl::StrContains(*key_text, "ENCRYPTED")) {
    return Refused(key_key, key_path,
                   "the private key is encrypted (passphrase-protected); give the service "
                   "an unencrypted key that only its user can read");
  }
  Bio bio = Open(*key_text);
  const Key key(PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr));
  ERR_clear_error();
  if (key == nullptr) {
    return Refused(key_key, key_path, absl::StrCat("holds no PEM private key", Holds(*key_text)));
  }
  const bool matches = X509_check_private_key(cert.get(), key.get()) == 1;
  ERR_clear_error();
  if (!matches) {
    return Refused(key_key, key_path,
                   absl::StrCat("the private key is not the key of the certificate in ",
                                cert_key, " ('", cert_path, "')"));
  }
  return absl::OkStatus();
}

absl::Status CheckTlsFiles(const Config& config, const TlsFileKeys& keys, absl::Time now) {
  const std::string cert = keys.cert.empty() ? "" : config.GetString(keys.cert);
  const std::string key = keys.key.empty() ? "" : config.GetString(keys.key);
  if (cert.empty() != key.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        keys.cert, " and ", keys.key,
        " must be set together (a certificate and its private key)"));
  }
  if (!cert.empty()) {
    if (absl::Status pair = CheckPemKeyPair(keys.cert, cert, keys.key, key, now); !pair.ok())
      return pair;
  }
  const std::string ca = keys.ca.empty() ? "" : config.GetString(keys.ca);
  if (!ca.empty()) return CheckPemCertificates(keys.ca, ca);
  return absl::OkStatus();
}

}  // namespace mflsync
