// The mapper's configurations that start-up refuses, each refused by
// --check-config too, with the same message (the missing mapping
// file): the mapping file is read and validated by both.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "tests/support/config_cases.h"

namespace mflsync::testing {
namespace {

std::map<std::string, std::string> Base() {
  return {{"MFLSYNC_LISTEN_ADDRESS", "127.0.0.1:0"},
          {"MFLSYNC_GRPC__AUTH__ALLOW_UNAUTHENTICATED", "true"},
          {"MFLSYNC_MAPPING_FILE",
           std::string(MFLSYNC_SOURCE_DIR) + "/mapper/mappings/synthetic.json"}};
}

std::string Write(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

TEST(MapperConfigTest, TheBaseIsAccepted) { ExpectAccepted(MFLSYNC_SERVICE_BIN, Base()); }

TEST(MapperConfigTest, CheckConfigRefusesWhatStartUpRefuses) {
  const std::string broken = Write("mapper-config-broken.json", "{\n  \"schema_version\": 1\n  \"name\": \"x\"\n}\n");
  const std::string invalid = Write("mapper-config-invalid.json", "{\"schema_version\": 1, \"colour\": \"red\"}");
  ExpectEachRefusedAlike(
      MFLSYNC_SERVICE_BIN, Base(),
      {{"no mapping file", {{"MFLSYNC_MAPPING_FILE", ""}},
        "mapping_file is not set (MFLSYNC_MAPPING_FILE)"},
       {"a mapping file that is not there", {{"MFLSYNC_MAPPING_FILE", "/nonexistent/m.json"}},
        "mapping_file = '/nonexistent/m.json': file does not exist or is not readable"},
       {"a mapping file that is not JSON", {{"MFLSYNC_MAPPING_FILE", broken}},
        "mapping file " + broken + ": not JSON: syntax error at line 3, column 8"},
       {"a mapping file with an unknown key", {{"MFLSYNC_MAPPING_FILE", invalid}},
        "mapping file " + invalid + ": colour: unknown key"}});
}

}  // namespace
}  // namespace mflsync::testing
