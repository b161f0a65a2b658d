#include "lab/report.h"

#include <cmath>
#include <cstdio>

#include "lab/ossl.h"

#ifndef TLSLAB_VERSION
#define TLSLAB_VERSION "unknown"
#endif
#ifndef TLSLAB_GIT_COMMIT
#define TLSLAB_GIT_COMMIT "unknown"
#endif

namespace tlslab {
namespace {

double Round(double v, int decimals) {
  const double scale = std::pow(10.0, decimals);
  return std::round(v * scale) / scale;
}

std::string Pad(std::string s, size_t width, bool right) {
  if (s.size() >= width) return s;
  return right ? std::string(width - s.size(), ' ') + s : s + std::string(width - s.size(), ' ');
}

nlohmann::json LatencyJson(const LatencyHistogram& h) {
  return {{"p50", static_cast<double>(h.Quantile(0.50)) / 1000.0},
          {"p90", static_cast<double>(h.Quantile(0.90)) / 1000.0},
          {"p99", static_cast<double>(h.Quantile(0.99)) / 1000.0},
          {"max", static_cast<double>(h.max()) / 1000.0}};
}

}  // namespace

std::string Fixed(std::optional<double> v, int decimals) {
  if (!v) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, *v);
  return buf;
}

nlohmann::json CloseKindsJson(const std::array<uint64_t, kCloseKindCount>& counts) {
  nlohmann::json out = nlohmann::json::object();
  for (CloseKind kind : kAllCloseKinds) out[std::string(Name(kind))] = counts[Index(kind)];
  return out;
}

nlohmann::json ToJson(const ServerFigures& f) {
  const double cpu_percent = f.seconds > 0 ? static_cast<double>(f.cpu_ns) / 1e7 / f.seconds : 0.0;
  return {{"seconds", Round(f.seconds, 3)},
          {"connections_total", f.totals.connections},
          {"full_handshakes_total", f.totals.full_handshakes},
          {"resumed_handshakes_total", f.totals.resumed_handshakes},
          {"refused_at_cap_total", f.totals.refused_at_cap},
          {"backpressure_pauses_total", f.totals.backpressure_pauses},
          {"close_kinds", CloseKindsJson(f.totals.close_kinds)},
          {"sessions_removed_total", CloseKindsJson(f.totals.sessions_removed)},
          {"cpu_ns", f.cpu_ns},
          {"server_cpu_percent", Round(cpu_percent, 2)}};
}

nlohmann::json Versions() {
  return {
      {"tlslab", TLSLAB_VERSION}, {"git_commit", TLSLAB_GIT_COMMIT}, {"openssl", OpensslVersion()}};
}

nlohmann::json ToJson(const RunReport& r) {
  const Figures& f = r.figures;
  const CheckPlan plan = EffectiveCheckPlan(r.config.checker);
  nlohmann::json figures = {
      {"backends", r.backends},
      {"backends_up", r.backends_up},
      {"checks_total", f.checks_total},
      {"check_failures_total", f.check_failures_total},
      {"full_handshakes_total", f.full_handshakes_total},
      {"resumed_handshakes_total", f.resumed_handshakes_total},
      {"key_rate_per_s", Round(f.key_rate_per_s, 2)},
      {"max_key_rate_per_s", Round(f.max_key_rate_per_s, 2)},
      {"resumption_ratio", f.resumption_ratio ? nlohmann::json(Round(*f.resumption_ratio, 4))
                                              : nlohmann::json(nullptr)},
      {"checker_cpu_percent", Round(f.checker_cpu_percent, 2)},
      {"server_cpu_percent",
       r.server ? nlohmann::json(Round(f.server_cpu_percent, 2)) : nlohmann::json(nullptr)},
      {"checker_cpu_us_per_check", f.checker_cpu_us_per_check
                                       ? nlohmann::json(Round(*f.checker_cpu_us_per_check, 2))
                                       : nlohmann::json(nullptr)},
      {"server_cpu_us_per_check", (r.server && f.server_cpu_us_per_check)
                                      ? nlohmann::json(Round(*f.server_cpu_us_per_check, 2))
                                      : nlohmann::json(nullptr)},
      {"first_round_s",
       f.first_round_s ? nlohmann::json(Round(*f.first_round_s, 3)) : nlohmann::json(nullptr)},
      {"steady_window_start_s", Round(f.steady_from_s, 3)},
      {"steady_window",
       {{"from_s", Round(f.steady_from_s, 3)}, {"seconds", Round(f.steady_seconds, 3)}}},
      {"skipped_slots_total", f.skipped_slots_total},
      {"latency_ms", LatencyJson(r.latency)},
      {"first_round_latency_ms", LatencyJson(r.first_round_latency)},
      {"time_wait_sockets",
       r.time_wait_sockets >= 0 ? nlohmann::json(r.time_wait_sockets) : nlohmann::json(nullptr)},
      {"interrupted", r.interrupted},
  };
  nlohmann::json reasons = nlohmann::json::object();
  nlohmann::json examples = nlohmann::json::object();
  for (CheckFailure reason : kAllCheckFailures) {
    const size_t i = static_cast<size_t>(reason);
    reasons[std::string(Name(reason))] = r.failures_by_reason[i];
    if (!r.failure_examples[i].empty()) examples[std::string(Name(reason))] = r.failure_examples[i];
  }
  figures["check_failures_by_reason"] = reasons;
  figures["check_failure_examples"] = examples;
  if (r.server) {
    // What the server saw after each close kind, at the top as every figure table shows it,
    // and the server's own figures with the keys of `serve --json` (one rendering).
    figures["close_kinds"] = CloseKindsJson(r.server->totals.close_kinds);
    figures["sessions_removed_total"] = CloseKindsJson(r.server->totals.sessions_removed);
    figures["server"] = ToJson(*r.server);
  }
  nlohmann::json series = nlohmann::json::array();
  for (const SecondRow& row : f.series) {
    series.push_back({{"t_s", Round(row.t_s, 3)},
                      {"checks_per_s", Round(row.checks_per_s, 2)},
                      {"key_rate_per_s", Round(row.key_rate_per_s, 2)},
                      {"resumed_per_s", Round(row.resumed_per_s, 2)},
                      {"failures_per_s", Round(row.failures_per_s, 2)},
                      {"checker_cpu_percent", Round(row.checker_cpu_percent, 2)},
                      {"server_cpu_percent", Round(row.server_cpu_percent, 2)}});
  }
  return {
      {"command", Name(r.command)},
      {"config", ConfigJson(r.command == Command::kIncident ? Command::kRun : r.command, r.config)},
      {"effective",
       {{"check", Name(plan.check)},
        {"close", Name(plan.close)},
        {"reuse", plan.reuse},
        {"read_after_handshake", plan.read_after_handshake},
        {"checker_profile", r.config.checker.profile},
        {"server_profile",
         r.server ? nlohmann::json(r.config.server.profile) : nlohmann::json(nullptr)}}},
      {"versions", Versions()},
      {"figures", figures},
      {"series", series}};
}

std::string FormatTable(const std::vector<RunReport>& reports) {
  const std::vector<std::string> head = {
      "checker profile", "server profile", "check",   "close",    "backends",
      "inter",           "key rate/s",     "resumed", "failures", "checker CPU %",
      "server CPU %",    "1st round s",    "p99 ms"};
  std::vector<std::vector<std::string>> rows;
  for (const RunReport& r : reports) {
    const CheckPlan plan = EffectiveCheckPlan(r.config.checker);
    rows.push_back(
        {r.config.checker.profile.empty() ? "-" : r.config.checker.profile,
         r.server ? r.config.server.profile : "-", std::string(Name(plan.check)),
         std::string(Name(plan.close)), std::to_string(r.backends),
         FormatDuration(r.config.checker.inter), Fixed(r.figures.key_rate_per_s, 1),
         Fixed(r.figures.resumption_ratio, 3), std::to_string(r.figures.check_failures_total),
         Fixed(r.figures.checker_cpu_percent, 1),
         r.server ? Fixed(r.figures.server_cpu_percent, 1) : "-", Fixed(r.figures.first_round_s, 1),
         Fixed(static_cast<double>(r.latency.Quantile(0.99)) / 1000.0, 2)});
  }
  std::vector<size_t> width(head.size());
  for (size_t c = 0; c < head.size(); ++c) {
    width[c] = head[c].size();
    for (const auto& row : rows) width[c] = std::max(width[c], row[c].size());
  }
  std::string out;
  auto line = [&](const std::vector<std::string>& cells) {
    for (size_t c = 0; c < cells.size(); ++c) {
      out += Pad(cells[c], width[c], c >= 4) + (c + 1 < cells.size() ? "  " : "\n");
    }
  };
  line(head);
  std::vector<std::string> rule;
  for (size_t w : width) rule.push_back(std::string(w, '-'));
  line(rule);
  for (const auto& row : rows) line(row);
  return out;
}

}  // namespace tlslab

namespace tlslab {

std::string FormatDetails(const RunReport& r) {
  std::string out;
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "%s: %llu checks, %llu failed, %llu full and %llu resumed handshakes; "
                "check latency p50 %.2f ms, p99 %.2f ms; backends up %zu/%zu%s\n"
                "  first round: %s s, latency p50 %.2f ms, p99 %.2f ms; steady from %.1f s; "
                "slots skipped %llu\n",
                r.config.checker.profile.empty() ? "checker" : r.config.checker.profile.c_str(),
                static_cast<unsigned long long>(r.figures.checks_total),
                static_cast<unsigned long long>(r.figures.check_failures_total),
                static_cast<unsigned long long>(r.figures.full_handshakes_total),
                static_cast<unsigned long long>(r.figures.resumed_handshakes_total),
                static_cast<double>(r.latency.Quantile(0.5)) / 1000.0,
                static_cast<double>(r.latency.Quantile(0.99)) / 1000.0, r.backends_up, r.backends,
                r.interrupted ? " (interrupted)" : "", Fixed(r.figures.first_round_s, 2).c_str(),
                static_cast<double>(r.first_round_latency.Quantile(0.5)) / 1000.0,
                static_cast<double>(r.first_round_latency.Quantile(0.99)) / 1000.0,
                r.figures.steady_from_s,
                static_cast<unsigned long long>(r.figures.skipped_slots_total));
  out += buf;
  for (CheckFailure reason : kAllCheckFailures) {
    const size_t i = static_cast<size_t>(reason);
    if (r.failures_by_reason[i] == 0) continue;
    out += "  failures (" + std::string(Name(reason)) +
           "): " + std::to_string(r.failures_by_reason[i]) + ", e.g. " + r.failure_examples[i] +
           "\n";
  }
  if (r.server) {
    std::string kinds, removed;
    for (CloseKind kind : kAllCloseKinds) {
      const uint64_t n = r.server->totals.close_kinds[Index(kind)];
      const uint64_t m = r.server->totals.sessions_removed[Index(kind)];
      // Appended piece by piece: GCC 12 -O3 false -Wrestrict on " " + std::string (bug 105329).
      if (n > 0) kinds.append(" ").append(Name(kind)).append("=").append(std::to_string(n));
      if (m > 0) removed.append(" ").append(Name(kind)).append("=").append(std::to_string(m));
    }
    out += "  server (" + r.config.server.profile +
           ") saw closes:" + (kinds.empty() ? " none" : kinds) +
           "; sessions removed:" + (removed.empty() ? " none" : removed) + "\n";
  }
  return out;
}

}  // namespace tlslab
