// The figures of a run (docs/design.md 8), computed from 1 Hz samples of the counters.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "lab/counters.h"
#include "lab/latency.h"

namespace tlslab {

// Cumulative counters at one instant; the time series is made of these.
struct Sample {
  double t_s = 0;  // seconds since the start of the run
  CheckerTotals checker;
  ServerTotals server;
  uint64_t checker_cpu_ns = 0;
  uint64_t server_cpu_ns = 0;
};

// One second of the time series: differences between consecutive samples.
struct SecondRow {
  double t_s = 0;
  double checks_per_s = 0;
  double key_rate_per_s = 0;  // full handshakes in that second (SslBackendKeyRate)
  double resumed_per_s = 0;
  double failures_per_s = 0;
  double checker_cpu_percent = 0;
  double server_cpu_percent = 0;
};

struct Figures {
  uint64_t checks_total = 0;
  uint64_t check_failures_total = 0;
  uint64_t full_handshakes_total = 0;
  uint64_t resumed_handshakes_total = 0;
  // When every backend's first check had ended (seconds since the start); absent when the run
  // ended first. The steady window starts at the first sample at or after it (the whole run
  // when absent).
  std::optional<double> first_round_s;
  double steady_from_s = 0;  // start of the steady window
  double steady_seconds = 0;
  uint64_t skipped_slots_total = 0;        // interval slots passed over by late or slow checks
  double key_rate_per_s = 0;               // mean over the steady window
  double max_key_rate_per_s = 0;           // highest one-second count over the whole run
  std::optional<double> resumption_ratio;  // resumed / handshakes in the steady window
  double checker_cpu_percent = 0;          // steady window, 100 = one core
  double server_cpu_percent = 0;
  // CPU per completed check in the steady window (checks include failures): what one check
  // costs each side, the figure the benchmarks compare with an in-memory handshake.
  std::optional<double> checker_cpu_us_per_check;
  std::optional<double> server_cpu_us_per_check;
  std::vector<SecondRow> series;
};

// The row of the series between two consecutive samples; nullopt when no time passed.
std::optional<SecondRow> SecondBetween(const Sample& a, const Sample& b);
// Whether that row counts toward max_key_rate_per_s: a partial last second (a run cut short)
// does not.
bool CountsTowardMax(const Sample& a, const Sample& b);

// `steady_from` is where the steady window begins: when the first round (the first, necessarily
// full, handshake of every backend) has completed; 0 for the whole run.
Figures ComputeFigures(const std::vector<Sample>& samples, double steady_from_s);

}  // namespace tlslab
