// The wake-up model of an event loop's CPU against its check rate (sim/wake.h): the fit finds
// the parameters that made a set of runs, the busy share reaches 1 at the knee, and the
// simulator's per-check costs shrink with it (sim/model.cc CostsPerCheck).
#include "sim/wake.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "lab/config.h"
#include "sim/costs.h"
#include "sim/model.h"

namespace tlslab {
namespace {

// The runs a loop with these parameters would show when asked for these rates (CPU us per
// second): past the knee it does what it can, the knee's rate, busy all the time.
std::vector<RatePoint> Runs(double p, double c, double s, const std::vector<double>& rates) {
  std::vector<RatePoint> out;
  const double knee = (1e6 - p) / (c * (1 - s));
  for (double r : rates)
    out.push_back({std::min(r, knee), BusyShare(p, std::min(r, knee), c, s) * 1e6});
  return out;
}

TEST(WakeTest, BusyShareReachesOneAtTheKnee) {
  // p = 2% of a core, C = 1,000 us, s = 0.4: the knee at (1 - 0.02) / (600 us) = 1,633/s.
  EXPECT_NEAR(BusyShare(20000, 100, 1000, 0.4), (0.02 + 0.1) / (1 + 0.04), 1e-12);
  EXPECT_NEAR(BusyShare(20000, 980000.0 / 600, 1000, 0.4), 1.0, 1e-9);
  EXPECT_EQ(BusyShare(20000, 5000, 1000, 0.4), 1.0);  // past it: busy all the time, no more
  EXPECT_NEAR(BusyShare(20000, 500, 1000, 0.0), 0.52, 1e-12);  // no wake share: a line
}

TEST(WakeTest, TheFitFindsTheParametersOfItsRuns) {
  // As calibrate runs them: full checks at 10, 100, 400, 900 and near the knee; resumed ones
  // at the first four. One loop: one p and one s for both kinds.
  const auto full = Runs(12000, 1100, 0.45, {10, 100, 400, 900, 1700});
  const auto resumed = Runs(12000, 250, 0.45, {10, 100, 400, 900});
  const WakeFit f = FitWake(full, resumed);
  EXPECT_NEAR(f.wake_share, 0.45, 0.011);
  EXPECT_NEAR(f.full, 1100, 1100 * 0.02);
  EXPECT_NEAR(f.resumed, 250, 250 * 0.02);
  EXPECT_NEAR(f.per_second, 12000, 1200);
  EXPECT_EQ(f.per_second_full, f.per_second);
  // Runs on straight lines show no bend: s = 0 and the lines themselves (the full one's knee
  // at 898/s).
  const WakeFit line = FitWake(Runs(12000, 1100, 0, {10, 100, 300, 600, 1700}),
                               Runs(12000, 250, 0, {10, 100, 400, 900}));
  EXPECT_EQ(line.wake_share, 0.0);
  EXPECT_NEAR(line.full, 1100, 1e-6);
  EXPECT_NEAR(line.resumed, 250, 1e-6);
  EXPECT_NEAR(line.per_second, 12000, 1e-3);
  // Two runs of full checks cannot show a bend: lines through them.
  EXPECT_EQ(FitWake(Runs(12000, 1100, 0.45, {100, 400}), resumed).wake_share, 0.0);
}

TEST(WakeTest, NoiseDoesNotMakeTheFitNegative) {
  // A run above its neighbours' line and an intercept that would fall below 0: p is 0, C > 0,
  // s within [0, 0.9].
  const std::vector<RatePoint> full = {{100, 60000}, {400, 300000}, {900, 760000}, {1500, 990000}};
  const std::vector<RatePoint> resumed = {{100, 500}, {400, 90000}, {900, 200000}};
  const WakeFit f = FitWake(full, resumed);
  EXPECT_GE(f.wake_share, 0.0);
  EXPECT_LE(f.wake_share, 0.9);
  EXPECT_EQ(f.per_second, 0.0);
  EXPECT_EQ(f.per_second_full, 0.0);
  EXPECT_GT(f.full, 0.0);
  EXPECT_GT(f.resumed, 0.0);
}

// A cost set whose sides cost a round 500 us per check of the broken pair (TLS 1.2, quiet-reset:
// no close_notify, connect check), p = 0.
CostSet Costs(double wake_share) {
  nlohmann::json side = {
      {"full", 400.0},
      {"resumed",
       {{"session-id", 40.0}, {"ticket", 40.0}, {"psk-stateless", 40.0}, {"psk-stateful", 40.0}}},
      {"refused", 0.0},
      {"floor", 100.0},
      {"floor_resumed", 60.0},
      {"http", 0.0},
      {"close_notify", 0.0},
      {"per_second", 0.0},
      {"per_second_full", 0.0},
      {"wake_share", wake_share}};
  nlohmann::json version = {{"checker", side}, {"server", side}};
  return CostsFromJson({{"format", "tlslab-costs"},
                        {"version", kCostFormatVersion},
                        {"costs", {{"rsa2048", {{"1.2", version}, {"1.3", version}}}}}},
                       "unit-test");
}

TEST(WakeTest, ABusyLoopPaysLessPerCheck) {
  Config c;
  c.tls.version = TlsVersion::kTls12;
  c.tls.key = KeyType::kRsa2048;
  c.server.profile = "jdk8-sslengine";
  c.checker.profile = "haproxy-1.7.3";
  c.checker.check = CheckKind::kConnect;
  Validate(c);
  const SessionModel m = DeriveSessionModel(c);
  ASSERT_TRUE(m.removed_after_check);  // every check a full handshake: C = 500 us
  const CheckCostPair line = CostsPerCheck(m, Costs(0.0), c.tls.key, 1000, 100);
  EXPECT_DOUBLE_EQ(line.checker.full_refused, 500.0);
  EXPECT_DOUBLE_EQ(line.server.full_refused, 500.0);
  // s = 0.5 at 1,000/s: u = 0.5 / 1.25 = 0.4, a check costs 1 - 0.2 of C; at 100/s,
  // u = 0.05 / 1.025; past the knee (1 / 250 us = 4,000/s) half of C.
  const CheckCostPair wake = CostsPerCheck(m, Costs(0.5), c.tls.key, 1000, 100);
  EXPECT_DOUBLE_EQ(wake.checker.full_refused, 500.0 * 0.8);
  EXPECT_DOUBLE_EQ(wake.server.full_refused, 500.0 * (1 - 0.5 * 0.05 / 1.025));
  EXPECT_DOUBLE_EQ(wake.checker.resumed, 100.0 * 0.8);  // the same share of every kind
  EXPECT_DOUBLE_EQ(CostsPerCheck(m, Costs(0.5), c.tls.key, 6000, 6000).checker.full_refused, 250.0);
}

}  // namespace
}  // namespace tlslab
