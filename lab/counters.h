// Counters written by one thread and read by the sampler on another: relaxed atomics, no
// read-modify-write (there is a single writer), so an increment costs a plain store.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

#include "lab/vocabulary.h"

namespace tlslab {

class Counter {
 public:
  void Add(uint64_t n = 1) {
    v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  uint64_t Get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

inline constexpr size_t kCloseKindCount = kAllCloseKinds.size();
inline size_t Index(CloseKind k) { return static_cast<size_t>(k); }

// Why a check failed (HAProxy's L4/L6/L7 check statuses, in our words).
// kResponseTooLarge: the response exceeded the reader's caps (lab/http_response.h), a hostile
// or broken backend; HAProxy's check buffer is bounded the same way.
enum class CheckFailure { kConnect, kTimeout, kHandshake, kHttpStatus, kClosed, kResponseTooLarge };
inline constexpr std::array kAllCheckFailures = {
    CheckFailure::kConnect,    CheckFailure::kTimeout, CheckFailure::kHandshake,
    CheckFailure::kHttpStatus, CheckFailure::kClosed,  CheckFailure::kResponseTooLarge};
inline std::string_view Name(CheckFailure f) {
  switch (f) {
    case CheckFailure::kConnect:
      return "connect";
    case CheckFailure::kTimeout:
      return "timeout";
    case CheckFailure::kHandshake:
      return "handshake";
    case CheckFailure::kHttpStatus:
      return "http_status";
    case CheckFailure::kClosed:
      return "closed";
    case CheckFailure::kResponseTooLarge:
      return "response_too_large";
  }
  return "?";
}

struct ServerCounters {
  Counter connections;
  Counter full_handshakes;
  Counter resumed_handshakes;
  std::array<Counter, kCloseKindCount> close_kinds;
  std::array<Counter, kCloseKindCount> sessions_removed;  // connections whose session was removed
  // Bounds a peer ran into (README, hostile peers): a connection refused at the per-backend cap,
  // and a connection whose unread replies filled its outbox, so the server stopped reading it.
  Counter refused_at_cap;
  Counter backpressure_pauses;
};

struct CheckerCounters {
  Counter checks;  // completed, success or failure
  Counter check_failures;
  Counter full_handshakes;  // HAProxy's ssl_be_keys_per_sec counts these
  Counter resumed_handshakes;
  Counter sessions_offered;
  // Interval slots that passed while a check was late or still running: no check is started
  // for them (clients/check_actor.cc ScheduleNext, HAProxy's rule).
  Counter skipped_slots;
  std::array<Counter, kAllCheckFailures.size()> failures_by_reason;
};

// One checked server's own counters (HAProxy keeps these per server: failed checks and UP to
// DOWN transitions, src/check.c), written by its actor's thread only, read by --metrics.
struct ServerCheckCounters {
  Counter checks;
  Counter failures;
  Counter up_down;
  std::atomic<bool> up{true};  // a server starts up (clients/health.h)
};

// A check that starts later than its slot by more than interval / kLateShare is late: the
// next is due one interval after it ends (clients/check_actor.cc ScheduleNext, mirrored by
// sim/streams.cc). Below it, the timer lag of a busy loop, the fixed rate is kept.
inline constexpr int kLateShare = 10;

// When every backend's first check has ended (the first round, necessarily full handshakes):
// the steady window of the figures starts there. Shared by the checker threads.
struct FirstRound {
  explicit FirstRound(size_t n) : backends(n) {}
  const size_t backends;
  std::atomic<size_t> done{0};
  std::atomic<int64_t> end_ns{-1};  // Clock (steady_clock) nanoseconds; -1 until complete
  bool complete() const { return end_ns.load(std::memory_order_acquire) >= 0; }
  // Called once per backend, when its first check ends.
  void OnFirstCheckEnd(int64_t now_ns) {
    if (done.fetch_add(1, std::memory_order_acq_rel) + 1 == backends) {
      end_ns.store(now_ns, std::memory_order_release);
    }
  }
};

// Plain snapshots (sums over threads), for arithmetic and reports.
struct ServerTotals {
  uint64_t connections = 0, full_handshakes = 0, resumed_handshakes = 0;
  std::array<uint64_t, kCloseKindCount> close_kinds{};
  std::array<uint64_t, kCloseKindCount> sessions_removed{};
  uint64_t refused_at_cap = 0, backpressure_pauses = 0;
  void Accumulate(const ServerCounters& c);
};

struct CheckerTotals {
  uint64_t checks = 0, check_failures = 0, full_handshakes = 0, resumed_handshakes = 0,
           sessions_offered = 0, skipped_slots = 0;
  std::array<uint64_t, kAllCheckFailures.size()> failures_by_reason{};
  void Accumulate(const CheckerCounters& c);
};

}  // namespace tlslab
