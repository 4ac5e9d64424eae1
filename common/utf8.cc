#include "common/utf8.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace mflsync {
namespace {

// The length of the valid UTF-8 sequence starting at text[i], or 0.
size_t SequenceLength(absl::string_view text, size_t i) {
  const unsigned char c = static_cast<unsigned char>(text[i]);
  const size_t len = c < 0x80          ? 1
                     : (c >> 5) == 0x6 ? 2
                     : (c >> 4) == 0xE ? 3
                     : (c >> 3) == 0x1E ? 4
                                        : 0;
  if (len == 0 || i + len > text.size() || (len == 2 && c < 0xC2)) return 0;
  for (size_t k = 1; k < len; ++k) {
    if ((static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80) return 0;
  }
  return len;
}

}  // namespace

std::string SafeUtf8(absl::string_view text, size_t max_bytes) {
  std::string out;
  out.reserve(std::min(text.size(), max_bytes));
  size_t i = 0;
  while (i < text.size()) {
    const size_t len = SequenceLength(text, i);
    if (out.size() + std::max<size_t>(len, 1) > max_bytes) break;
    if (len > 0) {
      out.append(text.data() + i, len);
      i += len;
    } else {
      out.push_back('?');
      ++i;
    }
  }
  return out;
}

std::string OneLine(absl::string_view text, size_t max_bytes) {
  std::string out = SafeUtf8(text, max_bytes);
  const bool cut = out.size() < text.size();  // '?' replaces a byte one for one
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  if (cut) absl::StrAppend(&out, "...");
  return out;
}

}  // namespace mflsync
