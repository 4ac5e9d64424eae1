#include "common/json_position.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace mflsync {

TextPosition PositionOfByte(absl::string_view text, size_t bytes_read) {
  // The offending byte's offset; past the end: just after the last byte.
  const size_t offset = std::min(bytes_read == 0 ? 0 : bytes_read - 1, text.size());
  absl::string_view before = text.substr(0, offset);
  TextPosition position;
  position.line = 1 + static_cast<size_t>(std::count(before.begin(), before.end(), '\n'));
  const size_t line_start = before.rfind('\n');
  position.column = line_start == absl::string_view::npos ? offset + 1 : offset - line_start;
  return position;
}

std::string DescribeJsonSyntaxError(absl::string_view text,
                                    const nlohmann::json::parse_error& error) {
  // nlohmann's what(): "[json.exception.parse_error.101] parse error at line
  // 1, column 8: syntax error while parsing value - …"; keep the reason.
  absl::string_view why = error.what();
  const size_t at = why.find("parse error");
  const size_t colon = at == absl::string_view::npos ? at : why.find(": ", at);
  if (colon != absl::string_view::npos) why.remove_prefix(colon + 2);
  const TextPosition position = PositionOfByte(text, error.byte);
  return absl::StrCat("syntax error at line ", position.line, ", column ", position.column,
                      ": ", why);
}

}  // namespace mflsync
