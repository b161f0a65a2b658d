// The discrete-event simulator (docs/design.md 12): the checks of `tlslab run` at any
// scale and over days, from the same Config and profile tables, with costs from a cost file.
//
// How it stays exact. A check stream is one load balancer checking one backend. What a check
// does (full or resumed, offered or not, the server's verdict at its close) depends only on
// the stream's session slots (sim/model.h) and the clock; what it costs depends only on that
// outcome (sim/costs.h). Between two changes of state (a restart, a session expiring, the
// backend going down or up), a healthy stream's checks form an arithmetic sequence whose
// outcomes follow in closed form: all full when the profile removes the session (or it cannot
// be resumed, or the cache thrashes, or it expires between two uses of its slot), otherwise one
// full handshake at each session birth and resumptions until the session's expiry, computed
// by division, not by stepping. Counts go into the time series exactly: the series step is a
// multiple of each slot's period, so every full step holds the same number of checks. Around
// restarts and down/up transitions the stream is stepped check by check through the same
// StepOne that the stepped engine uses (HAProxy's health counter, fastinter/downinter, the
// fixed-rate schedule that skips missed slots). Streams interact only through the server's
// session cache (FIFO eviction under a cyclic access order: it either holds every slot's
// session or none survives to its next use, decided up front) and through queueing. So the
// closed form runs first and says how busy each checker thread and server core is in each
// series step; the steps where one would be busy more than kQueueingThreshold of the time
// become windows that are stepped check by check (sim/windows.h), every stream in one event
// queue, each check waiting for its checker thread and then a server core, with seeded
// service-time jitter, timing out and falling behind its schedule as the real checker does;
// between windows the streams go on in closed form from the state the window left, once every
// queue has drained. Inside a window, once a whole period of the arrival pattern repeats
// (every check on time and of the kind its slot keeps, the queue not growing) and nothing will
// change until a horizon (a restart, a session's expiry), the period is copied up to it
// instead of stepped (sim/windows.h Repeat). Tests hold the closed form equal to stepping
// every check (without jitter) wherever queueing is absent, and the hybrid equal to it,
// latency included, where the threads are busy throughout.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>

#include "lab/config.h"
#include "lab/report.h"
#include "sim/checker_costs.h"
#include "sim/costs.h"

namespace tlslab {

// Above this utilisation of a checker thread or a server core, queueing decides latency.
inline constexpr double kQueueingThreshold = 0.3;
// Bounds checked before a simulation starts (one line, exit 2, when exceeded).
inline constexpr uint64_t kMaxSimMemoryBytes = 2ULL << 30;
inline constexpr uint64_t kMaxSteppedChecks = 300'000'000;

struct SimOptions {
  enum class Engine { kAuto, kClosedForm, kStepped };
  Engine engine = Engine::kAuto;
  double jitter = 0.5;  // stepped engine: service time x (1 - j + j*Exp(1)), mean unchanged
  // A real load balancer's own costs for the checker side (simulate --checker-costs).
  const CheckerCostSet* checker_costs = nullptr;
};

struct SimResult {
  RunReport report;           // the same figures as a real run (checker side: one LB)
  nlohmann::json simulation;  // engine, costs, memory, speed, per-backend and per-LB figures
};

// Throws UsageError (one line) for a simulation that would exceed its memory or step bounds.
SimResult Simulate(const Config& config, const CostSet& costs, const SimOptions& options = {});

// The time-series step for a duration (multiple of every slot period in use).
int64_t SeriesStepUs(const Config& config);

}  // namespace tlslab
