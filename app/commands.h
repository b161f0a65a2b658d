#pragma once
#include "lab/command_main.h"
namespace tlslab {
int RunCommand(const Args& args);        // tlslab run
int IncidentCommand(const Args& args);   // tlslab incident
int ProfilesCommand(const Args& args);   // tlslab profiles
int SimulateCommand(const Args& args);   // tlslab simulate
int CalibrateCommand(const Args& args);  // tlslab calibrate
}  // namespace tlslab
