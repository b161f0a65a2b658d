// tlslab simulate: the flags of `tlslab run`, answered by the discrete-event simulator
// (sim/engine.h) instead of sockets; the same table and JSON document, "mode": "simulated".
#include <cstdio>
#include <optional>

#include "app/commands.h"
#include "lab/errors.h"
#include "lab/flags.h"
#include "lab/report.h"
#include "sim/costs.h"
#include "sim/engine.h"

namespace tlslab {

nlohmann::json SimulatedJson(const SimResult& result) {
  nlohmann::json doc = ToJson(result.report);
  doc["mode"] = "simulated";
  doc["cost_file"] = result.simulation.value("costs_file", "");
  doc["simulation"] = result.simulation;
  return doc;
}

int SimulateCommand(const Args& args) {
  return GuardedMain([&] {
    ParsedFlags parsed = ParseFlags(Command::kSimulate, args);
    if (parsed.help) {
      std::printf("usage: tlslab simulate [flags]   (the flags of `tlslab run`, and more)\n%s",
                  FlagsHelp(Command::kSimulate).c_str());
      return 0;
    }
    const Config& config = parsed.config;
    // Flags of run that have no meaning without sockets: refused rather than ignored.
    if (config.max_checks != 0) throw UsageError("--max-checks: a simulation ends at --duration");
    if (config.output.trace) throw UsageError("--trace: a simulation has no connections to trace");
    if (!config.output.pcap_file.empty()) {
      throw UsageError("--pcap: a simulation has no packets to write");
    }
    if (!config.tls.keylog_file.empty() || !config.tls.cert_file.empty()) {
      throw UsageError("--keylog, --cert: a simulation has no TLS secrets; costs follow --key");
    }
    const std::string path =
        config.simulation.costs_file.empty() ? DefaultCostsPath() : config.simulation.costs_file;
    const CostSet costs = LoadCosts(path);
    SimOptions options;
    std::optional<CheckerCostSet> checker_costs;
    if (!config.simulation.checker_costs_file.empty()) {
      checker_costs = LoadCheckerCosts(config.simulation.checker_costs_file);
      options.checker_costs = &*checker_costs;
    }
    const SimResult result = Simulate(config, costs, options);
    if (config.output.json) {
      std::printf("%s\n", SimulatedJson(result).dump(2).c_str());
      return 0;
    }
    std::printf("%s%s", FormatTable({result.report}).c_str(), FormatDetails(result.report).c_str());
    const nlohmann::json& s = result.simulation;
    std::printf(
        "  simulated (%s engine, costs %s measured on %s): %d LB x %d checker threads; per "
        "backend: server CPU %.3f%%, key rate %.4f/s; all LBs: key rate %.1f/s; %.2f s wall\n",
        s["engine"].get<std::string>().c_str(), s["costs_file"].get<std::string>().c_str(),
        s["costs_measured_on"].get<std::string>().c_str(), s["checkers"].get<int>(),
        s["checker_threads"].get<int>(), s["per_backend"]["server_cpu_percent"].get<double>(),
        s["per_backend"]["key_rate_per_s"].get<double>(),
        s["all_lbs"]["key_rate_per_s"].get<double>(), s["wall_seconds"].get<double>());
    return 0;
  });
}

}  // namespace tlslab
