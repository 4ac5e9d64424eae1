#include "common/known_environment.h"

#include <gtest/gtest.h>

namespace mflsync {
namespace {

KnownEnvironment Known() {
  return KnownEnvironment(
      {{.key = "listen_address", .type = ConfigType::kAddress},
       {.key = "openimis.password", .type = ConfigType::kString, .secret = true},
       {.key = "openimis.username", .type = ConfigType::kString},
       {.key = "sources.*.auth.password", .type = ConfigType::kString, .secret = true},
       {.key = "sources.*.schedule", .type = ConfigType::kString}},
      {{"MFLSYNC_TOKEN_FILE", "mflsync (CLI)", "token file"},
       {"MFLSYNC_E2E_<NAME>_BIN", "tests", "a binary"}});
}

TEST(EditDistanceTest, CountsInsertionsDeletionsAndSubstitutions) {
  EXPECT_EQ(EditDistance("", ""), 0u);
  EXPECT_EQ(EditDistance("abc", ""), 3u);
  EXPECT_EQ(EditDistance("PASSWORD", "PASWORD"), 1u);
  EXPECT_EQ(EditDistance("PASSWORD", "PASSWROD"), 2u);
  EXPECT_EQ(EditDistance("kitten", "sitting"), 3u);
}

TEST(KnownEnvironmentTest, KnowsSchemaVariablesSecretFilesPatternsAndOthers) {
  const KnownEnvironment known = Known();
  for (const char* name :
       {"MFLSYNC_LISTEN_ADDRESS", "MFLSYNC_OPENIMIS__PASSWORD", "MFLSYNC_OPENIMIS__PASSWORD_FILE",
        "MFLSYNC_SOURCES__KENYA__SCHEDULE", "MFLSYNC_SOURCES__KENYA__AUTH__PASSWORD_FILE",
        "MFLSYNC_TOKEN_FILE", "MFLSYNC_E2E_WRITER_BIN"}) {
    EXPECT_TRUE(known.Knows(name)) << name;
  }
  for (const char* name : {"MFLSYNC_OPENIMIS__USERNAME_FILE", "MFLSYNC_SOURCES__SCHEDULE",
                           "MFLSYNC_E2E__BIN", "MFLSYNC_E2E_BIN", "MFLSYNC_LISTEN_ADDRES"}) {
    EXPECT_FALSE(known.Knows(name)) << name;
  }
}

TEST(KnownEnvironmentTest, CheckNamesEachUnknownVariableWithASuggestionNeverItsValue) {
  const KnownEnvironment known = Known();
  EXPECT_TRUE(known.Check({{"MFLSYNC_LISTEN_ADDRESS", "127.0.0.1:0"}, {"PATH", "/bin"},
                           {"OTHER_PASWORD", "x"}})
                  .ok());
  absl::Status one = known.Check({{"MFLSYNC_OPENIMIS__PASWORD", "topsecret"}});
  ASSERT_EQ(one.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(one.message(),
            "environment: MFLSYNC_OPENIMIS__PASWORD (did you mean MFLSYNC_OPENIMIS__PASSWORD?) "
            "is not a variable any part of mflsync reads (docs/configuration.md lists them; a "
            "misspelled one would be ignored)");
  absl::Status two = known.Check({{"MFLSYNC_SOURCES__KENYA__SCHEDUEL", "6h"},
                                  {"MFLSYNC_NOTHING_LIKE_IT", "topsecret"}});
  ASSERT_FALSE(two.ok());
  EXPECT_NE(two.message().find("MFLSYNC_NOTHING_LIKE_IT, MFLSYNC_SOURCES__KENYA__SCHEDUEL (did "
                               "you mean MFLSYNC_SOURCES__KENYA__SCHEDULE?) are not variables"),
            std::string::npos)
      << two.message();
  EXPECT_EQ(two.message().find("topsecret"), std::string::npos);
}

TEST(KnownEnvironmentTest, SuggestsOnlyWithinAFewEdits) {
  const KnownEnvironment known = Known();
  EXPECT_EQ(known.Suggest("MFLSYNC_TOKEN_FIEL"), "MFLSYNC_TOKEN_FILE");
  EXPECT_EQ(known.Suggest("MFLSYNC_OPENIMIS_PASSWORD"), "MFLSYNC_OPENIMIS__PASSWORD");
  EXPECT_EQ(known.Suggest("MFLSYNC_SOURCES__UG__AUTH__PASWORD_FILE"),
            "MFLSYNC_SOURCES__UG__AUTH__PASSWORD_FILE");
  EXPECT_FALSE(known.Suggest("MFLSYNC_WEBHOOK_URL").has_value());
}

TEST(KnownEnvironmentTest, OthersMarkdownListsTheVariablesOutsideTheSchemas) {
  EXPECT_EQ(Known().OthersMarkdown(),
            "| variable | read by | what |\n|---|---|---|\n"
            "| `MFLSYNC_TOKEN_FILE` | mflsync (CLI) | token file |\n"
            "| `MFLSYNC_E2E_<NAME>_BIN` | tests | a binary |\n");
}

}  // namespace
}  // namespace mflsync
