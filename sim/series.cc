#include "sim/series.h"

#include <algorithm>

namespace tlslab {

SimSeries::SimSeries(int64_t step_us, int64_t end_us)
    : step_(step_us), steps_(static_cast<size_t>((end_us + step_us - 1) / step_us)) {
  for (auto& a : v_) a.assign(steps_ + 1, 0.0);
}

void SimSeries::Add(size_t from, size_t n, int kind, double per_step, double cc, double sc) {
  if (n == 0 || per_step == 0) return;
  const size_t to = std::min(from + n, steps_);
  if (from >= to) return;
  v_[kind][from] += per_step;
  v_[kind][to] -= per_step;
  v_[kCheckerCpu][from] += per_step * cc;
  v_[kCheckerCpu][to] -= per_step * cc;
  v_[kServerCpu][from] += per_step * sc;
  v_[kServerCpu][to] -= per_step * sc;
}

void SimSeries::Point(int64_t t, int kind, double checker_us, double server_us, bool failed) {
  const size_t b = static_cast<size_t>(t / step_);
  Add(b, 1, kind, 1.0, checker_us, server_us);
  if (failed && b < steps_) {
    v_[kFailures][b] += 1;
    v_[kFailures][b + 1] -= 1;
  }
}

void SimSeries::Run(int64_t t0, int64_t period, int64_t count, int kind, double checker_us,
                    double server_us) {
  if (count <= 0) return;
  if (step_ % period != 0) {  // no common grid: one by one (short runs only, SeriesStepUs)
    for (int64_t i = 0; i < count; ++i) Point(t0 + i * period, kind, checker_us, server_us, false);
    return;
  }
  // The first step holds the points before its end; every later step is full (step/period
  // points: the phase of the sequence is the same in every step) but the last.
  const size_t b0 = static_cast<size_t>(t0 / step_);
  const int64_t first_end = static_cast<int64_t>(b0 + 1) * step_;
  const int64_t c0 = std::min(count, (first_end - t0 + period - 1) / period);
  Add(b0, 1, kind, static_cast<double>(c0), checker_us, server_us);
  const int64_t rest = count - c0;
  if (rest == 0) return;
  const int64_t per = step_ / period;
  const size_t full = static_cast<size_t>(rest / per);
  Add(b0 + 1, full, kind, static_cast<double>(per), checker_us, server_us);
  Add(b0 + 1 + full, 1, kind, static_cast<double>(rest % per), checker_us, server_us);
}

void SimSeries::AddSteps(size_t from, size_t n, const std::array<double, kArrays>& per_step) {
  const size_t to = std::min(from + n, steps_);
  if (from >= to) return;
  for (int a = 0; a < kArrays; ++a) {
    v_[a][from] += per_step[static_cast<size_t>(a)];
    v_[a][to] -= per_step[static_cast<size_t>(a)];
  }
}

void SimSeries::Finish() {
  for (auto& a : v_) {
    for (size_t i = 1; i <= steps_; ++i) a[i] += a[i - 1];
  }
}

}  // namespace tlslab
