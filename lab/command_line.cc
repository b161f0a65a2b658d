#include "lab/command_line.h"

#include "lab/errors.h"

namespace tlslab {
namespace po = boost::program_options;

void ParseCommandLine(const po::options_description& desc, const std::vector<std::string>& args,
                      const std::string& help_hint, po::variables_map& vm,
                      std::vector<std::string>& positional) {
  try {
    po::parsed_options parsed =
        po::command_line_parser(args)
            .options(desc)
            .allow_unregistered()
            .style(po::command_line_style::unix_style ^ po::command_line_style::allow_guessing)
            .run();
    for (const auto& opt : parsed.options) {
      // Without a positional_options_description, Boost keeps a positional argument as an
      // option with an empty name, position_key >= 0 and unregistered == false.
      if (opt.position_key >= 0) {
        positional.insert(positional.end(), opt.value.begin(), opt.value.end());
      } else if (opt.unregistered) {
        throw UsageError("unknown flag '" + opt.original_tokens.front() + "'; see " + help_hint +
                         " for the accepted flags");
      }
    }
    po::store(parsed, vm);
  } catch (const po::error& e) {
    throw UsageError(e.what());
  }
}

}  // namespace tlslab
