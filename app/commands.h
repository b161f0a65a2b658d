#pragma once
#include <nlohmann/json.hpp>

#include "lab/command_main.h"
namespace tlslab {
int RunCommand(const Args& args);        // tlslab run
int IncidentCommand(const Args& args);   // tlslab incident
int ProfilesCommand(const Args& args);   // tlslab profiles
int SimulateCommand(const Args& args);   // tlslab simulate
int CalibrateCommand(const Args& args);  // tlslab calibrate
int GateCommand(const Args& args);       // tlslab gate (execs the Python package)
// The document of `tlslab profiles --json` (and of tlslab.profiles() in Python).
nlohmann::json ProfilesJson();
}  // namespace tlslab
