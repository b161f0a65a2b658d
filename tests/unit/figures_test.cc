// ComputeFigures over synthetic 1 Hz samples whose figures are known by construction.
#include "lab/figures.h"

#include <gtest/gtest.h>

#include <vector>

namespace tlslab {
namespace {

// A run's shape, one number per second: what the checker and the server did in that second.
struct Second {
  uint64_t full = 0;
  uint64_t resumed = 0;
  uint64_t failures = 0;
  uint64_t checker_cpu_ns = 0;
  uint64_t server_cpu_ns = 0;
};

// Cumulative samples at t = 0, 1, 2, ... from per-second increments.
std::vector<Sample> Accumulate(const std::vector<Second>& seconds) {
  std::vector<Sample> samples(1);
  for (const Second& s : seconds) {
    Sample next = samples.back();
    next.t_s += 1.0;
    next.checker.full_handshakes += s.full;
    next.checker.resumed_handshakes += s.resumed;
    next.checker.checks += s.full + s.resumed;
    next.checker.check_failures += s.failures;
    next.checker_cpu_ns += s.checker_cpu_ns;
    next.server_cpu_ns += s.server_cpu_ns;
    samples.push_back(next);
  }
  return samples;
}

TEST(ComputeFiguresTest, StrictServerEveryCheckIsAFullHandshake) {
  // 600 backends, inter 2 s, none resumed: 600 full handshakes per 2 s = 300 per second. The
  // first second holds a burst (the spread is imperfect); the steady window starts at 2 s.
  std::vector<Second> seconds;
  seconds.push_back({.full = 450, .checker_cpu_ns = 900'000'000});
  seconds.push_back({.full = 150, .checker_cpu_ns = 300'000'000});
  for (int i = 0; i < 8; ++i) {
    seconds.push_back({.full = 300, .checker_cpu_ns = 600'000'000, .server_cpu_ns = 1'500'000'000});
  }
  const Figures f = ComputeFigures(Accumulate(seconds), 2.0);
  EXPECT_EQ(f.full_handshakes_total, 450u + 150u + 8u * 300u);
  EXPECT_EQ(f.checks_total, f.full_handshakes_total);
  EXPECT_EQ(f.resumed_handshakes_total, 0u);
  EXPECT_DOUBLE_EQ(f.steady_from_s, 2.0);
  EXPECT_DOUBLE_EQ(f.steady_seconds, 8.0);
  EXPECT_DOUBLE_EQ(f.key_rate_per_s, 300.0) << "SslBackendKeyRate: backends / inter";
  EXPECT_DOUBLE_EQ(f.max_key_rate_per_s, 450.0) << "the burst of the first second";
  ASSERT_TRUE(f.resumption_ratio.has_value());
  EXPECT_DOUBLE_EQ(*f.resumption_ratio, 0.0);
  // cpu_ns / seconds / 1e7: 0.6 s of CPU per second is 60 % of one core.
  EXPECT_DOUBLE_EQ(f.checker_cpu_percent, 60.0);
  EXPECT_DOUBLE_EQ(f.server_cpu_percent, 150.0) << "100 = one core; two busy cores exceed it";
  // 0.6 s of checker CPU for 300 checks a second: 2 ms per check; 1.5 s of server CPU: 5 ms.
  ASSERT_TRUE(f.checker_cpu_us_per_check.has_value());
  EXPECT_DOUBLE_EQ(*f.checker_cpu_us_per_check, 2000.0);
  ASSERT_TRUE(f.server_cpu_us_per_check.has_value());
  EXPECT_DOUBLE_EQ(*f.server_cpu_us_per_check, 5000.0);
  ASSERT_EQ(f.series.size(), seconds.size());
  EXPECT_DOUBLE_EQ(f.series[0].key_rate_per_s, 450.0);
  EXPECT_DOUBLE_EQ(f.series[0].checker_cpu_percent, 90.0);
  EXPECT_DOUBLE_EQ(f.series[5].key_rate_per_s, 300.0);
  EXPECT_DOUBLE_EQ(f.series[5].t_s, 6.0);
}

TEST(ComputeFiguresTest, LenientServerMostChecksResume) {
  // After the first interval only 1 in 4 handshakes is full.
  std::vector<Second> seconds;
  seconds.push_back({.full = 600});
  seconds.push_back({.full = 0});
  for (int i = 0; i < 10; ++i) seconds.push_back({.full = 100, .resumed = 300, .failures = 2});
  const Figures f = ComputeFigures(Accumulate(seconds), 2.0);
  EXPECT_DOUBLE_EQ(f.key_rate_per_s, 100.0);
  EXPECT_DOUBLE_EQ(f.max_key_rate_per_s, 600.0);
  ASSERT_TRUE(f.resumption_ratio.has_value());
  EXPECT_DOUBLE_EQ(*f.resumption_ratio, 0.75);
  EXPECT_EQ(f.check_failures_total, 20u);
  EXPECT_EQ(f.resumed_handshakes_total, 3000u);
  EXPECT_DOUBLE_EQ(f.series.back().resumed_per_s, 300.0);
  EXPECT_DOUBLE_EQ(f.series.back().failures_per_s, 2.0);
  EXPECT_DOUBLE_EQ(f.series.back().checks_per_s, 400.0);
}

TEST(ComputeFiguresTest, PartialLastSecondDoesNotSetTheMaximum) {
  std::vector<Sample> samples = Accumulate({{.full = 100}, {.full = 100}, {.full = 100}});
  Sample cut = samples.back();  // a run interrupted 0.2 s later, with a burst in it
  cut.t_s += 0.2;
  cut.checker.full_handshakes += 60;  // 300 per second if extrapolated
  samples.push_back(cut);
  const Figures f = ComputeFigures(samples, 1.0);
  EXPECT_DOUBLE_EQ(f.max_key_rate_per_s, 100.0);
  EXPECT_NEAR(f.series.back().key_rate_per_s, 300.0, 1e-6) << "the series still shows it";
}

TEST(ComputeFiguresTest, RunShorterThanTheWarmUpUsesTheWholeRun) {
  const Figures f = ComputeFigures(Accumulate({{.full = 50}, {.full = 30}}), 10.0);
  EXPECT_DOUBLE_EQ(f.steady_from_s, 0.0);
  EXPECT_DOUBLE_EQ(f.steady_seconds, 2.0);
  EXPECT_DOUBLE_EQ(f.key_rate_per_s, 40.0);
}

TEST(ComputeFiguresTest, NoHandshakesNoRatio) {
  const Figures f = ComputeFigures(Accumulate({{}, {}, {}}), 1.0);
  EXPECT_FALSE(f.resumption_ratio.has_value()) << "0/0 is not a ratio";
  EXPECT_FALSE(f.checker_cpu_us_per_check.has_value()) << "no checks, no cost per check";
  EXPECT_FALSE(f.server_cpu_us_per_check.has_value());
  EXPECT_DOUBLE_EQ(f.key_rate_per_s, 0.0);
}

TEST(ComputeFiguresTest, NoSamplesNoFigures) {
  const Figures f = ComputeFigures({}, 2.0);
  EXPECT_EQ(f.checks_total, 0u);
  EXPECT_TRUE(f.series.empty());
  EXPECT_FALSE(f.resumption_ratio.has_value());
}

}  // namespace
}  // namespace tlslab
