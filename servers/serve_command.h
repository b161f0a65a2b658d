#pragma once
#include "lab/command_main.h"
namespace tlslab {
// `tlslab serve`: N virtual backends with a server profile.
int ServeCommand(const Args& args);
}  // namespace tlslab
