#pragma once
#include "lab/command_main.h"
namespace tlslab {
int RunCommand(const Args& args);       // tlslab run
int IncidentCommand(const Args& args);  // tlslab incident
int ProfilesCommand(const Args& args);  // tlslab profiles
int GateCommand(const Args& args);      // tlslab gate (execs the Python package)
}  // namespace tlslab
