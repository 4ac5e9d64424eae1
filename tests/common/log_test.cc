#include "common/log.h"

#include <gtest/gtest.h>

namespace mflsync {
namespace {

TEST(LogTest, JsonLineCarriesFieldsAndRedactsCredentials) {
  InitLogging("fetcher", LogFormat::kJson, LogLevel::kInfo);
  RegisterSecret("hunter2-password");
  std::string line = FormatLogLine(
      LogLevel::kWarning, "GET https://user:pw@mfl.example/fhir failed",
      {{"page", 3}, {"password", "anything"}, {"note", "sent hunter2-password"},
       {"Authorization", "Basic abc"}});
  nlohmann::json j = nlohmann::json::parse(line);
  EXPECT_EQ(j["level"], "warning");
  EXPECT_EQ(j["service"], "fetcher");
  EXPECT_EQ(j["page"], 3);
  EXPECT_EQ(j["password"], "[REDACTED]");
  EXPECT_EQ(j["Authorization"], "[REDACTED]");
  EXPECT_EQ(j["note"], "sent [REDACTED]");
  EXPECT_EQ(j["msg"], "GET https://[REDACTED]@mfl.example/fhir failed");
  EXPECT_EQ(line.find("hunter2"), std::string::npos);
}

TEST(LogTest, TextLine) {
  InitLogging("writer", LogFormat::kText, LogLevel::kInfo);
  std::string line = FormatLogLine(LogLevel::kInfo, "wrote", {{"created", 2}});
  EXPECT_NE(line.find(" info writer: wrote created=2"), std::string::npos) << line;
}

TEST(LogTest, ParseLevelAndFormat) {
  LogLevel level;
  LogFormat format;
  EXPECT_TRUE(ParseLogLevel("debug", &level).ok());
  EXPECT_EQ(level, LogLevel::kDebug);
  EXPECT_FALSE(ParseLogLevel("verbose", &level).ok());
  EXPECT_TRUE(ParseLogFormat("json", &format).ok());
  EXPECT_FALSE(ParseLogFormat("xml", &format).ok());
}

TEST(LogTest, ShortSecretsAreNotRegistered) {
  RegisterSecret("ab");
  EXPECT_EQ(Redact("ab cd"), "ab cd");
}

}  // namespace
}  // namespace mflsync
