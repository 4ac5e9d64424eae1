// Structured logging for every mflsync process: one line per event, as text
// or JSON lines, with secrets redacted before anything is written.
#ifndef MFLSYNC_COMMON_LOG_H_
#define MFLSYNC_COMMON_LOG_H_

#include <string>
#include "absl/strings/string_view.h"

#include <nlohmann/json.hpp>

#include "absl/status/status.h"

namespace mflsync {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };
enum class LogFormat { kText, kJson };

// Process-wide settings. Call once at start-up; safe defaults otherwise
// (text, info, service "mflsync").
void InitLogging(absl::string_view service, LogFormat format, LogLevel level);

// Parses "debug" / "info" / "warning" / "error" and "text" / "json".
absl::Status ParseLogLevel(absl::string_view text, LogLevel* level);
absl::Status ParseLogFormat(absl::string_view text, LogFormat* format);

// Registers a secret value (a password, a token): any occurrence of it in a
// later log line is replaced by "[REDACTED]". Values shorter than 4
// characters are ignored (they would redact ordinary words).
void RegisterSecret(absl::string_view secret);

// Replaces registered secrets and credentials in URLs (user:pass@) by
// "[REDACTED]". Used by the logger and by error messages that quote input.
std::string Redact(absl::string_view text);

// Writes one event. `fields` must be a JSON object (or null); fields named
// like credentials (password, token, secret, authorization) are redacted
// whatever their value.
void Log(LogLevel level, absl::string_view message,
         const nlohmann::json& fields = nullptr);

inline void LogDebug(absl::string_view m, const nlohmann::json& f = nullptr) {
  Log(LogLevel::kDebug, m, f);
}
inline void LogInfo(absl::string_view m, const nlohmann::json& f = nullptr) {
  Log(LogLevel::kInfo, m, f);
}
inline void LogWarning(absl::string_view m, const nlohmann::json& f = nullptr) {
  Log(LogLevel::kWarning, m, f);
}
inline void LogError(absl::string_view m, const nlohmann::json& f = nullptr) {
  Log(LogLevel::kError, m, f);
}

// Formats one event as the logger would, without writing it (for tests).
std::string FormatLogLine(LogLevel level, absl::string_view message,
                          const nlohmann::json& fields);

}  // namespace mflsync

#endif  // MFLSYNC_COMMON_LOG_H_
