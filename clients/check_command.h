#pragma once
#include "lab/command_main.h"
namespace tlslab {
// `tlslab check`: HAProxy-style health checks against any TLS targets.
int CheckCommand(const Args& args);
}  // namespace tlslab
