#include "lab/figures.h"

namespace tlslab {
namespace {
double Percent(uint64_t cpu_ns, double seconds) {
  return seconds > 0 ? static_cast<double>(cpu_ns) / 1e9 / seconds * 100.0 : 0.0;
}
}  // namespace

std::optional<SecondRow> SecondBetween(const Sample& a, const Sample& b) {
  const double dt = b.t_s - a.t_s;
  if (dt <= 0) return std::nullopt;
  SecondRow row;
  row.t_s = b.t_s;
  row.checks_per_s = static_cast<double>(b.checker.checks - a.checker.checks) / dt;
  row.key_rate_per_s =
      static_cast<double>(b.checker.full_handshakes - a.checker.full_handshakes) / dt;
  row.resumed_per_s =
      static_cast<double>(b.checker.resumed_handshakes - a.checker.resumed_handshakes) / dt;
  row.failures_per_s =
      static_cast<double>(b.checker.check_failures - a.checker.check_failures) / dt;
  row.checker_cpu_percent = Percent(b.checker_cpu_ns - a.checker_cpu_ns, dt);
  row.server_cpu_percent = Percent(b.server_cpu_ns - a.server_cpu_ns, dt);
  return row;
}

bool CountsTowardMax(const Sample& a, const Sample& b) { return b.t_s - a.t_s >= 0.5; }

Figures ComputeFigures(const std::vector<Sample>& samples, double steady_from_s) {
  Figures f;
  if (samples.empty()) return f;
  const Sample& last = samples.back();
  f.checks_total = last.checker.checks;
  f.check_failures_total = last.checker.check_failures;
  f.full_handshakes_total = last.checker.full_handshakes;
  f.resumed_handshakes_total = last.checker.resumed_handshakes;

  for (size_t i = 1; i < samples.size(); ++i) {
    const std::optional<SecondRow> row = SecondBetween(samples[i - 1], samples[i]);
    if (!row) continue;
    if (CountsTowardMax(samples[i - 1], samples[i]) && row->key_rate_per_s > f.max_key_rate_per_s) {
      f.max_key_rate_per_s = row->key_rate_per_s;
    }
    f.series.push_back(*row);
  }

  // The steady window: from the first sample at or after steady_from_s to the last sample.
  const Sample* from = nullptr;
  for (const Sample& s : samples) {
    if (s.t_s >= steady_from_s) {
      from = &s;
      break;
    }
  }
  if (from == nullptr || from == &last) from = &samples.front();  // run shorter than warm-up
  f.steady_from_s = from->t_s;
  f.steady_seconds = last.t_s - from->t_s;
  if (f.steady_seconds <= 0) return f;
  const uint64_t full = last.checker.full_handshakes - from->checker.full_handshakes;
  const uint64_t resumed = last.checker.resumed_handshakes - from->checker.resumed_handshakes;
  f.key_rate_per_s = static_cast<double>(full) / f.steady_seconds;
  if (full + resumed > 0) {
    f.resumption_ratio = static_cast<double>(resumed) / static_cast<double>(full + resumed);
  }
  f.checker_cpu_percent = Percent(last.checker_cpu_ns - from->checker_cpu_ns, f.steady_seconds);
  f.server_cpu_percent = Percent(last.server_cpu_ns - from->server_cpu_ns, f.steady_seconds);
  const uint64_t checks = last.checker.checks - from->checker.checks;
  if (checks > 0) {
    const double n = static_cast<double>(checks);
    f.checker_cpu_us_per_check =
        static_cast<double>(last.checker_cpu_ns - from->checker_cpu_ns) / 1000.0 / n;
    f.server_cpu_us_per_check =
        static_cast<double>(last.server_cpu_ns - from->server_cpu_ns) / 1000.0 / n;
  }
  return f;
}

}  // namespace tlslab
