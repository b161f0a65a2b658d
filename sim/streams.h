// The simulator's check streams (sim/engine.h): one load balancer checking one backend, its
// session slots, and the two ways to advance it: StepOne (one check, optionally queued) and
// ClosedFormStream (whole runs of identical checks at once). Internal to sim/.
#pragma once

#include <array>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "clients/health.h"
#include "lab/config.h"
#include "lab/counters.h"
#include "lab/latency.h"
#include "sim/costs.h"
#include "sim/model.h"
#include "sim/series.h"

namespace tlslab::sim {

inline constexpr int64_t kNever = std::numeric_limits<int64_t>::max();

inline int64_t CeilDiv(int64_t a, int64_t b) { return a <= 0 ? 0 : (a + b - 1) / b; }

struct Slot {
  bool client_has = false;    // the checker holds a session to offer
  bool server_valid = false;  // the server would accept it (cache entry or ticket key)
  int64_t valid_until = 0;    // its expiry
};

struct Stream {
  int64_t due = 0;
  uint64_t k = 0;  // checks so far: which thread takes the next one
  int64_t next_restart = kNever;
  int64_t down_until = -1;
  bool conn_open = false;  // close mode keep
  Health health{1, 1};
};

// Everything fixed for the run, and the one place that says what a check does.
struct Model {
  const Config& config;
  SessionModel m;
  CheckCostPair cost;
  int n = 0, lbs = 1, threads = 1, slots = 1;
  bool pinned = true;  // the lab's checker: a backend stays on one thread, one session
  bool thrash = false;
  int64_t inter = 0, end = 0, timeout = 0, lifetime = 0;
  int64_t restart_every = 0, downtime = 0;
  int groups = 1;
  int64_t rtt = 0;  // --rtt, microseconds

  // The network's share of a check's latency: --rtt times the round trips the check waits for
  // (the checker sends its close and does not wait: none for the close). TCP connect: one
  // (SYN, SYN-ACK). TLS 1.2 full handshake: two (RFC 5246 7.3, Figure 1), abbreviated: one
  // (Figure 2; the client's Finished rides with the request); TLS 1.3, full or resumed: one
  // (RFC 8446 2, Figures 1 and 3). An http check: one more (request, response). A refused
  // connection: the SYN and its RST.
  int64_t NetworkUs(int kind) const {
    const int64_t http = m.check == CheckKind::kHttp ? 1 : 0;
    switch (kind) {
      case kFresh:
      case kRefused:
        return rtt * (1 + (m.version == TlsVersion::kTls12 ? 2 : 1) + http);
      case kResumed:
        return rtt * (1 + 1 + http);
      case kNoHandshake:
        return rtt * http;
      default:
        return rtt;
    }
  }

  double CheckerCost(int kind) const { return Pick(cost.checker, kind); }
  double ServerCost(int kind) const { return Pick(cost.server, kind); }
  static double Pick(const CheckCosts& c, int kind) {
    switch (kind) {
      case kFresh:
        return c.full_fresh;
      case kRefused:
        return c.full_refused;
      case kResumed:
        return c.resumed;
      case kNoHandshake:
        return c.no_handshake;
      default:
        return c.failed;
    }
  }
  int SlotOf(int b, uint64_t k) const {
    return pinned
               ? 0
               : static_cast<int>((static_cast<uint64_t>(b) + k) % static_cast<uint64_t>(threads));
  }
  int ThreadOf(int b, uint64_t k) const { return pinned ? b % threads : SlotOf(b, k); }
  int64_t FirstRestart(int b) const {
    if (restart_every == 0) return kNever;
    return static_cast<int64_t>(b % groups + 1) * restart_every;
  }

  // OpenSSL 3.0 ssl/ssl_sess.c ssl_get_prev_session (and tls_parse_ctos_psk for TLS 1.3)
  // resume while `timeout >= time(NULL) - session->time`, in whole seconds of time(): a
  // session born in second c is good through second c + timeout. The run starts on a second.
  int64_t ExpiryOf(int64_t born) const {
    return born / 1'000'000 * 1'000'000 + lifetime + 1'000'000;
  }

  // The check at t on a slot that is up: its outcome, and the session it leaves behind.
  int Outcome(Slot& s, bool& conn_open, int64_t t) const {
    if (m.persistent && conn_open) return kNoHandshake;
    const bool offered = m.offers && s.client_has;
    const bool resumed = offered && s.server_valid && t < s.valid_until;
    int kind = kResumed;
    if (resumed) {
      if (m.renewed_on_resume) s.valid_until = ExpiryOf(t);
    } else {
      kind = offered ? kRefused : kFresh;
      s.client_has = m.client_keeps;
      s.server_valid = m.server_can_resume && !thrash;
      s.valid_until = ExpiryOf(t);
    }
    // The server's verdict at the close (FateAfterClose, sim/model.cc).
    if (!m.persistent && m.removed_after_check) s.server_valid = false;
    if (m.persistent) conn_open = true;
    return kind;
  }
};

struct Tally {
  std::array<uint64_t, kSimKinds> latency_count{};
  LatencyHistogram latency;              // every check after its stream's first
  LatencyHistogram first_round_latency;  // each stream's first check
  int64_t first_round_end = -1;          // when the last first check ended (stepped engine)
  uint64_t skipped_slots = 0;
  std::array<uint64_t, kAllCheckFailures.size()> failures{};
};

// One check of a stream. Without queues (q == nullptr) its latency is its service time.
struct Queues {
  std::vector<int64_t> thread_free;  // [lb * threads + thread]
  std::vector<int64_t> core_free;    // shared server threads, or [backend * cores + core]
  int cores_per_backend = 0;
  std::mt19937_64 rng;
  std::exponential_distribution<double> exp{1.0};
  double jitter = 0;
  // A thread or core also runs its event loop (sim/costs.h per_second): a check holds it
  // this many times its own CPU, 1 / (1 - the loop's share of the thread).
  double checker_stretch = 1, server_stretch = 1;
  double Jitter() { return jitter == 0 ? 1.0 : 1.0 - jitter + jitter * exp(rng); }
};

// What one check did, for the periodic steady state (sim/windows.h).
struct CheckDone {
  int kind = kFresh;
  double checker_us = 0, server_us = 0;  // its CPU, as the series counts it
  bool failed = false;
  int64_t latency_us = 0;
  // It will repeat one period later: on time, healthy, and of the kind its slot keeps (a
  // resumption, a check on a kept connection, or a full handshake that leaves nothing to
  // resume), not a session's birth, a first check, a failure or a late start.
  bool repeats = false;
};

CheckDone StepOne(const Model& md, int b, int lb, Stream& st, Slot* slots, SimSeries* series,
                  Tally& tally, Queues* q);
// Advances a stream in closed form through every check due before `until` (sim/engine.h).
void ClosedFormStream(const Model& md, int b, Stream& st, Slot* slots, int64_t until,
                      SimSeries& series, Tally& tally);
// A stream before its first check: HAProxy start_checks spreads the first checks over one
// interval (srvpos / nbcheck), the load balancers interleaved in that spread.
Stream FirstStream(const Model& md, int b, int lb);
Model MakeModel(const Config& c, const CostSet& costs);

}  // namespace tlslab::sim
