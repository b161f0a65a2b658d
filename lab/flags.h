// Command-line flags bound to Config fields (Boost.Program_options), and the way back: ToArgv
// turns a Config into the argv that reproduces it, to spawn processes and to test that every
// field has a flag (ParseFlags(ToArgv(c)) == c).
#pragma once

#include <string>
#include <vector>

#include "lab/config.h"

namespace tlslab {

enum class Command { kServe, kCheck, kRun, kIncident, kSimulate };

struct ParsedFlags {
  Config config;
  bool help = false;
  std::vector<std::string> positional;  // what was not a flag (none is accepted yet)
};

// Parses args (without the program and subcommand names) over `base`; validates the result.
// Throws UsageError with one line naming the flag and what it accepts.
ParsedFlags ParseFlags(Command command, const std::vector<std::string>& args,
                       const Config& base = Config{});

std::vector<std::string> ToArgv(Command command, const Config& config);

// The --help text of a command, with defaults read from Config{}.
std::string FlagsHelp(Command command);

}  // namespace tlslab
