#include "app/lab_run.h"

#include "clients/check_run.h"
#include "servers/server_engine.h"

namespace tlslab {

RunReport RunLab(const Config& config, int stop_fd, Trace* trace) {
  ServerEngine server(config, trace);
  server.Start();
  ServerSide side{[&server] { return server.Totals(); }, [&server] { return server.CpuNs(); }};
  RunReport report = RunChecks(Command::kRun, config, server.endpoints(), side, stop_fd, trace);
  server.Stop();
  server.Join();
  report.server = server.Totals();
  return report;
}

}  // namespace tlslab
