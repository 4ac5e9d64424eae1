// The writer's configurations that start-up refuses, each refused by
// --check-config too, with the same message; a misspelled secret variable
// is named, its value never shown.
#include <gtest/gtest.h>

#include <string>

#include "tests/support/config_cases.h"

namespace mflsync::testing {
namespace {

std::map<std::string, std::string> Base() {
  return {{"MFLSYNC_LISTEN_ADDRESS", "127.0.0.1:0"},
          {"MFLSYNC_GRPC__AUTH__ALLOW_UNAUTHENTICATED", "true"},
          {"MFLSYNC_OPENIMIS__BASE_URL", "http://127.0.0.1:1/api"},
          {"MFLSYNC_INDEX__PATH", ""}};
}

TEST(WriterConfigTest, TheBaseIsAccepted) { ExpectAccepted(MFLSYNC_SERVICE_BIN, Base()); }

TEST(WriterConfigTest, CheckConfigRefusesWhatStartUpRefuses) {
  const std::string pem = std::string(MFLSYNC_SOURCE_DIR) + "/README.md";  // any readable file
  ExpectEachRefusedAlike(
      MFLSYNC_SERVICE_BIN, Base(),
      {{"openIMIS: a client key without its certificate",
        {{"MFLSYNC_OPENIMIS__TLS__CLIENT_KEY_FILE", pem}},
        "openimis.tls.client_cert_file and openimis.tls.client_key_file must be set together"},
       {"openHIM: a client certificate without its key",
        {{"MFLSYNC_OPENHIM__TLS__CLIENT_CERT_FILE", pem}},
        "openhim.tls.client_cert_file and openhim.tls.client_key_file must be set together"},
       {"a misspelled secret variable", {{"MFLSYNC_OPENIMIS__PASWORD", "topsecret-value"}},
        "MFLSYNC_OPENIMIS__PASWORD (did you mean MFLSYNC_OPENIMIS__PASSWORD?)"},
       {"a secret file variable of a key that is no secret",
        {{"MFLSYNC_OPENIMIS__USERNAME_FILE", pem}}, "MFLSYNC_OPENIMIS__USERNAME_FILE"}});
  absl::StatusOr<ConfigPaths> secret = RunBothConfigPaths(
      MFLSYNC_SERVICE_BIN, [] {
        std::map<std::string, std::string> env = Base();
        env["MFLSYNC_OPENIMIS__PASWORD"] = "topsecret-value";
        return env;
      }());
  ASSERT_TRUE(secret.ok());
  EXPECT_EQ(secret->check.output.find("topsecret-value"), std::string::npos);
}

}  // namespace
}  // namespace mflsync::testing
