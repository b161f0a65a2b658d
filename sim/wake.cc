#include "sim/wake.h"

#include <algorithm>
#include <tuple>

namespace tlslab {
namespace {

constexpr double kMaxWakeShare = 0.9;

struct LineFit {
  double per_second = 0, cost = 0, squared_error = 0;
};

// p and C of one kind with s known, by least squares of the relative error (each run weighs
// 1 / cpu^2: a run at 100 checks/s counts as much as one at 2,000, as the simulator's figures
// are judged relative to measured ones): cpu = p + C x, x = r (1 - s u), u = cpu / 1e6 (the
// measured busy share). An intercept below 0 is 0 (the slope then through the origin), as a
// loop cannot spend less than nothing between checks.
LineFit Line(const std::vector<RatePoint>& runs, double s) {
  double sw = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (const RatePoint& q : runs) {
    if (q.cpu <= 0) continue;
    const double w = 1.0 / (q.cpu * q.cpu);
    const double x = q.rate * (1.0 - s * q.cpu / 1e6);
    sw += w;
    sx += w * x;
    sy += w * q.cpu;
    sxx += w * x * x;
    sxy += w * x * q.cpu;
  }
  LineFit f;
  const double det = sw * sxx - sx * sx;
  const bool solvable = det > 1e-9 * sw * sxx;
  if (solvable) {
    f.cost = (sw * sxy - sx * sy) / det;
    f.per_second = (sy - f.cost * sx) / sw;
  }
  if (!solvable || f.per_second < 0 || f.cost < 0) {
    f.per_second = 0;
    f.cost = sxx > 0 ? std::max(0.0, sxy / sxx) : 0.0;
  }
  for (const RatePoint& q : runs) {
    if (q.cpu <= 0) continue;
    const double e = (q.cpu - (f.per_second + f.cost * q.rate * (1.0 - s * q.cpu / 1e6))) / q.cpu;
    f.squared_error += e * e;
  }
  return f;
}

}  // namespace

double BusyShare(double per_second_us, double rate, double cost_us, double wake_share) {
  const double work = (per_second_us + rate * cost_us) / 1e6;
  return std::min(1.0, work / (1.0 + wake_share * rate * cost_us / 1e6));
}

WakeFit FitWake(const std::vector<RatePoint>& full, const std::vector<RatePoint>& resumed) {
  WakeFit f;
  // s by a search over [0, 0.9] in steps of 0.01: the one whose line fits the full runs best.
  // Three runs or more: with two, any s fits exactly and the runs cannot show a bend.
  if (full.size() >= 3) {
    double best = Line(full, 0.0).squared_error;
    for (int i = 1; i <= static_cast<int>(kMaxWakeShare * 100 + 0.5); ++i) {
      const double s = i / 100.0;
      const double e = Line(full, s).squared_error;
      if (e < best) {
        best = e;
        f.wake_share = s;
      }
    }
  }
  const LineFit a = Line(full, f.wake_share), b = Line(resumed, f.wake_share);
  std::tie(f.per_second_full, f.full) = std::make_pair(a.per_second, a.cost);
  std::tie(f.per_second, f.resumed) = std::make_pair(b.per_second, b.cost);
  return f;
}

}  // namespace tlslab
