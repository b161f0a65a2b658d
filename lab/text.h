// Text from the user (flags, files, Python arguments) before it reaches a JSON document or an
// error line: JSON needs valid UTF-8 (RFC 8259 section 8.1; nlohmann::json throws
// type_error 316 otherwise), and a terminal should never receive raw control bytes.
#pragma once

#include <string>
#include <string_view>

namespace tlslab {

// Well-formed UTF-8 (RFC 3629 section 4: no overlongs, no surrogates, at most U+10FFFF).
bool IsUtf8(std::string_view text);

// `text` with every byte that is not printable UTF-8 (control bytes, invalid sequences) written
// as \xNN, so an error line can name a bad value without echoing raw bytes.
std::string Printable(std::string_view text);

// Throws UsageError "FIELD: not valid UTF-8 text" or "FIELD: contains a control character"
// without repeating the value.
void RequireText(std::string_view field, std::string_view text);

// A DNS host name for SNI (RFC 6066 section 3: a fully qualified name in LDH labels, no IP
// literal, no trailing dot); empty = no SNI.
bool IsSniHostName(std::string_view name);

// An origin-form request target (RFC 9112 section 3.2.1): '/' then visible ASCII only.
bool IsHttpPath(std::string_view path);

}  // namespace tlslab
