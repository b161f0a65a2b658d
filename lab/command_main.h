// What every subcommand's entry point shares: turning exceptions into one line and an exit
// code (2 for bad input, 1 for a refusal of the environment), never a crash or a traceback.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace tlslab {

using Args = std::vector<std::string>;

int GuardedMain(const std::function<int()>& body);

}  // namespace tlslab
