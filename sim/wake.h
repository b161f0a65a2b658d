// How an event loop's CPU grows with its check rate (docs/design.md 12, "the wake-up model").
//
// A loop that sleeps between checks pays, for each check that wakes it, more than a check costs
// a loop that is already awake: the return from epoll_wait, the switch back to the thread,
// caches and branch predictors cold after the sleep. The more of its time a loop is busy, the
// fewer of its checks find it asleep, so a check costs less at a higher rate and the loop
// saturates later than a line through low rates says. With
//   r  checks per second of one loop,
//   C  CPU per check when every check wakes the loop (low rates),
//   s  the share of C that a check pays only when it wakes the loop (`wake_share`),
//   p  CPU per second of the loop beyond its checks (timers; `per_second`),
// and a check finding the loop busy with the probability u that it is busy (arrivals that do
// not depend on the loop's state see its time average), the busy share u satisfies
//   u = p + r C (1 - s u),   so   u = (p + r C) / (1 + s r C),
// which reaches 1 at r = (1 - p) / (C (1 - s)): the knee. With s = 0 it is the line of CPU
// against the rate. How much a machine bends varies: on one development machine full TLS 1.2
// checks cost the checker 1,070 us at 100/s, 770 us at 900/s and about 600 us at its knee
// (1,640/s); on another the cost per check stayed within 10% from 100/s to the knee
// (docs/figures/README.md).
#pragma once

#include <vector>

#include "sim/checker_costs.h"

namespace tlslab {

// One loop's busy share at `rate` checks per second: u above, at most 1. `per_second_us` is p
// in CPU microseconds per second, `cost_us` is C.
double BusyShare(double per_second_us, double rate, double cost_us, double wake_share);

struct WakeFit {
  double per_second_full = 0, full = 0;  // p and C of full checks
  double per_second = 0, resumed = 0;    // p (the same) and C of resumed checks
  double wake_share = 0;                 // s, the same for both (a property of the loop)
};

// Fits the model to runs of one loop (RatePoint: checks per second, CPU microseconds per
// second), runs of full checks (at least three for a bend, the highest near the knee, where the
// curve bends) and of resumed ones: the s in [0, 0.9] whose p and C of each kind, by least
// squares of the relative error, fit them best, with one p for both kinds (per_second and
// per_second_full equal; p below 0 is 0). Runs that show no bend give s = 0: straight lines.
WakeFit FitWake(const std::vector<RatePoint>& full, const std::vector<RatePoint>& resumed);

}  // namespace tlslab
