#include "sim/engine.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <random>
#include <string>
#include <tuple>

#include "clients/health.h"
#include "lab/errors.h"
#include "sim/model.h"
#include "sim/series.h"
#include "sim/streams.h"
#include "sim/windows.h"

namespace tlslab {
using namespace sim;  // NOLINT: the engine is the streams' only user
namespace {

double MaxOf(const CheckCosts& c) {
  return std::max({c.full_fresh, c.full_refused, c.resumed, c.no_handshake, c.failed});
}

uint64_t PeakRssBytes() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<uint64_t>(u.ru_maxrss) * 1024;
}

}  // namespace

SimResult Simulate(const Config& c, const CostSet& costs, const SimOptions& options) {
  const auto wall_start = std::chrono::steady_clock::now();
  Model md = MakeModel(c, costs);
  if (options.checker_costs != nullptr) {
    UseCheckerCosts(md.cost, md.m, *options.checker_costs, c.tls.key);
  }
  const double inter_s = static_cast<double>(md.inter) / 1e6;
  const int cores = c.simulation.backend_cores;
  const int64_t step = SeriesStepUs(c);
  // The event loops' cost per wall second beyond the checks' (sim/costs.h per_second): one
  // loop per checker thread of a load balancer, one per server thread (or per core of every
  // backend machine); per loop, weighted by the step's share of full handshakes.
  const double server_loops =
      cores > 0 ? static_cast<double>(md.n) * cores : static_cast<double>(c.server.threads);
  auto full_share = [](const SimSeries& s, size_t i) {
    const double full = s.At(kFresh, i) + s.At(kRefused, i);
    const double all = full + s.At(kResumed, i) + s.At(kNoHandshake, i);
    return all > 0 ? full / all : 0.0;
  };
  // Microseconds per second of one loop of each side in step i.
  auto loop_us_per_s = [&](const SimSeries& s, size_t i, bool checker) {
    const double f = full_share(s, i);
    return checker ? md.cost.checker_per_second +
                         f * (md.cost.checker_per_second_full - md.cost.checker_per_second)
                   : md.cost.server_per_second +
                         f * (md.cost.server_per_second_full - md.cost.server_per_second);
  };
  // The share of full handshakes over the run, from the closed form when it ran first; else
  // all or nothing from the model.
  double full_share_run =
      md.m.removed_after_check || !md.m.offers || !md.m.client_keeps ? 1.0 : 0.0;
  const uint64_t all_streams = static_cast<uint64_t>(md.n) * static_cast<uint64_t>(md.lbs);
  // Queueing matters where a checker thread or a server core is busy: the closed form (cheap,
  // O(1) state) says how busy each is in each series step; the steps busier than
  // kQueueingThreshold become the windows stepped check by check.
  size_t saturated_steps = 0;
  double saturated_us = 0;  // simulated time in those steps
  std::vector<Window> windows;
  auto utilisation = [&](const SimSeries& s) {
    double checker = 0, server = 0;
    for (size_t i = 0; i < s.steps(); ++i) {
      const int64_t from = static_cast<int64_t>(i) * step;
      const int64_t to = std::min(from + step, md.end);
      const double dt = static_cast<double>(to - from);
      const double ci =
          s.At(SimSeries::kCheckerCpu, i) / dt / md.threads + loop_us_per_s(s, i, true) / 1e6;
      const double si = s.At(SimSeries::kServerCpu, i) * md.lbs / dt / server_loops +
                        loop_us_per_s(s, i, false) / 1e6;
      if (std::max(ci, si) >= 1.0) {
        ++saturated_steps;
        saturated_us += dt;
      }
      if (std::max(ci, si) > kQueueingThreshold) {
        if (!windows.empty() && windows.back().to == from) {
          windows.back().to = to;
        } else {
          windows.push_back({from, to});
        }
      }
      checker = std::max(checker, ci);
      server = std::max(server, si);
    }
    return std::make_pair(checker, server);
  };
  SimSeries series(step, md.end);
  Tally tally;
  double rho_checker = 0, rho_server = 0;
  int up = 0;
  const bool closed_form_ran = options.engine != SimOptions::Engine::kStepped;
  if (!closed_form_ran) {
    windows = {{0, md.end}};
  } else {
    up = RunClosedForm(md, series, tally);
    RecordClosedFormLatency(md, tally);
    series.Finish();
    std::tie(rho_checker, rho_server) = utilisation(series);
    double full = 0, all = 0;
    for (size_t i = 0; i < series.steps(); ++i) {
      full += series.At(kFresh, i) + series.At(kRefused, i);
      all += series.At(kFresh, i) + series.At(kRefused, i) + series.At(kResumed, i) +
             series.At(kNoHandshake, i);
    }
    if (all > 0) full_share_run = full / all;
    // The network's round trips count too: past the timeout, checks fail (stepped).
    int64_t slowest_network = 0;
    for (int kind = 0; kind < kSimKinds; ++kind) {
      slowest_network = std::max(slowest_network, md.NetworkUs(kind));
    }
    const double slowest =
        MaxOf(md.cost.checker) + MaxOf(md.cost.server) + static_cast<double>(slowest_network);
    if (options.engine == SimOptions::Engine::kClosedForm) {
      windows.clear();
    } else if (slowest >= static_cast<double>(std::min(md.inter, md.timeout))) {
      windows = {{0, md.end}};
    }
  }
  double stepped_us = 0;
  for (const Window& w : windows) stepped_us += static_cast<double>(w.to - w.from);
  const double checks_estimate =
      static_cast<double>(all_streams) * stepped_us / static_cast<double>(md.inter);
  const uint64_t memory =
      (windows.empty() ? sizeof(Slot) * md.slots
                       : all_streams * (sizeof(Stream) + sizeof(Slot) * md.slots + 24) +
                             static_cast<uint64_t>(cores > 0 ? md.n * cores : 0) * 8) +
      series.bytes();
  const double rho = std::max(rho_checker, rho_server);
  std::string engine = windows.empty() ? "closed-form" : "hybrid";
  const bool repeats = options.engine == SimOptions::Engine::kAuto;
  // Busy, saturated in at most 5% of the steps (the bursts of full handshakes after a start or
  // a deploy), and too large to step: elsewhere every check runs on its schedule, so counts
  // and CPU are the closed form's; the latency misses the queue, and in the saturated steps
  // the counts are what the schedule asks, more than a saturated thread would do.
  const bool may_skip_queueing = options.engine == SimOptions::Engine::kAuto && closed_form_ran &&
                                 saturated_steps * 20 <= series.steps();
  auto skip_queueing = [&] {
    windows.clear();
    engine = "closed-form (queueing not simulated: latency excludes waiting; saturated in " +
             std::to_string(saturated_steps) + " of " + std::to_string(series.steps()) + " steps)";
  };
  auto too_many_checks = [&](const std::string& how) {
    return UsageError("simulation too large: queueing (a checker thread or server core busy " +
                      std::to_string(static_cast<int>(rho * 100)) +
                      "%) is simulated check by check, " + how + ", the bound is " +
                      std::to_string(kMaxSteppedChecks) + "; shorten --duration or fewer backends");
  };
  if (memory > kMaxSimMemoryBytes) {
    if (!may_skip_queueing) {
      throw UsageError("simulation too large: it needs about " + std::to_string(memory >> 20) +
                       " MiB of state, the bound is " + std::to_string(kMaxSimMemoryBytes >> 20) +
                       " MiB; fewer backends, checkers or threads");
    }
    skip_queueing();
  } else if (const double must_step = repeats ? static_cast<double>(all_streams) * saturated_us /
                                                    static_cast<double>(md.inter)
                                              : checks_estimate;
             must_step > static_cast<double>(kMaxSteppedChecks)) {
    // Every check of the windows is stepped without repeated periods (sim/windows.h), and a
    // saturated step never repeats (its checks fall behind): known before it starts.
    if (!may_skip_queueing) {
      throw too_many_checks("about " + std::to_string(static_cast<uint64_t>(must_step)) +
                            " checks");
    }
    skip_queueing();
  }
  WindowsRun stepped_run;
  if (!windows.empty()) {
    SimSeries closed_series = series;
    Tally closed_tally = tally;
    series = SimSeries(step, md.end);
    tally = Tally{};
    Queues q;
    q.rng.seed(c.simulation.seed);
    q.jitter = options.jitter;
    auto stretch = [](double loop_us) { return 1.0 / (1.0 - std::min(0.9, loop_us / 1e6)); };
    q.checker_stretch =
        stretch(md.cost.checker_per_second +
                full_share_run * (md.cost.checker_per_second_full - md.cost.checker_per_second));
    q.server_stretch =
        stretch(md.cost.server_per_second +
                full_share_run * (md.cost.server_per_second_full - md.cost.server_per_second));
    q.thread_free.assign(static_cast<size_t>(md.lbs * md.threads), 0);
    q.cores_per_backend = cores;
    q.core_free.assign(static_cast<size_t>(cores > 0 ? md.n * cores : c.server.threads), 0);
    Repeat repeat;
    repeat.enabled = repeats;
    repeat.exact = options.jitter == 0;
    repeat.max_stepped_checks = kMaxSteppedChecks;
    stepped_run = RunWindows(md, windows, q, repeat, series, tally);
    if (stepped_run.exhausted) {
      // Busy all along without a period that repeats (sessions born all the time, or late
      // checks): as many checks as the bound allows were stepped, and the run is not done.
      if (!may_skip_queueing) {
        throw too_many_checks(std::to_string(kMaxSteppedChecks) +
                              " stepped without reaching a steady state");
      }
      skip_queueing();
      series = std::move(closed_series);
      tally = std::move(closed_tally);
      stepped_run = WindowsRun{};
    } else {
      RecordClosedFormLatency(md, tally);
      series.Finish();
      up = stepped_run.up;
      if (stepped_run.stepped_us >= md.end) engine = "stepped";
    }
  }
  const bool stepped = !windows.empty();
  // Figures as a real run computes them (lab/figures.cc), checker side for one LB.
  const double lb_scale = stepped ? 1.0 / md.lbs : 1.0;
  const double server_scale = stepped ? 1.0 : md.lbs;
  SimResult out;
  RunReport& r = out.report;
  r.command = Command::kSimulate;
  r.config = c;
  r.backends = static_cast<size_t>(md.n);
  r.backends_up = static_cast<size_t>(up);
  Figures& f = r.figures;
  const double step_s = static_cast<double>(step) / 1e6;
  const double end_s = static_cast<double>(md.end) / 1e6;
  // The steady window starts at the first step boundary after the first round (every stream's
  // first check) has ended, as lab/figures.cc starts it at the first sample after; without a
  // first round within the run, the whole run (clients/check_run.cc).
  const bool first_round_done = tally.first_round_end >= 0 && tally.first_round_end <= md.end;
  const size_t steady_from =
      first_round_done ? static_cast<size_t>(CeilDiv(tally.first_round_end, step)) : 0;
  // The event loops' cost into each step, as the lab's CPU clocks count it: per LB (the
  // stepped engine's series holds every LB, the closed form's the first) and for all backends
  // (the closed form's series holds the first LB's share of the server's work).
  double loops_percent_checker = 0, loops_percent_server = 0;
  for (size_t i = 0; i < series.steps(); ++i) {
    const double dt_us = static_cast<double>(std::min(static_cast<int64_t>(i + 1) * step, md.end) -
                                             static_cast<int64_t>(i) * step);
    const double checker = loop_us_per_s(series, i, true) * md.threads * dt_us / 1e6;
    const double server = loop_us_per_s(series, i, false) * server_loops * dt_us / 1e6;
    series.AddCpu(i, checker / lb_scale, server / server_scale);
    loops_percent_checker = std::max(loops_percent_checker, checker / dt_us * 100);
    loops_percent_server = std::max(loops_percent_server, server / dt_us * 100);
  }
  std::array<double, SimSeries::kArrays> total{}, steady{};
  for (size_t i = 0; i < series.steps(); ++i) {
    const double t0 = static_cast<double>(i) * step_s;
    const double t1 = std::min(t0 + step_s, end_s);
    const double dt = t1 - t0;
    auto at = [&](int a) { return series.At(a, i); };
    for (int a = 0; a < SimSeries::kArrays; ++a) {
      total[static_cast<size_t>(a)] += at(a);
      if (i >= steady_from) steady[static_cast<size_t>(a)] += at(a);
    }
    SecondRow row;
    row.t_s = t1;
    const double checks =
        at(kFresh) + at(kRefused) + at(kResumed) + at(kNoHandshake) + at(kConnectFailed);
    row.checks_per_s = checks * lb_scale / dt;
    row.key_rate_per_s = (at(kFresh) + at(kRefused)) * lb_scale / dt;
    row.resumed_per_s = at(kResumed) * lb_scale / dt;
    row.failures_per_s = at(SimSeries::kFailures) * lb_scale / dt;
    row.checker_cpu_percent = at(SimSeries::kCheckerCpu) * lb_scale / 1e6 / dt * 100;
    row.server_cpu_percent = at(SimSeries::kServerCpu) * server_scale / 1e6 / dt * 100;
    if (dt >= 0.5) f.max_key_rate_per_s = std::max(f.max_key_rate_per_s, row.key_rate_per_s);
    f.series.push_back(row);
  }
  auto count = [&](const std::array<double, SimSeries::kArrays>& a, int k) {
    return a[static_cast<size_t>(k)] * lb_scale;
  };
  auto u64 = [](double v) { return static_cast<uint64_t>(v + 0.5); };
  const double all_checks = count(total, kFresh) + count(total, kRefused) + count(total, kResumed) +
                            count(total, kNoHandshake) + count(total, kConnectFailed);
  f.checks_total = u64(all_checks);
  f.check_failures_total = u64(count(total, SimSeries::kFailures));
  f.full_handshakes_total = u64(count(total, kFresh) + count(total, kRefused));
  f.resumed_handshakes_total = u64(count(total, kResumed));
  if (first_round_done) f.first_round_s = static_cast<double>(tally.first_round_end) / 1e6;
  f.skipped_slots_total = u64(static_cast<double>(tally.skipped_slots) * lb_scale);
  f.steady_from_s = std::min(static_cast<double>(steady_from) * step_s, end_s);
  f.steady_seconds = end_s - f.steady_from_s;
  if (f.steady_seconds <= 0) {  // shorter than the warm-up: the whole run, as lab/figures.cc
    f.steady_from_s = 0;
    f.steady_seconds = end_s;
    steady = total;
  }
  const double full = count(steady, kFresh) + count(steady, kRefused);
  const double resumed = count(steady, kResumed);
  f.key_rate_per_s = full / f.steady_seconds;
  if (full + resumed > 0) f.resumption_ratio = resumed / (full + resumed);
  const double checker_us = count(steady, SimSeries::kCheckerCpu);
  const double server_us = steady[SimSeries::kServerCpu] * server_scale;
  f.checker_cpu_percent = checker_us / 1e6 / f.steady_seconds * 100;
  f.server_cpu_percent = server_us / 1e6 / f.steady_seconds * 100;
  const double steady_checks = count(steady, kFresh) + count(steady, kRefused) +
                               count(steady, kResumed) + count(steady, kNoHandshake) +
                               count(steady, kConnectFailed);
  if (steady_checks > 0) {
    f.checker_cpu_us_per_check = checker_us / steady_checks;
    f.server_cpu_us_per_check = server_us / (steady_checks * md.lbs);
  }
  for (size_t i = 0; i < tally.failures.size(); ++i) {
    r.failures_by_reason[i] = u64(static_cast<double>(tally.failures[i]) * lb_scale);
  }
  if (tally.failures[static_cast<size_t>(CheckFailure::kConnect)] > 0) {
    r.failure_examples[static_cast<size_t>(CheckFailure::kConnect)] =
        "simulated: a restarted backend refuses connections";
  }
  if (tally.failures[static_cast<size_t>(CheckFailure::kTimeout)] > 0) {
    r.failure_examples[static_cast<size_t>(CheckFailure::kTimeout)] =
        "simulated: queued past the check timeout";
  }
  r.latency = tally.latency;
  r.first_round_latency = tally.first_round_latency;
  if (!first_round_done) r.latency.Merge(r.first_round_latency);
  ServerTotals server;
  const double handshakes = (total[kFresh] + total[kRefused] + total[kResumed]) * server_scale;
  server.full_handshakes = u64((total[kFresh] + total[kRefused]) * server_scale);
  server.resumed_handshakes = u64(total[kResumed] * server_scale);
  server.connections = u64(handshakes);
  if (!md.m.persistent) {
    server.close_kinds[Index(md.m.server_sees)] = u64(handshakes);
    if (md.m.removed_after_check)
      server.sessions_removed[Index(md.m.server_sees)] = u64(handshakes);
  }
  // Server CPU over the whole simulated run, from the steady-state share of a core.
  r.server = ServerFigures{server, end_s, u64(r.figures.server_cpu_percent / 100.0 * end_s * 1e9)};
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  const double hours = end_s / 3600.0;
  out.simulation = {
      {"engine", engine},
      {"costs_file", costs.file},
      {"costs_measured_on", costs.where},
      {"costs_version", costs.version},
      {"checker_costs_file",
       options.checker_costs != nullptr ? options.checker_costs->file : std::string()},
      {"checker_costs_of", options.checker_costs != nullptr
                               ? options.checker_costs->checker_version + ", measured on " +
                                     options.checker_costs->where
                               : std::string("the lab's checker")},
      {"event_loop_cpu_percent_max",
       {{"checker_per_lb", loops_percent_checker}, {"server", loops_percent_server}}},
      {"checkers", md.lbs},
      {"checker_threads", md.threads},
      {"thread_model",
       md.pinned ? "pinned (the lab's checker)" : "any thread, a session per thread"},
      {"session_slots_per_lb", md.slots},
      {"mechanism", Name(md.m.mechanism)},
      {"server_sees", Name(md.m.server_sees)},
      {"session_removed_after_check", md.m.removed_after_check},
      {"session_timeout_s", static_cast<double>(md.lifetime) / 1e6},
      {"cache_size", md.m.cache_size},
      {"cache_thrashes", md.thrash},
      {"utilisation", {{"checker_thread", rho_checker}, {"server_core", rho_server}}},
      {"stepped_seconds", static_cast<double>(stepped_run.stepped_us) / 1e6},
      {"stepped_checks", stepped_run.stepped_checks},
      {"repeated_seconds", static_cast<double>(stepped_run.repeated_us) / 1e6},
      {"repeated_checks", stepped_run.repeated_checks},
      {"series_step_s", step_s},
      {"per_lb",
       {{"key_rate_per_s", f.key_rate_per_s}, {"checker_cpu_percent", f.checker_cpu_percent}}},
      {"all_lbs",
       {{"key_rate_per_s", f.key_rate_per_s * md.lbs},
        {"checker_cpu_percent", f.checker_cpu_percent * md.lbs}}},
      {"per_backend",
       {{"server_cpu_percent", f.server_cpu_percent / md.n},
        {"checks_per_s", static_cast<double>(md.lbs) / inter_s},
        {"key_rate_per_s", f.key_rate_per_s * md.lbs / md.n}}},
      {"wall_seconds", wall},
      {"backend_hours_per_wall_second", wall > 0 ? md.n * hours / wall : 0.0},
      {"memory_bytes", {{"state_estimate", memory}, {"peak_rss", PeakRssBytes()}}},
  };
  return out;
}

int64_t SeriesStepUs(const Config& c) {
  if (c.simulation.resolution.count() > 0) return c.simulation.resolution.count() * 1000;
  const int64_t d = c.duration.count() * 1000;
  const int64_t threads = c.simulation.checker_threads > 0 ? c.simulation.checker_threads : 1;
  const int64_t period = c.checker.inter.count() * 1000 * threads;
  if (d <= 600'000'000) return 1'000'000;
  // About 1,440 steps, a whole number of every slot's period (sim/series.h).
  const int64_t want = std::max<int64_t>(60'000'000, d / 1440);
  return CeilDiv(want, period) * period;
}

}  // namespace tlslab
