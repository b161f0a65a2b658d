#pragma once
#include "lab/command_main.h"
namespace tlslab {
// `tlslab probe HOST:PORT`: is this TLS server strict or lenient? Exit codes in --help.
int ProbeCommand(const Args& args);
}  // namespace tlslab
