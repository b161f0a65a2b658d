#pragma once
#include <nlohmann/json.hpp>
#include <optional>

#include "clients/probe.h"
#include "lab/command_main.h"
#include "lab/config.h"
#include "lab/trace.h"

namespace tlslab {
// `tlslab probe HOST:PORT`: is this TLS server strict or lenient? Exit codes in --help.
int ProbeCommand(const Args& args);

// The one Config of the probe command (its flags are lab/flag_table.cc's): the defaults of
// the shared checker fields are the probe's (handshake only, each wait 3 s).
Config ProbeDefaults();
ProbeConfig ToProbeConfig(const Config& config);
// Throws UsageError: --expect, the target (HOST:PORT) and ValidateProbe.
void ValidateProbeCommand(const Config& config);

// One probe, judged, with --expect checked when the target was reached.
struct ProbeOutcome {
  ProbeResult result;
  Verdict verdict;
  std::optional<ExpectOutcome> expect;
};
// stop_fd: readable = stop now (SIGINT/SIGTERM); the result then says interrupted.
ProbeOutcome RunProbeCommand(const Config& config, Trace* trace, int stop_fd = -1);
// The JSON document of `tlslab probe --json` (and of tlslab.probe() in Python).
nlohmann::json ProbeDocument(const Config& config, const ProbeOutcome& outcome);
}  // namespace tlslab
