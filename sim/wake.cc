#include "sim/wake.h"

#include <algorithm>
#include <array>
#include <cmath>

namespace tlslab {
namespace {

constexpr double kMaxWakeShare = 0.9;

struct JointFit {
  double per_second = 0, full = 0, resumed = 0, squared_error = 0;
};

// p, C of full checks and C of resumed ones with s known, by least squares of the relative
// error (each run weighs 1 / cpu^2: a run at 10 checks/s counts as much as one at 2,000, as the
// simulator's figures are judged relative to measured ones): cpu = p + C x, x = r (1 - s u),
// u = cpu / 1e6 (the measured busy share). One p for both kinds: a loop's timers do not depend
// on what its checks do (fitted apart, noise made one loop's p three times the other's, and a
// simulated backend cost less with full handshakes than with resumed ones). A p below 0 is 0
// (each C then through the origin), as a loop cannot spend less than nothing between checks.
JointFit Joint(const std::vector<RatePoint>& full, const std::vector<RatePoint>& resumed,
               double s) {
  auto x_of = [s](const RatePoint& q) { return q.rate * (1.0 - s * q.cpu / 1e6); };
  // Normal equations of (p, C_full, C_resumed): rows (1, x, 0) and (1, 0, x).
  std::array<std::array<double, 4>, 3> a{};
  std::array<double, 2> sxx{}, sxy{};
  auto add = [&](const std::vector<RatePoint>& runs, size_t kind) {
    for (const RatePoint& q : runs) {
      if (q.cpu <= 0) continue;
      const double w = 1.0 / (q.cpu * q.cpu), x = x_of(q);
      a[0][0] += w;
      a[0][1 + kind] += w * x;
      a[1 + kind][0] += w * x;
      a[1 + kind][1 + kind] += w * x * x;
      a[0][3] += w * q.cpu;
      a[1 + kind][3] += w * x * q.cpu;
      sxx[kind] += w * x * x;
      sxy[kind] += w * x * q.cpu;
    }
  };
  add(full, 0);
  add(resumed, 1);
  JointFit f;
  bool solved = true;
  for (size_t col = 0; col < 3 && solved; ++col) {  // Gauss-Jordan with partial pivoting
    size_t pivot = col;
    for (size_t r = col + 1; r < 3; ++r) {
      if (std::fabs(a[r][col]) > std::fabs(a[pivot][col])) pivot = r;
    }
    if (std::fabs(a[pivot][col]) < 1e-300) {
      solved = false;
      break;
    }
    std::swap(a[col], a[pivot]);
    for (size_t r = 0; r < 3; ++r) {
      if (r == col) continue;
      const double m = a[r][col] / a[col][col];
      for (size_t c = col; c < 4; ++c) a[r][c] -= m * a[col][c];
    }
  }
  if (solved) {
    f.per_second = a[0][3] / a[0][0];
    f.full = a[1][3] / a[1][1];
    f.resumed = a[2][3] / a[2][2];
  }
  if (!solved || !(f.per_second >= 0 && f.full >= 0 && f.resumed >= 0)) {
    f.per_second = 0;
    f.full = sxx[0] > 0 ? std::max(0.0, sxy[0] / sxx[0]) : 0.0;
    f.resumed = sxx[1] > 0 ? std::max(0.0, sxy[1] / sxx[1]) : 0.0;
  }
  auto error = [&](const std::vector<RatePoint>& runs, double cost) {
    for (const RatePoint& q : runs) {
      if (q.cpu <= 0) continue;
      const double e = (q.cpu - (f.per_second + cost * x_of(q))) / q.cpu;
      f.squared_error += e * e;
    }
  };
  error(full, f.full);
  error(resumed, f.resumed);
  return f;
}

}  // namespace

double BusyShare(double per_second_us, double rate, double cost_us, double wake_share) {
  const double work = (per_second_us + rate * cost_us) / 1e6;
  return std::min(1.0, work / (1.0 + wake_share * rate * cost_us / 1e6));
}

WakeFit FitWake(const std::vector<RatePoint>& full, const std::vector<RatePoint>& resumed) {
  // s by a search over [0, 0.9] in steps of 0.01: the one whose fit is best. Three runs of
  // full checks or more: with two, the runs cannot show a bend.
  double share = 0;
  if (full.size() >= 3) {
    double best = Joint(full, resumed, 0.0).squared_error;
    for (int i = 1; i <= static_cast<int>(kMaxWakeShare * 100 + 0.5); ++i) {
      const double s = i / 100.0;
      const double e = Joint(full, resumed, s).squared_error;
      if (e < best) {
        best = e;
        share = s;
      }
    }
  }
  const JointFit j = Joint(full, resumed, share);
  WakeFit f;
  f.per_second_full = f.per_second = j.per_second;
  f.full = j.full;
  f.resumed = j.resumed;
  f.wake_share = share;
  return f;
}

}  // namespace tlslab
