// Results: one JSON document per run (docs/design.md 8) and the human table.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "lab/config.h"
#include "lab/figures.h"
#include "lab/flags.h"

namespace tlslab {

// The server side's figures at one instant, and their one JSON rendering: the "figures" of
// `tlslab serve --json` and tlslab.Server.stats() in Python have the same keys, built here.
struct ServerFigures {
  ServerTotals totals;
  double seconds = 0;   // since the server started
  uint64_t cpu_ns = 0;  // user+sys of the server threads since they started
};

// Everything a run knows at its end, beyond the 1 Hz figures.
struct RunReport {
  Command command = Command::kRun;
  Config config;
  Figures figures;
  // The server side (the same struct and keys as `serve --json`); absent for `check`.
  std::optional<ServerFigures> server;
  std::array<uint64_t, kAllCheckFailures.size()> failures_by_reason{};
  std::array<std::string, kAllCheckFailures.size()> failure_examples{};
  LatencyHistogram latency;              // checks in the steady state (after the first round)
  LatencyHistogram first_round_latency;  // checks started before the first round completed
  size_t backends = 0;
  size_t backends_up = 0;
  long time_wait_sockets = -1;
  bool interrupted = false;
};

// connections_total, full_handshakes_total, resumed_handshakes_total, close_kinds,
// sessions_removed_total (per close kind), seconds, cpu_ns, server_cpu_percent.
nlohmann::json ToJson(const ServerFigures& f);
// Close kind name -> count: what the server saw, and the sessions it removed after each.
nlohmann::json CloseKindsJson(const std::array<uint64_t, kCloseKindCount>& counts);

nlohmann::json Versions();
nlohmann::json ToJson(const RunReport& report);

// The table a person reads at a glance: one row per run.
std::string FormatTable(const std::vector<RunReport>& reports);

// "12.3" style number, or "-" when absent.
std::string Fixed(std::optional<double> v, int decimals);

}  // namespace tlslab

namespace tlslab {
// Lines under the table: failures by reason with an example, latency, close kinds and
// removals seen by the server.
std::string FormatDetails(const RunReport& report);
}  // namespace tlslab
