// The one way every subcommand reads its command line with Boost.Program_options: no
// abbreviations (a typo is an error, not a guess), unknown flags rejected by name, positional
// arguments collected for the caller to accept or refuse.
#pragma once

#include <boost/program_options.hpp>
#include <string>
#include <vector>

namespace tlslab {

// Parses and stores `args` into `vm`; positional arguments go to `positional`. Throws
// UsageError with one line: "unknown flag '--x'; see HELP_HINT for the accepted flags", or
// Boost's own message for a missing or repeated value.
void ParseCommandLine(const boost::program_options::options_description& desc,
                      const std::vector<std::string>& args, const std::string& help_hint,
                      boost::program_options::variables_map& vm,
                      std::vector<std::string>& positional);

}  // namespace tlslab
