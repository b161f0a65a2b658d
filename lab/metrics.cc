#include "lab/metrics.h"

namespace tlslab {

void KeyRateTracker::Update(const std::vector<Sample>& samples) {
  for (size_t i = std::max<size_t>(seen_, 1); i < samples.size(); ++i) {
    if (std::optional<SecondRow> row = SecondBetween(samples[i - 1], samples[i])) {
      current_ = row->key_rate_per_s;
      if (CountsTowardMax(samples[i - 1], samples[i])) max_ = std::max(max_, current_);
    }
  }
  seen_ = samples.size();
}

namespace {

MetricFamily Family(std::string name, MetricType type, std::string help) {
  return {std::move(name), type, std::move(help), {}};
}

MetricFamily One(std::string name, MetricType type, std::string help, double value) {
  MetricFamily f = Family(std::move(name), type, std::move(help));
  f.points.push_back({{}, value});
  return f;
}

double Seconds(uint64_t ns) { return static_cast<double>(ns) / 1e9; }

void AddChecker(const MetricsInput& in, std::vector<MetricFamily>& out) {
  constexpr auto kGauge = MetricType::kGauge;
  constexpr auto kCounter = MetricType::kCounter;
  const CheckerTotals& c = in.now.checker;
  out.push_back(One("haproxy_process_nbthread", kGauge, "Number of started threads (checker)",
                    in.checker_threads));
  out.push_back(One("haproxy_process_uptime_seconds", kGauge,
                    "How long ago this run was started (seconds)", in.now.t_s));
  out.push_back(One("haproxy_process_current_backend_ssl_key_rate", kGauge,
                    "Number of SSL keys created on backends over the last second (full "
                    "handshakes of the checks)",
                    in.key_rate_per_s));
  out.push_back(One("haproxy_process_max_backend_ssl_key_rate", kGauge,
                    "Highest SslBackendKeyRate reached since started (in SSL keys per second)",
                    in.max_key_rate_per_s));
  size_t up = 0;
  MetricFamily failures = Family("haproxy_server_check_failures_total", kCounter,
                                 "Total number of failed individual health checks per server");
  MetricFamily up_down = Family("haproxy_server_check_up_down_total", kCounter,
                                "Total number of failed checks causing UP to DOWN transitions");
  MetricFamily status = Family("haproxy_server_status", kGauge,
                               "Current status of the server, per state label value");
  MetricFamily checks = Family("tlslab_checker_server_checks_total", kCounter,
                               "Checks completed against each server, success or failure");
  for (const ServerCheckFigures& s : in.checked) {
    const std::vector<std::pair<std::string, std::string>> labels = {{"proxy", kMetricsProxy},
                                                                     {"server", s.server}};
    failures.points.push_back({labels, static_cast<double>(s.failures)});
    up_down.points.push_back({labels, static_cast<double>(s.up_down)});
    checks.points.push_back({labels, static_cast<double>(s.checks)});
    for (const char* state : {"DOWN", "UP"}) {
      auto with_state = labels;
      with_state.emplace_back("state", state);
      const bool is = (std::string_view(state) == "UP") == s.up;
      status.points.push_back({with_state, is ? 1.0 : 0.0});
    }
    up += s.up ? 1 : 0;
  }
  out.push_back(std::move(failures));
  out.push_back(std::move(up_down));
  out.push_back(std::move(status));
  MetricFamily active = Family("haproxy_backend_active_servers", kGauge,
                               "Total number of active UP servers with a non-zero weight");
  active.points.push_back({{{"proxy", kMetricsProxy}}, static_cast<double>(up)});
  out.push_back(std::move(active));
  out.push_back(std::move(checks));
  out.push_back(One("tlslab_checker_checks_total", kCounter, "Checks completed, success or failure",
                    static_cast<double>(c.checks)));
  MetricFamily reasons = Family("tlslab_checker_check_failures_total", kCounter,
                                "Failed checks by reason (connect, timeout, handshake, ...)");
  for (CheckFailure f : kAllCheckFailures) {
    reasons.points.push_back({{{"reason", std::string(Name(f))}},
                              static_cast<double>(c.failures_by_reason[static_cast<size_t>(f)])});
  }
  out.push_back(std::move(reasons));
  out.push_back(One("tlslab_checker_full_handshakes_total", kCounter,
                    "Full (non-resumed) TLS handshakes of the checks (the key rate's count)",
                    static_cast<double>(c.full_handshakes)));
  out.push_back(One("tlslab_checker_resumed_handshakes_total", kCounter,
                    "Checks whose TLS handshake resumed the saved session",
                    static_cast<double>(c.resumed_handshakes)));
  out.push_back(One("tlslab_checker_cpu_seconds_total", kCounter,
                    "User+system CPU time of the checker threads (rate: cores)",
                    Seconds(in.now.checker_cpu_ns)));
}

void AddServer(const MetricsInput& in, std::vector<MetricFamily>& out) {
  constexpr auto kCounter = MetricType::kCounter;
  const ServerTotals& s = in.now.server;
  out.push_back(One("tlslab_server_connections_total", kCounter,
                    "Connections accepted by the virtual backends",
                    static_cast<double>(s.connections)));
  out.push_back(One("tlslab_server_full_handshakes_total", kCounter,
                    "Full TLS handshakes the server side completed",
                    static_cast<double>(s.full_handshakes)));
  out.push_back(One("tlslab_server_resumed_handshakes_total", kCounter,
                    "Resumed TLS handshakes the server side completed",
                    static_cast<double>(s.resumed_handshakes)));
  MetricFamily kinds = Family("tlslab_server_close_kinds_total", kCounter,
                              "Connections ended, by the close kind the server saw");
  MetricFamily removed = Family("tlslab_server_sessions_removed_total", kCounter,
                                "Sessions the server profile removed, by the close kind before");
  for (CloseKind k : kAllCloseKinds) {
    const std::vector<std::pair<std::string, std::string>> labels = {
        {"kind", std::string(Name(k))}};
    kinds.points.push_back({labels, static_cast<double>(s.close_kinds[Index(k)])});
    removed.points.push_back({labels, static_cast<double>(s.sessions_removed[Index(k)])});
  }
  out.push_back(std::move(kinds));
  out.push_back(std::move(removed));
  MetricFamily per_backend = Family("tlslab_server_backend_sessions_removed_total", kCounter,
                                    "Sessions the server profile removed, per virtual backend");
  for (const BackendFigures& b : in.backends) {
    per_backend.points.push_back(
        {{{"backend", b.backend}}, static_cast<double>(b.sessions_removed)});
  }
  out.push_back(std::move(per_backend));
  out.push_back(One("tlslab_server_cpu_seconds_total", kCounter,
                    "User+system CPU time of the server threads (rate: cores)",
                    Seconds(in.now.server_cpu_ns)));
}

}  // namespace

std::vector<MetricFamily> LabMetricFamilies(const MetricsInput& in) {
  std::vector<MetricFamily> out;
  if (in.checker) AddChecker(in, out);
  if (in.server) AddServer(in, out);
  return out;
}

}  // namespace tlslab
