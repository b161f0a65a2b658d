// The two ways the simulator advances all its streams (sim/engine.h): the closed form over
// the whole run for one load balancer (O(1) state), and check by check with queueing inside
// windows of simulated time, in closed form between them (every stream's state kept).
// Internal to sim/.
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

#include "sim/series.h"
#include "sim/streams.h"

namespace tlslab::sim {

struct Window {
  int64_t from = 0, to = 0;  // microseconds of simulated time
};

struct WindowsRun {
  int up = 0;              // backends up at the end, as the first load balancer sees them
  int64_t stepped_us = 0;  // simulated time stepped check by check, windows as extended
  uint64_t stepped_checks = 0;
  int64_t repeated_us = 0;  // of which repeated period by period (below)
  uint64_t repeated_checks = 0;
  bool exhausted = false;  // Repeat::max_stepped_checks reached: the run is incomplete
};

// A steady busy state repeats. Every stream checks once per interval on a fixed grid and its
// checks take turns over the threads, so the arrivals of checks repeat with the period P =
// inter x (threads a backend's checks rotate over). When a whole period was stepped and every
// check in it will repeat (StepOne's CheckDone::repeats) and will go on repeating (no session
// expires, no restart, until the horizon), the next periods differ from it only by the queue:
// without jitter, a period that leaves every thread and core with the backlog it found
// repeats exactly; with jitter, two steady periods in a row, or one that ends no further
// behind than it began (the longest backlog of any thread or core), show the queue is not
// growing, and later periods are copies of the last one, a sample of the same stationary
// queue. Its
// counts and CPU then go into whole series steps (a step is a whole number of periods,
// SeriesStepUs) and its latencies into the histogram, as many times as periods fit.
struct Repeat {
  bool enabled = true;
  bool exact = true;  // no jitter: repeat only a period that left the queues as it found them
  // Stepping stops (WindowsRun::exhausted) after this many checks without a steady state.
  uint64_t max_stepped_checks = std::numeric_limits<uint64_t>::max();
};

// The first load balancer's streams in closed form, each alone; returns the backends up.
int RunClosedForm(const Model& md, SimSeries& series, Tally& tally);

// Every load balancer's streams: closed form up to each window, check by check through it
// (each check waiting for its checker thread and a server core, q), and on past its end until
// no thread or core is still busy with a queue, so the closed form that follows starts idle.
WindowsRun RunWindows(const Model& md, const std::vector<Window>& windows, Queues& q,
                      const Repeat& repeat, SimSeries& series, Tally& tally);

// The latency of the checks advanced in closed form: their service time and network wait.
void RecordClosedFormLatency(const Model& md, Tally& tally);

}  // namespace tlslab::sim
