// The fetcher's configurations that start-up refuses, each refused by
// --check-config too, with the same message (the basic auth without
// a user name).
#include <gtest/gtest.h>

#include <string>

#include "tests/support/config_cases.h"

namespace mflsync::testing {
namespace {

constexpr char kSource[] = "MFLSYNC_SOURCES__KENYA__";

std::map<std::string, std::string> Base() {
  return {{"MFLSYNC_LISTEN_ADDRESS", "127.0.0.1:0"},
          {"MFLSYNC_GRPC__AUTH__ALLOW_UNAUTHENTICATED", "true"},
          {std::string(kSource) + "BASE_URL", "https://mfl.example/fhir"}};
}

std::map<std::string, std::string> Source(std::map<std::string, std::string> keys) {
  std::map<std::string, std::string> env;
  for (auto& [key, value] : keys) env[kSource + key] = value;
  return env;
}

TEST(FetcherConfigTest, TheBaseIsAccepted) { ExpectAccepted(MFLSYNC_SERVICE_BIN, Base()); }

TEST(FetcherConfigTest, CheckConfigRefusesWhatStartUpRefuses) {
  const std::string pem = std::string(MFLSYNC_SOURCE_DIR) + "/README.md";  // any readable file
  ExpectEachRefusedAlike(
      MFLSYNC_SERVICE_BIN, Base(),
      {{"basic auth without a user name", Source({{"AUTH__TYPE", "basic"}}),
        "sources.kenya.auth.username: required when sources.kenya.auth.type = basic"},
       {"custom auth without a token", Source({{"AUTH__TYPE", "custom"}}),
        "sources.kenya.auth.token: required when sources.kenya.auth.type = custom"},
       {"a client certificate without its key", Source({{"TLS__CLIENT_CERT_FILE", pem}}),
        "sources.kenya.tls.client_cert_file and sources.kenya.tls.client_key_file must be set "
        "together"},
       {"an empty query parameter", Source({{"QUERY__COUNT_PARAM", ""}}),
        "sources.kenya.query.*: resource_type, count_param and last_updated_param must not be "
        "empty"},
       {"a misspelled secret variable", Source({{"AUTH__PASWORD", "topsecret-value"}}),
        "MFLSYNC_SOURCES__KENYA__AUTH__PASWORD (did you mean "
        "MFLSYNC_SOURCES__KENYA__AUTH__PASSWORD?)"}});
}

}  // namespace
}  // namespace mflsync::testing
