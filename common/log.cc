#include "common/log.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace mflsync {
namespace {

constexpr char kRedacted[] = "[REDACTED]";

struct LogState {
  std::mutex mu;
  std::string service = "mflsync";
  LogFormat format = LogFormat::kText;
  LogLevel level = LogLevel::kInfo;
  std::vector<std::string> secrets;
};

LogState& State() {
  static auto* state = new LogState();
  return *state;
}

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarning: return "warning";
    case LogLevel::kError: return "error";
  }
  return "info";
}

bool IsCredentialKey(absl::string_view key) {
  std::string lower = absl::AsciiStrToLower(key);
  for (const char* word : {"password", "token", "secret", "authorization"}) {
    if (absl::StrContains(lower, word)) return true;
  }
  return false;
}

// Replaces "scheme://user:pass@" by "scheme://[REDACTED]@".
std::string RedactUrlCredentials(std::string text) {
  size_t pos = 0;
  while ((pos = text.find("://", pos)) != std::string::npos) {
    size_t start = pos + 3;
    size_t end = start;
    while (end < text.size() && text[end] != '/' && text[end] != '@' &&
           !std::isspace(static_cast<unsigned char>(text[end])) &&
           text[end] != '"') {
      ++end;
    }
    if (end < text.size() && text[end] == '@') {
      text.replace(start, end - start, kRedacted);
      pos = start + sizeof(kRedacted);
    } else {
      pos = end;
    }
  }
  return text;
}

nlohmann::json RedactFields(const nlohmann::json& fields) {
  if (!fields.is_object()) return fields;
  nlohmann::json out = nlohmann::json::object();
  for (auto it = fields.begin(); it != fields.end(); ++it) {
    if (IsCredentialKey(it.key())) {
      out[it.key()] = kRedacted;
    } else if (it->is_string()) {
      out[it.key()] = Redact(it->get<std::string>());
    } else if (it->is_object()) {
      out[it.key()] = RedactFields(*it);
    } else {
      out[it.key()] = *it;
    }
  }
  return out;
}

}  // namespace

void InitLogging(absl::string_view service, LogFormat format, LogLevel level) {
  LogState& s = State();
  std::lock_guard<std::mutex> lock(s.mu);
  s.service = std::string(service);
  s.format = format;
  s.level = level;
}

absl::Status ParseLogLevel(absl::string_view text, LogLevel* level) {
  if (text == "debug") *level = LogLevel::kDebug;
  else if (text == "info") *level = LogLevel::kInfo;
  else if (text == "warning") *level = LogLevel::kWarning;
  else if (text == "error") *level = LogLevel::kError;
  else
    return absl::InvalidArgumentError(absl::StrCat(
        "log level '", text, "' is not one of debug, info, warning, error"));
  return absl::OkStatus();
}

absl::Status ParseLogFormat(absl::string_view text, LogFormat* format) {
  if (text == "text") *format = LogFormat::kText;
  else if (text == "json") *format = LogFormat::kJson;
  else
    return absl::InvalidArgumentError(
        absl::StrCat("log format '", text, "' is not one of text, json"));
  return absl::OkStatus();
}

void RegisterSecret(absl::string_view secret) {
  if (secret.size() < 4) return;
  LogState& s = State();
  std::lock_guard<std::mutex> lock(s.mu);
  if (std::find(s.secrets.begin(), s.secrets.end(), secret) ==
      s.secrets.end()) {
    s.secrets.emplace_back(secret);
  }
}

std::string Redact(absl::string_view text) {
  std::string out = RedactUrlCredentials(std::string(text));
  std::vector<std::string> secrets;
  {
    LogState& s = State();
    std::lock_guard<std::mutex> lock(s.mu);
    secrets = s.secrets;
  }
  for (const std::string& secret : secrets) {
    out = absl::StrReplaceAll(out, {{secret, kRedacted}});
  }
  return out;
}

std::string FormatLogLine(LogLevel level, absl::string_view message,
                          const nlohmann::json& fields) {
  LogState& s = State();
  std::string service;
  LogFormat format;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    service = s.service;
    format = s.format;
  }
  const std::string ts =
      absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone());
  const nlohmann::json safe_fields = RedactFields(fields);
  const std::string safe_message = Redact(message);
  if (format == LogFormat::kJson) {
    nlohmann::json line = {{"ts", ts},
                           {"level", LevelName(level)},
                           {"service", service},
                           {"msg", safe_message}};
    if (safe_fields.is_object()) {
      for (auto it = safe_fields.begin(); it != safe_fields.end(); ++it) {
        if (!line.contains(it.key())) line[it.key()] = *it;
      }
    }
    return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  std::string line =
      absl::StrCat(ts, " ", LevelName(level), " ", service, ": ", safe_message);
  if (safe_fields.is_object()) {
    for (auto it = safe_fields.begin(); it != safe_fields.end(); ++it) {
      absl::StrAppend(&line, " ", it.key(), "=",
                      it->is_string() ? it->get<std::string>()
                                      : it->dump(-1, ' ', false,
                                                 nlohmann::json::error_handler_t::replace));
    }
  }
  return line;
}

void Log(LogLevel level, absl::string_view message,
         const nlohmann::json& fields) {
  {
    LogState& s = State();
    std::lock_guard<std::mutex> lock(s.mu);
    if (level < s.level) return;
  }
  std::string line = FormatLogLine(level, message, fields);
  line.push_back('\n');
  // One write(2) per line keeps lines whole when several threads log.
  ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
  (void)ignored;
}

}  // namespace mflsync
