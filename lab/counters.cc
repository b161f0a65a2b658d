#include "lab/counters.h"

namespace tlslab {

void ServerTotals::Accumulate(const ServerCounters& c) {
  connections += c.connections.Get();
  full_handshakes += c.full_handshakes.Get();
  resumed_handshakes += c.resumed_handshakes.Get();
  refused_at_cap += c.refused_at_cap.Get();
  backpressure_pauses += c.backpressure_pauses.Get();
  for (size_t i = 0; i < kCloseKindCount; ++i) {
    close_kinds[i] += c.close_kinds[i].Get();
    sessions_removed[i] += c.sessions_removed[i].Get();
  }
}

void CheckerTotals::Accumulate(const CheckerCounters& c) {
  checks += c.checks.Get();
  check_failures += c.check_failures.Get();
  full_handshakes += c.full_handshakes.Get();
  resumed_handshakes += c.resumed_handshakes.Get();
  sessions_offered += c.sessions_offered.Get();
  skipped_slots += c.skipped_slots.Get();
  for (size_t i = 0; i < failures_by_reason.size(); ++i) {
    failures_by_reason[i] += c.failures_by_reason[i].Get();
  }
}

}  // namespace tlslab
