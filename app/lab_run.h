// Server and checker in one process on separate threads (`tlslab run`, `tlslab incident`,
// and Python's tlslab.run): the checker checks every backend of the in-process server.
#pragma once

#include "lab/monitor.h"
#include "lab/report.h"
#include "lab/trace.h"

namespace tlslab {

RunReport RunLab(const Config& config, int stop_fd, Trace* trace);

}  // namespace tlslab
