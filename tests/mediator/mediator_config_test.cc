// The mediator's configurations that start-up refuses, each refused by
// --check-config too, with the same message.
#include <gtest/gtest.h>

#include <string>

#include "tests/support/config_cases.h"

namespace mflsync::testing {
namespace {

std::map<std::string, std::string> Base() {
  return {{"MFLSYNC_LISTEN_ADDRESS", "127.0.0.1:0"},
          {"MFLSYNC_GRPC__AUTH__ALLOW_UNAUTHENTICATED", "true"},
          {"MFLSYNC_HTTP_LISTEN", "127.0.0.1:0"},
          {"MFLSYNC_ENDPOINT_PASSWORD", "mediator-config-test"}};
}

TEST(MediatorConfigTest, TheBaseIsAccepted) { ExpectAccepted(MFLSYNC_SERVICE_BIN, Base()); }

TEST(MediatorConfigTest, CheckConfigRefusesWhatStartUpRefuses) {
  ExpectEachRefusedAlike(
      MFLSYNC_SERVICE_BIN, Base(),
      {{"no endpoint password", {{"MFLSYNC_ENDPOINT_PASSWORD", ""}},
        "endpoint_password is empty"},
       {"an openHIM API without a user", {{"MFLSYNC_OPENHIM__API_URL", "https://openhim:8080"}},
        "openhim.username is empty but openhim.api_url is set"},
       {"a heartbeat slower than openHIM expects",
        {{"MFLSYNC_OPENHIM__HEARTBEAT_INTERVAL", "1m"}},
        "openhim.heartbeat_interval must be more than 0 and at most 30s"},
       {"plain HTTP off loopback", {{"MFLSYNC_HTTP_LISTEN", "0.0.0.0:0"}},
        "http_listen 0.0.0.0 is not a loopback address"},
       {"a misspelled secret variable", {{"MFLSYNC_ENDPOINT_PASWORD", "x"}},
        "MFLSYNC_ENDPOINT_PASWORD (did you mean MFLSYNC_ENDPOINT_PASSWORD?)"}});
}

}  // namespace
}  // namespace mflsync::testing
