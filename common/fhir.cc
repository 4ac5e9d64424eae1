#include "common/fhir.h"

#include <algorithm>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/civil_time.h"
#include "common/json_bounds.h"
#include "common/json_position.h"
#include "common/log.h"

namespace mflsync {

absl::StatusOr<absl::Time> ParseFhirInstant(absl::string_view text) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", text.substr(0, 64), "' is not a FHIR instant: ", why));
  };
  if (text.size() < 20) return bad("too short (need date, time and zone)");
  if (text[4] != '-' || text[7] != '-' || text[10] != 'T' || text[13] != ':' ||
      text[16] != ':')
    return bad("expected YYYY-MM-DDThh:mm:ss");
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18})
    if (!absl::ascii_isdigit(text[i])) return bad("non-digit in date or time");
  size_t pos = 19;
  std::string frac;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    while (pos < text.size() && absl::ascii_isdigit(text[pos])) frac.push_back(text[pos++]);
    if (frac.empty()) return bad("empty fraction of a second");
    if (frac.size() > 9) return bad("fraction longer than 9 digits");
  }
  absl::string_view zone = text.substr(pos);
  if (zone != "Z" && !(zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') &&
                       absl::ascii_isdigit(zone[1]) && absl::ascii_isdigit(zone[2]) &&
                       zone[3] == ':' && absl::ascii_isdigit(zone[4]) &&
                       absl::ascii_isdigit(zone[5])))
    return bad("time zone must be Z or ±hh:mm");
  std::string normalised = absl::StrCat(text.substr(0, 19), zone == "Z" ? "+00:00" : zone);
  absl::Time t;
  std::string err;
  if (!absl::ParseTime("%Y-%m-%dT%H:%M:%S%Ez", normalised, &t, &err))
    return bad(err);
  // Reject dates that absl normalises (e.g. 2021-02-30).
  absl::TimeZone utc = absl::UTCTimeZone();
  int tz_offset_min = 0;
  if (zone != "Z") {
    int hh = (zone[1] - '0') * 10 + (zone[2] - '0');
    int mm = (zone[4] - '0') * 10 + (zone[5] - '0');
    tz_offset_min = (zone[0] == '-' ? -1 : 1) * (hh * 60 + mm);
  }
  std::string round_trip = absl::FormatTime(
      "%4Y-%m-%dT%H:%M:%S", t + absl::Minutes(tz_offset_min), utc);
  if (round_trip != text.substr(0, 19)) return bad("no such date or time");
  if (!frac.empty()) {
    while (frac.size() < 9) frac.push_back('0');
    t += absl::Nanoseconds(std::stoll(frac));
  }
  return t;
}

std::string FormatFhirInstant(absl::Time time) {
  // FHIR's instant has a four-digit year from 0001 to 9999: earlier times
  // (a zero watermark, a since of year 0) mean "from the beginning", later
  // ones "to the end".
  static const absl::Time kFirst =
      absl::FromCivil(absl::CivilSecond(1, 1, 1, 0, 0, 0), absl::UTCTimeZone());
  static const absl::Time kLast =
      absl::FromCivil(absl::CivilSecond(9999, 12, 31, 23, 59, 59), absl::UTCTimeZone());
  time = std::clamp(time, kFirst, kLast);
  return absl::FormatTime("%4Y-%m-%dT%H:%M:%E3SZ", time, absl::UTCTimeZone());
}

bool IsFhirId(absl::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s)
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.')
      return false;
  return true;
}

absl::StatusOr<FhirReference> ParseFhirReference(absl::string_view reference) {
  std::vector<absl::string_view> parts = absl::StrSplit(reference, '/');
  // Drop "_history/v" at the end.
  if (parts.size() >= 4 && parts[parts.size() - 2] == "_history")
    parts.resize(parts.size() - 2);
  if (parts.size() < 2 || parts[parts.size() - 2].empty() || parts.back().empty())
    return absl::InvalidArgumentError(absl::StrCat(
        "reference '", reference.substr(0, 100), "' is not of the form Type/id"));
  FhirReference ref{std::string(parts[parts.size() - 2]), std::string(parts.back())};
  if (!absl::ascii_isupper(ref.type[0]))
    return absl::InvalidArgumentError(absl::StrCat(
        "reference '", reference.substr(0, 100), "' does not name a resource type"));
  return ref;
}

std::string OperationOutcomeText(absl::string_view body, size_t max_chars) {
  nlohmann::json doc = nlohmann::json::parse(body, nullptr, false);
  std::vector<std::string> texts;
  if (doc.is_object() && doc.value("resourceType", "") == "OperationOutcome" &&
      doc.contains("issue") && doc["issue"].is_array()) {
    for (const auto& issue : doc["issue"]) {
      if (!issue.is_object()) continue;
      if (issue.contains("diagnostics") && issue["diagnostics"].is_string()) {
        texts.push_back(issue["diagnostics"].get<std::string>());
      } else if (issue.contains("details") && issue["details"].is_object() &&
                 issue["details"].contains("text") &&
                 issue["details"]["text"].is_string()) {
        texts.push_back(issue["details"]["text"].get<std::string>());
      }
    }
  } else if (doc.is_object() && doc.contains("detail") && doc["detail"].is_string()) {
    texts.push_back(doc["detail"].get<std::string>());  // Django REST framework
  }
  std::string text = texts.empty() ? std::string(body) : absl::StrJoin(texts, "; ");
  if (text.size() > max_chars) text = absl::StrCat(text.substr(0, max_chars), "…");
  return Redact(text);
}

absl::StatusOr<nlohmann::json> ParseJson(absl::string_view text) {
  if (absl::Status bounded = CheckJsonBounds(text); !bounded.ok()) return bounded;
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("not JSON: ", DescribeJsonSyntaxError(text, e)));
  }
}

}  // namespace mflsync
