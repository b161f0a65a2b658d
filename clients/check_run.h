// A whole checker run: engine, 1 Hz monitor, stats socket, and the report at the end.
// `tlslab check` runs it against any targets; `tlslab run` adds an in-process server.
#pragma once

#include <functional>
#include <optional>
#include <vector>

#include "lab/metrics.h"
#include "lab/monitor.h"
#include "lab/net.h"
#include "lab/report.h"
#include "lab/trace.h"

namespace tlslab {

// The server side of the same run, when there is one in this process.
struct ServerSide {
  std::function<ServerTotals()> totals;
  std::function<uint64_t()> cpu_ns;
  std::function<std::vector<BackendFigures>()> per_backend;  // for --metrics
};

RunReport RunChecks(Command command, const Config& config, std::vector<Endpoint> targets,
                    const std::optional<ServerSide>& server, int stop_fd, Trace* trace);

}  // namespace tlslab
