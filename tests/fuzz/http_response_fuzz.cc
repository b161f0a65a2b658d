// libFuzzer: the one HTTP response reader (lab/http_response.h) that the checker and the probe
// feed with what a server sends, cut into slices of every size: no crash, no unbounded memory
// (ASan's rss limit), and a final state never changes afterwards.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "lab/http_response.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  // The first byte splits the input into slices, as reads of any size would deliver it.
  const size_t slice = 1 + data[0] % 64;
  const std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  tlslab::HttpLimits limits;
  limits.max_header_bytes = 512;
  limits.max_body_bytes = 4096;
  tlslab::HttpResponseReader reader(limits);
  tlslab::HttpState state = tlslab::HttpState::kIncomplete;
  for (size_t at = 0; at < bytes.size() && state == tlslab::HttpState::kIncomplete; at += slice) {
    state = reader.Feed(bytes.substr(at, slice));
  }
  if (state == tlslab::HttpState::kIncomplete) state = reader.OnEof();
  // A final state stays final whatever arrives after it (http_response.h).
  if (state != tlslab::HttpState::kIncomplete && reader.Feed("HTTP/1.1 200 OK\r\n\r\n") != state) {
    __builtin_trap();
  }
  return 0;
}
