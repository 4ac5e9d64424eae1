// The CA that openHIM must trust to reach the mediator over HTTPS: a route
// with `secured: true` verifies the mediator's certificate against the
// keystore CA named by the route's `cert` (openHIM 8.5.0 router.js,
// constructOptionsObject), so the mediator adds its CA to openHIM's
// trusted certificates (POST /keystore/ca/cert) once and names it.
#ifndef MFLSYNC_MEDIATOR_TRUSTED_CA_H_
#define MFLSYNC_MEDIATOR_TRUSTED_CA_H_

#include <string>

#include "absl/status/statusor.h"
#include "mediator/openhim_api.h"

namespace mflsync::mediator {

// The SHA-1 fingerprint of the first certificate in `pem`, as openHIM
// stores it (upper-case hex pairs joined by ':', from `openssl x509
// -fingerprint`); InvalidArgument when `pem` holds no certificate.
absl::StatusOr<std::string> CertificateFingerprint(const std::string& pem);

// The keystore id (`_id` in GET /keystore/ca) of the CA certificate
// `pem`, added first when openHIM does not trust it yet. Needs an openHIM
// user in the admin group. Errors name the call and openHIM's answer.
absl::StatusOr<std::string> EnsureTrustedCa(const OpenHimApi& api, const std::string& pem);

}  // namespace mflsync::mediator

#endif  // MFLSYNC_MEDIATOR_TRUSTED_CA_H_
