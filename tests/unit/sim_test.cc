// The simulator (sim/engine.h): the closed form equals check-by-check stepping wherever there
// is no queueing; determinism by seed; session expiry, restarts, cache thrash; cost files.
#include <gtest/gtest.h>

#include <fstream>

#include "lab/testing/usage_error.h"
#include "sim/costs.h"
#include "sim/engine.h"

namespace tlslab {
namespace {

// Costs small enough that nothing queues at the scales below, distinct per operation so that
// a wrong outcome shows in the CPU figures too.
nlohmann::json SmallCostsJson(double per_second) {
  nlohmann::json side = {
      {"full", 100.0},
      {"resumed",
       {{"session-id", 10.0}, {"ticket", 11.0}, {"psk-stateless", 30.0}, {"psk-stateful", 29.0}}},
      {"refused", 5.0},
      {"floor", 20.0},
      {"http", 3.0},
      {"close_notify", 1.0},
      {"per_second", per_second},
      {"per_second_full", per_second},
      {"wake_share", 0.0}};
  nlohmann::json version = {{"checker", side}, {"server", side}};
  return {{"format", "tlslab-costs"},
          {"version", kCostFormatVersion},
          {"measured", {{"where", "unit test"}}},
          {"costs", {{"rsa2048", {{"1.2", version}, {"1.3", version}}}}}};
}

CostSet SmallCosts() { return CostsFromJson(SmallCostsJson(500.0), "unit-test"); }

Config Base() {
  Config c;
  c.simulation.enabled = true;
  c.server.backends = 40;
  c.checker.inter = Millis(1000);
  c.duration = Millis(60000);
  return c;
}

SimResult SimRun(const Config& c, SimOptions::Engine engine) {
  Validate(c);
  SimOptions o;
  o.engine = engine;
  o.jitter = 0;
  return Simulate(c, SmallCosts(), o);
}

// The counts, CPU (within `cpu_tolerance` percent of a core) and every series step of two
// simulations of the same run.
void ExpectSameFigures(const SimResult& a, const SimResult& b, double cpu_tolerance) {
  const Figures& fa = a.report.figures;
  const Figures& fb = b.report.figures;
  EXPECT_EQ(fa.checks_total, fb.checks_total);
  EXPECT_EQ(fa.full_handshakes_total, fb.full_handshakes_total);
  EXPECT_EQ(fa.resumed_handshakes_total, fb.resumed_handshakes_total);
  EXPECT_EQ(fa.check_failures_total, fb.check_failures_total);
  EXPECT_NEAR(fa.checker_cpu_percent, fb.checker_cpu_percent, cpu_tolerance);
  EXPECT_NEAR(fa.server_cpu_percent, fb.server_cpu_percent, cpu_tolerance);
  ASSERT_EQ(fa.series.size(), fb.series.size());
  for (size_t i = 0; i < fa.series.size(); ++i) {
    EXPECT_NEAR(fa.series[i].key_rate_per_s, fb.series[i].key_rate_per_s, cpu_tolerance)
        << "step " << i;
    EXPECT_NEAR(fa.series[i].checks_per_s, fb.series[i].checks_per_s, cpu_tolerance)
        << "step " << i;
  }
  EXPECT_EQ(a.report.backends_up, b.report.backends_up);
}

void ExpectSame(const Config& c) {
  const SimResult a = SimRun(c, SimOptions::Engine::kClosedForm);
  const SimResult b = SimRun(c, SimOptions::Engine::kStepped);
  EXPECT_EQ(a.simulation["engine"], "closed-form");
  EXPECT_EQ(b.simulation["engine"], "stepped");
  ExpectSameFigures(a, b, 1e-9);
}

TEST(SimClosedFormTest, BrokenPairEveryCheckFull) {
  Config c = Base();
  c.server.profile = "jdk8-sslengine";
  c.checker.profile = "haproxy-1.7.3";
  c.tls.version = TlsVersion::kTls12;
  ExpectSame(c);
  const SimResult r = SimRun(c, SimOptions::Engine::kClosedForm);
  EXPECT_DOUBLE_EQ(r.report.figures.key_rate_per_s, 40.0);  // backends / inter
  EXPECT_EQ(r.report.figures.resumed_handshakes_total, 0u);
}

TEST(SimClosedFormTest, FixedPairResumesEveryCheckButTheFirst) {
  Config c = Base();
  c.server.profile = "jdk8-sslengine";
  c.checker.profile = "haproxy-1.7.4";
  c.tls.version = TlsVersion::kTls12;
  ExpectSame(c);
  const SimResult r = SimRun(c, SimOptions::Engine::kClosedForm);
  EXPECT_EQ(r.report.figures.full_handshakes_total, 40u);
  EXPECT_DOUBLE_EQ(r.report.figures.key_rate_per_s, 0.0);
}

// HAProxy's frontend (haproxy-frontend): close_notify then RST before any request counts as
// a reset (docs/real-stacks.md 4.8), so a notify-reset connect check loses its session; an
// http check's request is answered first and keeps it.
TEST(SimClosedFormTest, NotifyResetBeforeARequestDropsAtTheHaproxyFrontend) {
  for (const CheckKind kind : {CheckKind::kConnect, CheckKind::kHttp}) {
    Config c = Base();
    c.server.profile = "haproxy-frontend";
    c.checker.profile = "haproxy-2.6";
    c.checker.check = kind;
    c.checker.close = CloseMode::kNotifyReset;
    c.tls.version = TlsVersion::kTls12;
    c.tls.tickets = false;  // session IDs: the cache, which the fate reaches
    ExpectSame(c);
    const SimResult r = SimRun(c, SimOptions::Engine::kClosedForm);
    EXPECT_DOUBLE_EQ(r.report.figures.key_rate_per_s, kind == CheckKind::kConnect ? 40.0 : 0.0)
        << (kind == CheckKind::kConnect ? "connect" : "http");
  }
}

TEST(SimClosedFormTest, Tls12SessionDiesTimeoutAfterItsFullHandshake) {
  Config c = Base();
  c.server.profile = "lenient";
  c.checker.profile = "haproxy-1.7.4";
  c.tls.version = TlsVersion::kTls12;
  c.server.session_timeout = Millis(10000);
  ExpectSame(c);
  // A full handshake every 10 checks per backend: 40 backends x 60 s / 10 s.
  EXPECT_EQ(SimRun(c, SimOptions::Engine::kClosedForm).report.figures.full_handshakes_total, 240u);
}

TEST(SimClosedFormTest, Tls13RenewsOnResumeUnlessASlotWaitsLongerThanTheLifetime) {
  Config c = Base();
  c.server.profile = "lenient";
  c.checker.profile = "haproxy-2.6";
  c.simulation.checker_threads = 4;  // a session per thread, each used every 4 s
  c.server.session_timeout = Millis(5000);
  ExpectSame(c);
  EXPECT_EQ(SimRun(c, SimOptions::Engine::kClosedForm).report.figures.full_handshakes_total,
            40u * 4);
  c.server.session_timeout = Millis(3000);  // shorter than a slot's period: always full
  ExpectSame(c);
  EXPECT_EQ(SimRun(c, SimOptions::Engine::kClosedForm).report.figures.resumed_handshakes_total, 0u);
}

TEST(SimClosedFormTest, RestartsWithDowntimeFallAndRise) {
  Config c = Base();
  c.server.profile = "lenient";
  c.checker.profile = "haproxy-1.7.4";
  c.checker.fastinter = Millis(500);
  c.checker.downinter = Millis(2000);
  c.simulation.restart_every = Millis(20000);
  c.simulation.restart_share = 0.5;
  c.simulation.restart_downtime = Millis(5000);
  ExpectSame(c);
  const SimResult r = SimRun(c, SimOptions::Engine::kClosedForm);
  EXPECT_GT(r.report.failures_by_reason[static_cast<size_t>(CheckFailure::kConnect)], 0u);
  EXPECT_GT(r.report.figures.full_handshakes_total, 40u);  // caches lost at each restart
}

TEST(SimClosedFormTest, KeepModeHandshakesOncePerConnection) {
  Config c = Base();
  c.checker.profile = "persistent";
  c.simulation.restart_every = Millis(30000);
  ExpectSame(c);
  EXPECT_EQ(SimRun(c, SimOptions::Engine::kClosedForm).report.figures.full_handshakes_total, 80u);
}

TEST(SimClosedFormTest, SmallCacheThrashesUnderManyCheckers) {
  Config c = Base();
  c.server.profile = "lenient";
  c.checker.profile = "haproxy-1.7.4";
  c.tls.version = TlsVersion::kTls12;
  c.tls.tickets = false;  // session IDs: the cache decides
  c.simulation.checkers = 3;
  c.server.cache_size = 2;
  const SimResult r = SimRun(c, SimOptions::Engine::kClosedForm);
  EXPECT_TRUE(r.simulation["cache_thrashes"].get<bool>());
  EXPECT_EQ(r.report.figures.resumed_handshakes_total, 0u);
  c.server.cache_size = 3;
  EXPECT_EQ(SimRun(c, SimOptions::Engine::kClosedForm).report.figures.full_handshakes_total, 40u);
}

TEST(SimSteppedTest, SaturationQueuesAndIsDeterministicBySeed) {
  Config c = Base();
  c.server.profile = "jdk8-sslengine";
  c.checker.profile = "haproxy-1.7.3";
  c.server.backends = 10000;  // 10,000 checks/s at 128 us: the checker thread is saturated
  c.duration = Millis(20000);
  Validate(c);
  SimOptions o;
  const SimResult a = Simulate(c, SmallCosts(), o);
  const SimResult b = Simulate(c, SmallCosts(), o);
  EXPECT_EQ(a.simulation["engine"], "stepped");
  EXPECT_EQ(a.report.figures.checks_total, b.report.figures.checks_total);
  EXPECT_EQ(a.report.latency.Quantile(0.99), b.report.latency.Quantile(0.99));
  // Checks fall behind their schedule: fewer than backends / inter per second.
  EXPECT_LT(a.report.figures.checks_total, 10000u * 20);
  // Late checks are due one interval after they end (HAProxy's rule, clients/check_actor.cc):
  // the overload lengthens every backend's period instead of queueing checks past their
  // timeout, so the thread settles at its capacity (about 1 / 128 us) and none fails.
  EXPECT_EQ(a.report.figures.check_failures_total, 0u);
  EXPECT_GT(a.report.figures.checks_total, 20 * 1e6 / 128 * 0.8);
  EXPECT_GT(a.report.latency.Quantile(0.99), 10'000u) << "the checks still queue (us)";
  c.simulation.seed = 2;
  const SimResult d = Simulate(c, SmallCosts(), o);
  EXPECT_NE(a.report.latency.Quantile(0.5) + a.report.figures.checks_total,
            d.report.latency.Quantile(0.5) + d.report.figures.checks_total + 1);
}

// A busy run (checker threads about half busy all the time) without jitter: the hybrid
// engine, which steps the queue only until a period repeats and then copies it
// (sim/windows.h), gives what stepping every check gives, latency included.
Config Busy() {
  Config c = Base();
  c.server.profile = "jdk8-sslengine";
  c.checker.profile = "haproxy-1.7.4";
  c.tls.version = TlsVersion::kTls12;
  c.simulation.checker_threads = 4;
  c.server.backends = 12000;  // 60,000 checks/s over 4 threads at about 34 us each
  c.simulation.backend_cores = 1;
  c.checker.inter = Millis(200);
  // Not a whole number of steps: the last 2 s are stepped after the copies, from the state
  // the copies left.
  c.duration = Millis(62000);
  c.simulation.resolution = Millis(4000);  // five periods of 4 x 200 ms
  return c;
}

SimResult Repeated(const Config& c) {
  const SimResult r = SimRun(c, SimOptions::Engine::kAuto);
  EXPECT_EQ(r.simulation["engine"], "hybrid");
  EXPECT_GT(r.simulation["utilisation"]["checker_thread"].get<double>(), kQueueingThreshold);
  return r;
}

void ExpectSameAsStepped(const Config& c, const SimResult& a) {
  const SimResult b = SimRun(c, SimOptions::Engine::kStepped);
  EXPECT_EQ(b.simulation["repeated_checks"], 0);
  ExpectSameFigures(a, b, 1e-6);
  for (const double q : {0.5, 0.9, 0.99, 1.0}) {
    EXPECT_EQ(a.report.latency.Quantile(q), b.report.latency.Quantile(q)) << q;
  }
  EXPECT_EQ(a.report.latency.count(), b.report.latency.count());
}

TEST(SimRepeatTest, SteadyBusyPeriodsAreCopiedExactly) {
  const Config c = Busy();
  const SimResult a = Repeated(c);
  EXPECT_GT(a.simulation["repeated_checks"].get<uint64_t>(),
            a.simulation["stepped_checks"].get<uint64_t>())
      << "most of the run is copies of a stepped period";
  EXPECT_GT(a.report.latency.Quantile(0.99), a.report.latency.Quantile(0.5)) << "checks queue";
  ExpectSameAsStepped(c, a);
}

TEST(SimRepeatTest, RestartsAndExpiriesEndARepetition) {
  Config c = Busy();
  c.simulation.restart_every = Millis(20000);
  c.simulation.restart_share = 0.5;
  ExpectSameAsStepped(c, Repeated(c));
  c = Busy();
  c.server.profile = "lenient";
  c.server.session_timeout = Millis(30000);  // TLS 1.2 session IDs: no renewal on resume
  c.tls.tickets = false;
  ExpectSameAsStepped(c, Repeated(c));
}

TEST(SimRepeatTest, RenewedSessionsAndAlwaysFullChecksRepeat) {
  Config c = Busy();
  c.server.profile = "lenient";
  c.checker.profile = "haproxy-2.6";
  c.tls.version = TlsVersion::kTls13;  // a new ticket at every resumption
  c.server.session_timeout = Millis(5000);
  ExpectSameAsStepped(c, Repeated(c));
  c = Busy();
  c.checker.profile = "haproxy-1.7.3";  // the broken pair: every check full
  c.server.backends = 3000;
  const SimResult a = Repeated(c);
  EXPECT_GT(a.simulation["repeated_checks"].get<uint64_t>(), 0u);
  ExpectSameAsStepped(c, a);
}

// A saturated run falls behind its schedule: some backends are checked less often than once
// an interval, and a period in which only the others were checked, all on time, is no copy
// of the next one. Such a run is stepped to its end.
TEST(SimRepeatTest, SaturatedRunsAreNeverCopied) {
  Config c = Base();
  c.server.profile = "jdk8-sslengine";
  c.checker.profile = "haproxy-1.7.3";  // every check a full RSA handshake
  c.tls.version = TlsVersion::kTls12;
  c.checker.check = CheckKind::kConnect;
  c.server.backends = 3000;  // one server thread signs about 2,000 a second
  c.duration = Millis(20000);
  Validate(c);
  const CostSet costs = LoadCosts(DefaultCostsPath());
  SimOptions o;
  const SimResult a = Simulate(c, costs, o);
  o.engine = SimOptions::Engine::kStepped;
  const SimResult b = Simulate(c, costs, o);
  EXPECT_EQ(a.simulation["repeated_checks"], 0);
  EXPECT_EQ(a.report.figures.checks_total, b.report.figures.checks_total);
  EXPECT_LT(a.report.figures.checks_total, 3000u * 20 * 9 / 10) << "behind its schedule";
}

// With jitter a repeated period is a sample of the same stationary queue: counts exact, the
// latency close to stepping every check.
TEST(SimRepeatTest, WithJitterCountsAreExactAndLatencyClose) {
  const Config c = Busy();
  SimOptions o;
  const SimResult a = Simulate(c, SmallCosts(), o);
  o.engine = SimOptions::Engine::kStepped;
  const SimResult b = Simulate(c, SmallCosts(), o);
  EXPECT_GT(a.simulation["repeated_checks"].get<uint64_t>(), 0u);
  EXPECT_EQ(a.report.figures.checks_total, b.report.figures.checks_total);
  EXPECT_EQ(a.report.figures.full_handshakes_total, b.report.figures.full_handshakes_total);
  EXPECT_NEAR(a.report.figures.checker_cpu_percent, b.report.figures.checker_cpu_percent,
              0.01 * b.report.figures.checker_cpu_percent);
  const double pa = static_cast<double>(a.report.latency.Quantile(0.99));
  const double pb = static_cast<double>(b.report.latency.Quantile(0.99));
  EXPECT_NEAR(pa, pb, 0.2 * pb);
}

TEST(SimCostsTest, BadCostFilesAreOneLineUsageErrors) {
  EXPECT_NE(UsageErrorMessage([] { LoadCosts("/nonexistent/costs.json"); }).find("cannot read"),
            std::string::npos);
  const std::string path = testing::TempDir() + "/bad-costs.json";
  std::ofstream(path) << "{not json";
  EXPECT_NE(UsageErrorMessage([&] { LoadCosts(path); }).find("not valid JSON"), std::string::npos);
  std::ofstream(path) << R"({"format": "tlslab-costs", "version": 99, "costs": {}})";
  EXPECT_NE(UsageErrorMessage([&] { LoadCosts(path); }).find("format version 99"),
            std::string::npos);
  std::ofstream(path) << R"({"format": "tlslab-costs", "version": 4, "costs": {"rsa2048": {}}})";
  EXPECT_NE(UsageErrorMessage([&] { LoadCosts(path); }).find("missing"), std::string::npos);
  // A file of the older rate model (version 3, a second line instead of a wake share): refused,
  // with what to do.
  std::ofstream(path) << R"({"format": "tlslab-costs", "version": 3, "costs": {"rsa2048": {}}})";
  EXPECT_NE(UsageErrorMessage([&] {
              LoadCosts(path);
            }).find("format version 3, this tlslab reads version 4; run `tlslab calibrate` again"),
            std::string::npos);
}

// The event loops' per-second cost adds per checker thread and per server thread, whatever
// the rate; a side without it, or without its wake share, is refused.
TEST(SimCostsTest, PerSecondCostAddsPerEventLoop) {
  Config c = Base();
  c.server.profile = "lenient";
  c.checker.profile = "haproxy-1.7.4";
  c.simulation.checker_threads = 4;
  c.server.threads = 2;
  Validate(c);
  const SimResult with = Simulate(c, CostsFromJson(SmallCostsJson(2000.0), "a"));
  const SimResult without = Simulate(c, CostsFromJson(SmallCostsJson(0.0), "b"));
  // 2,000 us per second = 0.2% of a core, per loop.
  EXPECT_NEAR(with.report.figures.checker_cpu_percent - without.report.figures.checker_cpu_percent,
              4 * 0.2, 1e-9);
  EXPECT_NEAR(with.report.figures.server_cpu_percent - without.report.figures.server_cpu_percent,
              2 * 0.2, 1e-9);
  for (const char* field : {"per_second", "wake_share"}) {
    nlohmann::json doc = SmallCostsJson(0.0);
    doc["costs"]["rsa2048"]["1.3"]["server"].erase(field);
    EXPECT_NE(UsageErrorMessage([&] {
                CostsFromJson(doc, "x");
              }).find(std::string("costs.rsa2048.1.3.server.") + field),
              std::string::npos)
        << field;
  }
  nlohmann::json doc = SmallCostsJson(0.0);
  doc["costs"]["rsa2048"]["1.2"]["checker"]["wake_share"] = 0.95;
  EXPECT_NE(UsageErrorMessage([&] { CostsFromJson(doc, "x"); }).find("from 0 to 0.9"),
            std::string::npos);
}

TEST(SimCostsTest, ShippedDefaultLoads) {
  const CostSet set = LoadCosts(DefaultCostsPath());
  EXPECT_TRUE(set.has_key[0]);
  EXPECT_TRUE(set.has_key[1]);
  EXPECT_GT(set.For(KeyType::kRsa2048, TlsVersion::kTls12).server.full, 0);
}

TEST(SimBoundsTest, TooLargeIsRefusedUpFront) {
  Config c = Base();
  c.server.profile = "jdk8-sslengine";
  c.checker.profile = "haproxy-1.7.3";
  c.server.backends = 5'000'000;
  c.duration = Millis(24LL * 3600 * 1000);
  Validate(c);
  EXPECT_NE(UsageErrorMessage([&] { Simulate(c, SmallCosts()); }).find("simulation too large"),
            std::string::npos);
}

}  // namespace
}  // namespace tlslab
