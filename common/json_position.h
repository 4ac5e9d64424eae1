// Where a JSON syntax error is, as people count: line and column. nlohmann's
// parse_error gives a byte count; every message about a JSON text the suite
// reads (configuration, mapping file, peers' answers) turns it into
// "line L, column C" here, so that a user can go to the spot in an editor.
#ifndef MFLSYNC_COMMON_JSON_POSITION_H_
#define MFLSYNC_COMMON_JSON_POSITION_H_

#include <cstddef>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/strings/string_view.h"

namespace mflsync {

// A 1-based line and column (in bytes) of a text.
struct TextPosition {
  size_t line = 1;
  size_t column = 1;
};

// The position of the `bytes_read`-th byte of `text` (nlohmann's
// parse_error::byte: the count of bytes read when the error was seen, so the
// offending byte is text[bytes_read - 1]). A count past the end (an
// unexpected end of input) is the position just after the last byte; 0 is
// line 1, column 1. A line ends at '\n'.
TextPosition PositionOfByte(absl::string_view text, size_t bytes_read);

// "syntax error at line L, column C: WHY" for a parse error of `text`, WHY
// being nlohmann's reason without its own prefix.
std::string DescribeJsonSyntaxError(absl::string_view text,
                                    const nlohmann::json::parse_error& error);

}  // namespace mflsync

#endif  // MFLSYNC_COMMON_JSON_POSITION_H_
