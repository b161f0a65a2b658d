#include "clients/check_run.h"

#include <unistd.h>

#include <cstdio>

#include "clients/checker_engine.h"
#include "lab/metrics_server.h"
#include "lab/report.h"

namespace tlslab {
namespace {

std::string LiveLine(const Sample& now, const Sample& prev, bool with_server) {
  const double dt = now.t_s - prev.t_s > 0 ? now.t_s - prev.t_s : 1;
  auto rate = [dt](uint64_t a, uint64_t b) { return static_cast<double>(a - b) / dt; };
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "[%5.0fs] checks %6.0f/s  key rate %6.0f/s  resumed %6.0f/s  failures %4.0f/s  "
                "checker CPU %5.1f%%",
                now.t_s, rate(now.checker.checks, prev.checker.checks),
                rate(now.checker.full_handshakes, prev.checker.full_handshakes),
                rate(now.checker.resumed_handshakes, prev.checker.resumed_handshakes),
                rate(now.checker.check_failures, prev.checker.check_failures),
                static_cast<double>(now.checker_cpu_ns - prev.checker_cpu_ns) / 1e7 / dt);
  std::string line = buf;
  if (with_server) {
    std::snprintf(buf, sizeof buf, "  server CPU %5.1f%%",
                  static_cast<double>(now.server_cpu_ns - prev.server_cpu_ns) / 1e7 / dt);
    line += buf;
  }
  return line;
}

// HAProxy's field names where we have the figure (src/stats.c: "Number of SSL keys created on
// backends in this worker process over the last second"), then the lab's own.
// The rates come from the 1 Hz samples; the Tlslab* totals are read when asked (`totals`), as
// HAProxy's own counters are live, so that two readings bracket a window to the check
// (tests/bench/peers.py counts the checks of its measurement window this way).
std::vector<std::pair<std::string, std::string>> ShowInfo(const std::vector<Sample>& samples,
                                                          const CheckerTotals& totals,
                                                          int threads) {
  uint64_t last_second = 0;
  uint64_t max_rate = 0;
  for (size_t i = 1; i < samples.size(); ++i) {
    uint64_t d = samples[i].checker.full_handshakes - samples[i - 1].checker.full_handshakes;
    max_rate = std::max(max_rate, d);
    last_second = d;
  }
  const Sample& now = samples.back();
  const auto uptime = static_cast<long>(now.t_s);
  return {{"Name", "tlslab"},
          {"Version", std::string(Versions()["tlslab"])},
          {"Pid", std::to_string(getpid())},
          {"Uptime_sec", std::to_string(uptime)},
          {"Nbthread", std::to_string(threads)},
          {"SslBackendKeyRate", std::to_string(last_second)},
          {"SslBackendMaxKeyRate", std::to_string(max_rate)},
          {"TlslabChecks", std::to_string(totals.checks)},
          {"TlslabCheckFailures", std::to_string(totals.check_failures)},
          {"TlslabFullHandshakes", std::to_string(totals.full_handshakes)},
          {"TlslabResumedHandshakes", std::to_string(totals.resumed_handshakes)}};
}

}  // namespace

RunReport RunChecks(Command command, const Config& config, std::vector<Endpoint> targets,
                    const std::optional<ServerSide>& server, int stop_fd, Trace* trace) {
  // First: a port in use for --metrics is refused before any check.
  std::unique_ptr<MetricsServer> metrics = StartMetricsServer(config.output.metrics);
  std::unique_ptr<StatsSocket> stats;
  if (!config.checker.stats_socket.empty()) {
    stats =
        std::make_unique<StatsSocket>(config.checker.stats_socket, StatsSocketMode(config.checker));
  }
  CheckerEngine engine(config, std::move(targets), trace);
  const Clock::time_point start = Clock::now();
  const Clock::time_point deadline = start + config.duration;
  engine.Start(deadline);

  MonitorHooks hooks;
  hooks.sample = [&] {
    Sample s;
    s.checker = engine.Totals();
    s.checker_cpu_ns = engine.CpuNs();
    if (server) {
      s.server = server->totals();
      s.server_cpu_ns = server->cpu_ns();
    }
    return s;
  };
  hooks.done = [&] { return engine.BudgetSpent(); };
  const bool with_server = server.has_value();
  hooks.live_line = [with_server](const Sample& now, const Sample& prev) {
    return LiveLine(now, prev, with_server);
  };
  hooks.info = [&](const std::vector<Sample>& samples) {
    return ShowInfo(samples, engine.Totals(), config.checker.threads);
  };
  KeyRateTracker key_rate;
  if (metrics) {
    hooks.sampled = [&](const std::vector<Sample>& samples) {
      key_rate.Update(samples);
      MetricsInput in;
      in.now = samples.back();
      in.checker = true;
      in.server = server.has_value();
      in.checker_threads = config.checker.threads;
      in.key_rate_per_s = key_rate.current_per_s();
      in.max_key_rate_per_s = key_rate.max_per_s();
      in.checked = engine.PerServer();
      if (server && server->per_backend) in.backends = server->per_backend();
      metrics->Publish(LabMetricFamilies(in));
    };
  }
  MonitorResult monitored =
      RunMonitor(start, deadline, config.output.live, stop_fd, stats.get(), hooks);
  // At the deadline the loops end by themselves after draining the checks in flight; stop
  // them at once only when interrupted or when the check budget is spent.
  if (monitored.interrupted || Clock::now() < deadline) engine.Stop();
  engine.Join();

  RunReport report;
  report.command = command;
  report.config = config;
  report.interrupted = monitored.interrupted;
  // The steady window starts once every backend's first (necessarily full) check has ended,
  // however long that round took; a run that ended before has no steady state and
  // its figures cover the whole run.
  std::optional<double> first_round_s;
  if (const auto end = engine.FirstRoundEnd()) {
    first_round_s = std::chrono::duration<double>(*end - start).count();
  }
  report.figures = ComputeFigures(monitored.samples, first_round_s.value_or(0.0));
  report.figures.first_round_s = first_round_s;
  const Sample& last = monitored.samples.back();
  if (server) report.server = ServerFigures{last.server, last.t_s, last.server_cpu_ns};
  // Checks that ended after the deadline (drained in flight) count in the totals too.
  const CheckerTotals totals = engine.Totals();
  report.figures.checks_total = totals.checks;
  report.figures.check_failures_total = totals.check_failures;
  report.figures.full_handshakes_total = totals.full_handshakes;
  report.figures.resumed_handshakes_total = totals.resumed_handshakes;
  report.figures.skipped_slots_total = totals.skipped_slots;
  report.failures_by_reason = totals.failures_by_reason;
  report.failure_examples = engine.FailureExamples();
  report.latency = engine.Latency();
  report.first_round_latency = engine.FirstRoundLatency();
  // Without a completed first round the figures cover the whole run, the latency too.
  if (!first_round_s) report.latency.Merge(report.first_round_latency);
  report.backends = engine.backends();
  report.backends_up = engine.BackendsUp();
  report.time_wait_sockets = CountTimeWaitSockets();
  return report;
}

}  // namespace tlslab
