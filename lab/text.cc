#include "lab/text.h"

#include <arpa/inet.h>

#include <cstdio>

#include "lab/errors.h"

namespace tlslab {
namespace {

// Length of the UTF-8 sequence at text[i], or 0 when it is not well-formed (RFC 3629 section 4
// table).
size_t SequenceLength(std::string_view text, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char b0 = byte(i);
  if (b0 < 0x80) return 1;
  size_t len = 0;
  unsigned char lo = 0x80, hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    if (b0 == 0xE0) lo = 0xA0;  // no overlong
    if (b0 == 0xED) hi = 0x9F;  // no surrogate
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    if (b0 == 0xF0) lo = 0x90;  // no overlong
    if (b0 == 0xF4) hi = 0x8F;  // at most U+10FFFF
  } else {
    return 0;
  }
  if (i + len > text.size()) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (size_t k = 2; k < len; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  }
  return len;
}

bool IsControl(unsigned char c) { return c < 0x20 || c == 0x7F; }

}  // namespace

bool IsUtf8(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    const size_t len = SequenceLength(text, i);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

std::string Printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const size_t len = SequenceLength(text, i);
    const auto c = static_cast<unsigned char>(text[i]);
    if (len == 0 || (len == 1 && IsControl(c))) {
      char esc[8];
      std::snprintf(esc, sizeof esc, "\\x%02X", c);
      out += esc;
      ++i;
      continue;
    }
    out.append(text.substr(i, len));
    i += len;
  }
  return out;
}

void RequireText(std::string_view field, std::string_view text) {
  if (!IsUtf8(text)) throw UsageError(std::string(field) + ": not valid UTF-8 text");
  for (char c : text) {
    if (IsControl(static_cast<unsigned char>(c))) {
      throw UsageError(std::string(field) + ": contains a control character (" +
                       Printable(std::string_view(&c, 1)) + ")");
    }
  }
}

bool IsSniHostName(std::string_view name) {
  if (name.empty()) return true;
  if (name.size() > 253 || name.back() == '.') return false;
  std::string copy(name);
  unsigned char addr[16];
  if (inet_pton(AF_INET, copy.c_str(), addr) == 1 || inet_pton(AF_INET6, copy.c_str(), addr) == 1) {
    return false;
  }
  size_t label = 0;
  char prev = '.';
  for (char c : name) {
    const bool ldh =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
    if (c == '.') {
      if (label == 0 || prev == '-') return false;
      label = 0;
    } else if (!ldh || (c == '-' && label == 0) || ++label > 63) {
      return false;
    }
    prev = c;
  }
  return prev != '-';
}

bool IsHttpPath(std::string_view path) {
  if (path.empty() || path.front() != '/') return false;
  for (char ch : path) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c >= 0x7F) return false;  // controls, space, DEL, non-ASCII
  }
  return true;
}

}  // namespace tlslab
