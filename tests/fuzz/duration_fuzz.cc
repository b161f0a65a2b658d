// libFuzzer: the duration parser (lab/duration.cc) and the text checks (lab/text.cc): no
// crash, and what parses formats back to the same value; Printable output is valid UTF-8.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "lab/duration.h"
#include "lab/text.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto d = tlslab::ParseDuration(text)) {
    auto again = tlslab::ParseDuration(tlslab::FormatDuration(*d));
    if (!again || *again != *d) __builtin_trap();
  }
  if (!tlslab::IsUtf8(tlslab::Printable(text))) __builtin_trap();
  (void)tlslab::IsSniHostName(text);
  (void)tlslab::IsHttpPath(text);
  return 0;
}
