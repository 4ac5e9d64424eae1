#include "common/config.h"

#include <cstdio>
#include <fstream>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace mflsync {
namespace {

std::vector<ConfigField> Schema() {
  return {
      {.key = "listen_address", .type = ConfigType::kAddress,
       .default_value = "127.0.0.1:50051", .required = true},
      {.key = "page_size", .type = ConfigType::kInt, .default_value = "100",
       .min = 1, .max = 1000},
      {.key = "mode", .type = ConfigType::kEnum, .default_value = "search",
       .choices = {"search", "history"}},
      {.key = "overlap", .type = ConfigType::kDuration, .default_value = "60s"},
      {.key = "verify", .type = ConfigType::kBool, .default_value = "true"},
      {.key = "sources.*.base_url", .type = ConfigType::kUrl, .required = true},
      {.key = "sources.*.password", .type = ConfigType::kString, .secret = true},
      {.key = "sources.*.page_size", .type = ConfigType::kInt,
       .default_value = "50", .min = 1, .max = 5000},
  };
}

std::string WriteTemp(const std::string& text) {
  char path[] = "/tmp/mflsync_config_test_XXXXXX";
  int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  FILE* f = fdopen(fd, "w");
  fputs(text.c_str(), f);
  fclose(f);
  return path;
}

TEST(ConfigTest, DefaultsApplyWithoutFile) {
  absl::StatusOr<Config> c = Config::Load(Schema(), "", {});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->GetString("listen_address"), "127.0.0.1:50051");
  EXPECT_EQ(c->GetInt("page_size"), 100);
  EXPECT_EQ(c->GetDuration("overlap"), absl::Seconds(60));
  EXPECT_TRUE(c->GetBool("verify"));
  EXPECT_TRUE(c->Names("sources").empty());
}

TEST(ConfigTest, FileNestedObjectsAndPatterns) {
  std::string path = WriteTemp(R"({"page_size": 250, "sources": {"kenya":
      {"base_url": "https://openhim.example:5000/fhir", "password": "s3cret-pw"}}})");
  absl::StatusOr<Config> c = Config::Load(Schema(), path, {});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->GetInt("page_size"), 250);
  EXPECT_EQ(c->Names("sources"), std::vector<std::string>{"kenya"});
  EXPECT_EQ(c->GetString("sources.kenya.base_url"), "https://openhim.example:5000/fhir");
  EXPECT_EQ(c->GetInt("sources.kenya.page_size"), 50);  // pattern default
  // The secret is never shown, and is redacted from log lines from now on.
  EXPECT_EQ(c->DescribeRedacted().find("s3cret-pw"), std::string::npos);
  EXPECT_EQ(Redact("login with s3cret-pw failed"), "login with [REDACTED] failed");
  std::remove(path.c_str());
}

TEST(ConfigTest, EnvironmentOverridesFile) {
  std::string path = WriteTemp(R"({"page_size": 250})");
  absl::StatusOr<Config> c = Config::Load(
      Schema(), path,
      {{"MFLSYNC_PAGE_SIZE", "300"},
       {"MFLSYNC_SOURCES__UG__BASE_URL", "http://127.0.0.1:8081/fhir"},
       {"MFLSYNC_SOMETHING_ELSE", "ignored"},
       {"PATH", "/usr/bin"}});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->GetInt("page_size"), 300);
  EXPECT_EQ(c->GetString("sources.ug.base_url"), "http://127.0.0.1:8081/fhir");
  std::remove(path.c_str());
}

TEST(ConfigTest, UnknownKeyNamesFileAndKey) {
  std::string path = WriteTemp(R"({"page_sise": 10})");
  absl::StatusOr<Config> c = Config::Load(Schema(), path, {});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find(path), std::string::npos);
  EXPECT_NE(c.status().message().find("unknown key 'page_sise'"), std::string::npos);
  std::remove(path.c_str());
}

TEST(ConfigTest, BadValuesSaySpecificallyWhy) {
  struct Case {
    std::map<std::string, std::string> env;
    std::string expected;
  };
  std::vector<Case> cases = {
      {{{"MFLSYNC_LISTEN_ADDRESS", "localhost"}}, "not host:port"},
      {{{"MFLSYNC_LISTEN_ADDRESS", "127.0.0.1:99999"}}, "port must be"},
      {{{"MFLSYNC_PAGE_SIZE", "0"}}, "between 1 and 1000"},
      {{{"MFLSYNC_PAGE_SIZE", "ten"}}, "not a whole number"},
      {{{"MFLSYNC_MODE", "poll"}}, "one of search, history"},
      {{{"MFLSYNC_OVERLAP", "a minute"}}, "not a duration"},
      {{{"MFLSYNC_VERIFY", "yes"}}, "true or false"},
      {{{"MFLSYNC_SOURCES__KE__BASE_URL", "ftp://x/fhir"}}, "http:// or https://"},
      {{{"MFLSYNC_SOURCES__KE__BASE_URL", "https://u:p@x/fhir"}}, "credentials"},
      {{{"MFLSYNC_SOURCES__KE__PASSWORD", "pw-only"}},
       "sources.ke.base_url = '': a value is required (set it in the config file or in "
       "MFLSYNC_SOURCES__KE__BASE_URL)"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<Config> config = Config::Load(Schema(), "", c.env);
    ASSERT_FALSE(config.ok()) << c.expected;
    EXPECT_NE(config.status().message().find(c.expected), std::string::npos)
        << config.status().message();
    EXPECT_NE(config.status().message().find("MFLSYNC_"), std::string::npos)
        << config.status().message();
  }
}

TEST(ConfigTest, SecretValueNeverInError) {
  std::vector<ConfigField> schema = {
      {.key = "token", .type = ConfigType::kEnum, .secret = true, .choices = {"a"}}};
  absl::StatusOr<Config> c =
      Config::Load(schema, "", {{"MFLSYNC_TOKEN", "very-secret-token"}});
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message().find("very-secret-token"), std::string::npos);
  EXPECT_NE(c.status().message().find("[REDACTED]"), std::string::npos);
}

TEST(ConfigTest, UnreadableOrBrokenFile) {
  absl::StatusOr<Config> missing = Config::Load(Schema(), "/nonexistent/x.json", {});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("/nonexistent/x.json: cannot be read"),
            std::string::npos);
  std::string path = WriteTemp("{\"page_size\": 10,}");
  absl::StatusOr<Config> broken = Config::Load(Schema(), path, {});
  ASSERT_FALSE(broken.ok());
  EXPECT_EQ(broken.status().message(),
            absl::StrCat("config file ", path, ": not JSON: syntax error at line 1, column 18: "
                         "syntax error while parsing object key - unexpected '}'; expected "
                         "string literal"));
  std::remove(path.c_str());
  path = WriteTemp("{\"page_size\": [1]}");
  absl::StatusOr<Config> array = Config::Load(Schema(), path, {});
  ASSERT_FALSE(array.ok());
  EXPECT_NE(array.status().message().find("has a array value"), std::string::npos);
  std::remove(path.c_str());
}

TEST(ConfigTest, BadPatternName) {
  std::string path = WriteTemp(R"({"sources": {"Kenya MFL": {"base_url": "http://x/"}}})");
  absl::StatusOr<Config> c = Config::Load(Schema(), path, {});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("name 'Kenya MFL'"), std::string::npos);
  std::remove(path.c_str());
}

TEST(ConfigTest, SecretFromFileVariable) {
  std::string path = WriteTemp("from-a-file\n");
  absl::StatusOr<Config> c = Config::Load(
      Schema(), "", {{"MFLSYNC_SOURCES__MFL__BASE_URL", "https://mfl.example/fhir"},
                     {"MFLSYNC_SOURCES__MFL__PASSWORD_FILE", path}});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->GetString("sources.mfl.password"), "from-a-file");
  std::remove(path.c_str());
}

TEST(ConfigTest, EnvOnlySecretIsRefusedInTheFileWithoutShowingIt) {
  std::vector<ConfigField> schema = {
      {.key = "hook.secret", .secret = true, .env_only = true}};
  std::string path = WriteTemp(R"({"hook": {"secret": "in-the-file-in-clear"}})");
  absl::StatusOr<Config> in_file = Config::Load(schema, path, {});
  ASSERT_FALSE(in_file.ok());
  EXPECT_NE(in_file.status().message().find("key 'hook.secret' is a secret kept out of the file"),
            std::string::npos)
      << in_file.status();
  EXPECT_EQ(in_file.status().message().find("in-the-file-in-clear"), std::string::npos);
  std::remove(path.c_str());
  absl::StatusOr<Config> from_env =
      Config::Load(schema, "", {{"MFLSYNC_HOOK__SECRET", "from-the-environment"}});
  ASSERT_TRUE(from_env.ok()) << from_env.status();
  EXPECT_EQ(from_env->GetString("hook.secret"), "from-the-environment");
}

TEST(ConfigTest, SecretFileErrorsNameTheVariableNotTheContent) {
  std::string path = WriteTemp("s3cret-in-file");
  absl::StatusOr<Config> both = Config::Load(
      Schema(), "", {{"MFLSYNC_SOURCES__MFL__BASE_URL", "https://mfl.example/fhir"},
                     {"MFLSYNC_SOURCES__MFL__PASSWORD", "x"},
                     {"MFLSYNC_SOURCES__MFL__PASSWORD_FILE", path}});
  ASSERT_FALSE(both.ok());
  EXPECT_NE(both.status().message().find("both MFLSYNC_SOURCES__MFL__PASSWORD and "
                                         "MFLSYNC_SOURCES__MFL__PASSWORD_FILE"),
            std::string::npos) << both.status();
  absl::StatusOr<Config> missing = Config::Load(
      Schema(), "", {{"MFLSYNC_SOURCES__MFL__BASE_URL", "https://mfl.example/fhir"},
                     {"MFLSYNC_SOURCES__MFL__PASSWORD_FILE", "/nonexistent/secret"}});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("file /nonexistent/secret cannot be read"),
            std::string::npos) << missing.status();
  std::remove(path.c_str());
  // Only secrets come from files: a _FILE twin of a plain key names no key.
  absl::StatusOr<Config> plain = Config::Load(Schema(), "", {{"MFLSYNC_MODE_FILE", path}});
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(plain->GetString("mode"), "search");
}

TEST(ConfigTest, ControlCharactersAreRefusedWithTheirOffset) {
  absl::StatusOr<Config> c = Config::Load(
      Schema(), "", {{"MFLSYNC_SOURCES__MFL__BASE_URL", "https://mfl.example/fhir"},
                     {"MFLSYNC_SOURCES__MFL__PASSWORD", "abc\r\nX-Injected: 1"}});
  ASSERT_FALSE(c.ok());
  std::string m(c.status().message());
  EXPECT_NE(m.find("control character (byte 0x0d at offset 3)"), std::string::npos) << m;
  EXPECT_EQ(m.find("X-Injected"), std::string::npos) << "a secret was echoed: " << m;
  absl::StatusOr<Config> tab = Config::Load(Schema(), "", {{"MFLSYNC_MODE", "search\t"}});
  ASSERT_FALSE(tab.ok());
  EXPECT_NE(tab.status().message().find("'search\\t'"), std::string::npos)
      << "the shown value is escaped: " << tab.status();
}

TEST(ConfigTest, UrlWithQueryOrFragmentIsRefusedWithoutShowingIt) {
  absl::StatusOr<Config> q = Config::Load(
      Schema(), "", {{"MFLSYNC_SOURCES__MFL__BASE_URL", "https://mfl.example/fhir?token=abc123"}});
  ASSERT_FALSE(q.ok());
  std::string m(q.status().message());
  EXPECT_NE(m.find("must not carry a query"), std::string::npos) << m;
  EXPECT_EQ(m.find("abc123"), std::string::npos) << "the query was echoed: " << m;
  EXPECT_NE(m.find("'https://mfl.example/fhir'"), std::string::npos) << m;
  absl::StatusOr<Config> f = Config::Load(
      Schema(), "", {{"MFLSYNC_SOURCES__MFL__BASE_URL", "https://mfl.example/fhir#x"}});
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find("must not carry a fragment"), std::string::npos);
}

TEST(ConfigTest, SchemaMarkdownListsEveryKey) {
  std::string md = Config::SchemaMarkdown(Schema());
  for (const ConfigField& f : Schema()) EXPECT_NE(md.find(f.key), std::string::npos);
  EXPECT_NE(md.find("MFLSYNC_SOURCES__*__BASE_URL"), std::string::npos);
}

TEST(AddressTest, Forms) {
  EXPECT_TRUE(ValidateAddress("127.0.0.1:0").ok());
  EXPECT_TRUE(ValidateAddress("[::1]:50051").ok());
  EXPECT_TRUE(ValidateAddress("writer:50053").ok());
  EXPECT_FALSE(ValidateAddress(":50051").ok());
  EXPECT_FALSE(ValidateAddress("host name:1").ok());
  EXPECT_FALSE(ValidateAddress("[::1:5").ok());
}

}  // namespace
}  // namespace mflsync
