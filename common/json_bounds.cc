#include "common/json_bounds.h"

#include "absl/strings/str_cat.h"

namespace mflsync {

absl::Status CheckJsonBounds(absl::string_view body, const JsonBounds& bounds) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  size_t string_start = 0;
  for (size_t i = 0; i < body.size(); ++i) {
    const char c = body[i];
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
        continue;
      }
      if (i - string_start > bounds.max_string_bytes) {
        return absl::InvalidArgumentError(absl::StrCat(
            "a JSON string longer than ", bounds.max_string_bytes, " bytes starts at byte ",
            string_start));
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
      string_start = i;
    } else if (c == '[' || c == '{') {
      if (++depth > bounds.max_depth) {
        return absl::InvalidArgumentError(absl::StrCat(
            "JSON nested deeper than ", bounds.max_depth, " levels at byte ", i));
      }
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return absl::OkStatus();
}

}  // namespace mflsync
