#include "app/lab_run.h"

#include "clients/check_run.h"
#include "servers/server_engine.h"

namespace tlslab {

RunReport RunLab(const Config& config, int stop_fd, Trace* trace) {
  // Both sides of every connection are in this process: record each once, from the checker.
  // Both sides' descriptors in one process, reserved (or refused) before either is built.
  EnsureFileLimit(RunDescriptors(static_cast<size_t>(config.server.backends)));
  Config server_config = config;
  server_config.output.pcap_file.clear();
  ServerEngine server(server_config, trace);
  server.Start();
  ServerSide side{[&server] { return server.Totals(); }, [&server] { return server.CpuNs(); },
                  [&server] { return server.PerBackend(); }};
  RunReport report = RunChecks(Command::kRun, config, server.endpoints(), side, stop_fd, trace);
  server.Stop();
  server.Join();
  // The totals after the join hold the checks drained after the deadline too.
  const double seconds = report.server ? report.server->seconds : 0.0;
  report.server = ServerFigures{server.Totals(), seconds, server.CpuNs()};
  return report;
}

}  // namespace tlslab
