#include "common/pem.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace mflsync {
namespace {

// A certificate and its private key, in PEM.
struct Identity {
  std::string cert;
  std::string key;
};

std::string ToPem(int (*write)(BIO*, void*), void* what) {
  BIO* bio = BIO_new(BIO_s_mem());
  write(bio, what);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(bio);
  return out;
}

// A P-256 key and its self-signed certificate, valid from now + `from` to
// now + `to`.
Identity MakeIdentity(absl::Duration from, absl::Duration to) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), absl::ToInt64Seconds(from));
  X509_gmtime_adj(X509_getm_notAfter(cert), absl::ToInt64Seconds(to));
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("mflsync-test"), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  X509_set_pubkey(cert, key);
  X509_sign(cert, key, EVP_sha256());
  Identity id;
  id.cert = ToPem([](BIO* b, void* x) { return PEM_write_bio_X509(b, static_cast<X509*>(x)); },
                  cert);
  id.key = ToPem(
      [](BIO* b, void* k) {
        return PEM_write_bio_PrivateKey(b, static_cast<EVP_PKEY*>(k), nullptr, nullptr, 0,
                                        nullptr, nullptr);
      },
      key);
  X509_free(cert);
  EVP_PKEY_free(key);
  return id;
}

class PemTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           absl::StrCat("mflsync-pem-test-", getpid(), "-",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }

  absl::Status Pair(const std::string& cert_text, const std::string& key_text) {
    return CheckPemKeyPair("grpc.tls.cert_file", Write("cert.pem", cert_text),
                           "grpc.tls.key_file", Write("key.pem", key_text), absl::Now());
  }

  std::filesystem::path dir_;
  const Identity valid_ = MakeIdentity(-absl::Hours(1), absl::Hours(24));
};

TEST_F(PemTest, AValidCertificateAndItsKeyPass) {
  EXPECT_TRUE(Pair(valid_.cert, valid_.key).ok());
  // A chain after the certificate, and a CA bundle of two.
  const Identity other = MakeIdentity(-absl::Hours(1), absl::Hours(24));
  EXPECT_TRUE(Pair(valid_.cert + other.cert, valid_.key).ok());
  EXPECT_TRUE(
      CheckPemCertificates("grpc.tls.ca_file", Write("ca.pem", valid_.cert + other.cert)).ok());
}

TEST_F(PemTest, SwappedOrForeignFilesSayWhatTheyHold) {
  absl::Status swapped = Pair(valid_.key, valid_.cert);
  EXPECT_EQ(swapped.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(swapped.message().find("grpc.tls.cert_file = '"), std::string::npos) << swapped;
  EXPECT_NE(swapped.message().find("holds no PEM certificate (it holds a private key)"),
            std::string::npos)
      << swapped;
  absl::Status der = CheckPemCertificates("grpc.tls.ca_file", Write("ca.der", "\x30\x82\x01"));
  EXPECT_NE(der.message().find("holds no PEM certificate (it is not PEM text: DER?)"),
            std::string::npos)
      << der;
  absl::Status no_key = Pair(valid_.cert, valid_.cert);
  EXPECT_NE(no_key.message().find("grpc.tls.key_file = '"), std::string::npos) << no_key;
  EXPECT_NE(no_key.message().find("holds no PEM private key (it holds a certificate)"),
            std::string::npos)
      << no_key;
  // Never the content of a file.
  for (const absl::Status& s : {swapped, der, no_key})
    EXPECT_EQ(s.message().find("BEGIN"), std::string::npos) << s;
}

TEST_F(PemTest, AKeyOfAnotherCertificateIsRefused) {
  const Identity other = MakeIdentity(-absl::Hours(1), absl::Hours(24));
  absl::Status s = Pair(valid_.cert, other.key);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("the private key is not the key of the certificate in "
                             "grpc.tls.cert_file"),
            std::string::npos)
      << s;
}

TEST_F(PemTest, ExpiredAndNotYetValidCertificatesAreRefused) {
  const Identity expired = MakeIdentity(-absl::Hours(48), -absl::Hours(24));
  absl::Status old = Pair(expired.cert, expired.key);
  EXPECT_NE(old.message().find("the certificate expired on "), std::string::npos) << old;
  EXPECT_NE(old.message().find("GMT"), std::string::npos) << old;
  const Identity future = MakeIdentity(absl::Hours(24), absl::Hours(48));
  absl::Status early = Pair(future.cert, future.key);
  EXPECT_NE(early.message().find("the certificate is not valid before "), std::string::npos)
      << early;
}

TEST_F(PemTest, AnEncryptedKeyIsRefusedWithWhatToDo) {
  const std::string encrypted =
      "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIBvTBXBgkqhkiG9w0BBQ0wSjApBgkq\n"
      "-----END ENCRYPTED PRIVATE KEY-----\n";
  absl::Status s = Pair(valid_.cert, encrypted);
  EXPECT_NE(s.message().find("the private key is encrypted"), std::string::npos) << s;
}

TEST_F(PemTest, AnUnreadableFileIsNamedByItsKey) {
  absl::Status s = CheckPemCertificates("openimis.tls.ca_file", (dir_ / "missing.pem").string());
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("openimis.tls.ca_file: "), std::string::npos) << s;
}

TEST_F(PemTest, TlsFilesOfAConfigurationAreCheckedTogether) {
  const std::vector<ConfigField> schema = {
      {.key = "x.cert_file", .type = ConfigType::kFile},
      {.key = "x.key_file", .type = ConfigType::kFile},
      {.key = "x.ca_file", .type = ConfigType::kFile},
  };
  const TlsFileKeys keys{"x.cert_file", "x.key_file", "x.ca_file"};
  const std::string cert = Write("cert.pem", valid_.cert), key = Write("key.pem", valid_.key);
  auto check = [&](std::map<std::string, std::string> env) {
    absl::StatusOr<Config> config = Config::Load(schema, "", env);
    EXPECT_TRUE(config.ok()) << config.status();
    return config.ok() ? CheckTlsFiles(*config, keys, absl::Now()) : config.status();
  };
  EXPECT_TRUE(check({}).ok()) << "nothing set: nothing to check";
  EXPECT_TRUE(check({{"MFLSYNC_X__CERT_FILE", cert}, {"MFLSYNC_X__KEY_FILE", key},
                     {"MFLSYNC_X__CA_FILE", cert}})
                  .ok());
  absl::Status half = check({{"MFLSYNC_X__CERT_FILE", cert}});
  EXPECT_NE(half.message().find("x.cert_file and x.key_file must be set together"),
            std::string::npos)
      << half;
  absl::Status bad_ca = check({{"MFLSYNC_X__CA_FILE", key}});
  EXPECT_NE(bad_ca.message().find("x.ca_file = '"), std::string::npos) << bad_ca;
}

}  // namespace
}  // namespace mflsync
