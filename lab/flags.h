// The command line over the flag table (flag_table.h): ParseFlags reads text into a Config,
// ToArgv turns a Config into the argv that reproduces it (to spawn processes, and to test that
// every field has a flag: ParseFlags(ToArgv(c)) == c), ConfigJson renders the "config" object
// of a JSON document field by field.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "lab/config.h"
#include "lab/flag_table.h"

namespace tlslab {

struct ParsedFlags {
  Config config;
  bool help = false;
  std::vector<std::string> positional;  // what was not a flag (only probe accepts one)
};

// Parses args (without the program and subcommand names) over `base`; validates the result
// (probe: its own ValidateProbe, clients/probe.h, which the caller runs). Throws UsageError
// with one line naming the flag and what it accepts.
ParsedFlags ParseFlags(Command command, const std::vector<std::string>& args,
                       const Config& base = Config{});

// Every flag of `command` whose value is set, defaults included; aliases never; probe's
// target first, as its positional argument.
std::vector<std::string> ToArgv(Command command, const Config& config);

// Flag name -> text, as on the command line (true for a switch that is on, a list for a
// repeated flag); unset optional flags are absent.
nlohmann::json ConfigJson(Command command, const Config& config);

// The --help text of a command, with the defaults read from `defaults`.
std::string FlagsHelp(Command command, const Config& defaults = Config{});

}  // namespace tlslab
