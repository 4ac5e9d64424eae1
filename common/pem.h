// What the PEM files a configuration names hold, checked at start-up and by
// --check-config, so that a wrong file is refused with its key, its path
// and the reason, before a TLS library meets it (gRPC's own refusal reads
// "cannot listen"). Never quotes a file's content.
#ifndef MFLSYNC_COMMON_PEM_H_
#define MFLSYNC_COMMON_PEM_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/config.h"

namespace mflsync {

// `path` (configuration key `key`) holds at least one PEM certificate: a
// CA bundle. InvalidArgument otherwise.
absl::Status CheckPemCertificates(absl::string_view key, const std::string& path);

// `cert_path` (key `cert_key`) holds a PEM certificate (its chain may
// follow) valid at `now`, and `key_path` (key `key_key`) the unencrypted
// PEM private key of that certificate. InvalidArgument otherwise.
absl::Status CheckPemKeyPair(absl::string_view cert_key, const std::string& cert_path,
                             absl::string_view key_key, const std::string& key_path,
                             absl::Time now);

// The configuration keys of one TLS side: a certificate and its key, and
// a CA bundle to verify the other side with ("" for one not configurable).
struct TlsFileKeys {
  std::string cert;
  std::string key;
  std::string ca;
};

// The start-up check of those keys: certificate and key set together, then
// CheckPemKeyPair; the CA bundle, when set, CheckPemCertificates.
absl::Status CheckTlsFiles(const Config& config, const TlsFileKeys& keys, absl::Time now);

}  // namespace mflsync

#endif  // MFLSYNC_COMMON_PEM_H_
