// Per-step counts of a simulation: checks of each outcome and the CPU they cost per side,
// added one at a time or as whole arithmetic sequences (difference arrays: a sequence costs
// O(1) when the step is a multiple of its period, sim/engine.h).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace tlslab {

enum SimKind : int { kFresh, kRefused, kResumed, kNoHandshake, kConnectFailed, kSimKinds };

class SimSeries {
 public:
  static constexpr int kFailures = kSimKinds;  // failed checks of any reason
  static constexpr int kCheckerCpu = kSimKinds + 1;
  static constexpr int kServerCpu = kSimKinds + 2;
  static constexpr int kArrays = kSimKinds + 3;

  SimSeries(int64_t step_us, int64_t end_us);
  // One check at t of `kind` costing checker_us/server_us; failed adds it to the failures.
  void Point(int64_t t, int kind, double checker_us, double server_us, bool failed);
  // `count` checks at t0, t0+period, ... all of `kind`, at the given unit costs.
  void Run(int64_t t0, int64_t period, int64_t count, int kind, double checker_us,
           double server_us);
  // Before Finish: `n` steps from `from` each gain `per_step` (every array, per step).
  void AddSteps(size_t from, size_t n, const std::array<double, kArrays>& per_step);
  void Finish();  // prefix sums: after this, At() reads per-step values
  double At(int array, size_t step) const { return v_[array][step]; }
  // After Finish: CPU in a step that is no check's (the event loops' per-second cost).
  void AddCpu(size_t step, double checker_us, double server_us) {
    v_[kCheckerCpu][step] += checker_us;
    v_[kServerCpu][step] += server_us;
  }
  size_t steps() const { return steps_; }
  int64_t step_us() const { return step_; }
  size_t bytes() const { return kArrays * (steps_ + 1) * sizeof(double); }

 private:
  void Add(size_t from, size_t n, int kind, double per_step, double cc, double sc);
  int64_t step_;
  size_t steps_;
  std::array<std::vector<double>, kArrays> v_;
};

}  // namespace tlslab
