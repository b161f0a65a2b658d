// libFuzzer: what a stats-socket client sends (lab/monitor.cc StatsReply). The first byte
// says whether the peer has closed its side; the rest arrives in two pieces, as it may.
#include <cstddef>
#include <cstdint>
#include <string>

#include "lab/monitor.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool peer_done = (data[0] & 1) != 0;
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  auto info = [] { return tlslab::InfoLines{{"Name", "tlslab"}, {"SslBackendKeyRate", "1"}}; };
  // As the monitor keeps it: at most kStatsCommandMax bytes.
  const std::string kept = text.substr(0, tlslab::kStatsCommandMax);
  auto reply = tlslab::StatsReply(kept, peer_done, info);
  if (peer_done || kept.size() >= tlslab::kStatsCommandMax) {
    if (!reply) __builtin_trap();  // a closed or full client always gets an answer
  }
  if (reply && (reply->empty() || reply->back() != '\n')) __builtin_trap();
  return 0;
}
