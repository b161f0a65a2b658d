#include "lab/flags.h"

#include <boost/program_options.hpp>
#include <sstream>

#include "lab/command_line.h"
#include "lab/errors.h"

namespace tlslab {
namespace po = boost::program_options;
namespace {

po::options_description Describe(Command command, const std::vector<Flag>& flags,
                                 const Config* defaults) {
  // probe's help keeps its own caption and width (its help lines are longer).
  po::options_description desc = command == Command::kProbe ? po::options_description("flags", 100)
                                                            : po::options_description();
  for (const Flag& flag : flags) {
    std::string help = flag.help;
    if (flag.type == FlagType::kEnum && flag.value_name == "NAME") {  // else the name lists them
      help += " (" + [&] {
        std::string names;
        for (const std::string& c : flag.choices) names += (names.empty() ? "" : ", ") + c;
        return names;
      }() + ")";
    }
    if (defaults != nullptr && flag.type != FlagType::kSwitch) {
      const std::vector<std::string> d = FlagText(flag, flag.get(*defaults));
      if (!d.empty()) help += " [" + d.front() + "]";
    }
    if (flag.type == FlagType::kSwitch) {
      desc.add_options()(flag.name.c_str(), help.c_str());
    } else if (flag.type == FlagType::kStrings) {
      desc.add_options()(flag.name.c_str(),
                         po::value<std::vector<std::string>>()->value_name(flag.value_name),
                         help.c_str());
    } else {
      desc.add_options()(flag.name.c_str(), po::value<std::string>()->value_name(flag.value_name),
                         help.c_str());
    }
  }
  desc.add_options()("help,h", "show this help");
  return desc;
}

// The positional arguments a command takes: only probe has one, its target.
void TakePositional(Command command, const std::vector<std::string>& positional, Config& config) {
  if (command != Command::kProbe) {
    if (!positional.empty()) {
      throw UsageError("unexpected argument '" + positional.front() + "'; see --help");
    }
    return;
  }
  if (positional.empty()) {
    throw UsageError("probe needs a target: tlslab probe HOST:PORT (e.g. 127.0.0.1:8443)");
  }
  if (positional.size() > 1) {
    throw UsageError("unexpected argument '" + positional[1] + "'; probe takes one HOST:PORT");
  }
  config.probe.target = positional.front();
}

}  // namespace

ParsedFlags ParseFlags(Command command, const std::vector<std::string>& args, const Config& base) {
  const std::vector<Flag> flags = FlagsOf(command);
  const po::options_description desc = Describe(command, flags, nullptr);
  po::variables_map vm;
  ParsedFlags out;
  out.config = base;
  const std::string hint = command == Command::kProbe ? "tlslab probe --help" : "--help";
  ParseCommandLine(desc, args, hint, vm, out.positional);
  if (vm.count("help")) {
    out.help = true;
    return out;
  }
  for (const Flag& flag : flags) {
    if (!vm.count(flag.name)) continue;
    if (flag.type == FlagType::kSwitch) {
      flag.set(out.config, true);
    } else if (flag.type == FlagType::kStrings) {
      flag.set(out.config, vm[flag.name].as<std::vector<std::string>>());
    } else {
      flag.set(out.config, ParseFlagText(flag, vm[flag.name].as<std::string>()));
    }
  }
  TakePositional(command, out.positional, out.config);
  // A simulation has wider bounds (backends, duration) than sockets allow (lab/config.h).
  if (command == Command::kSimulate) out.config.simulation.enabled = true;
  if (command != Command::kProbe) Validate(out.config);
  return out;
}

std::vector<std::string> ToArgv(Command command, const Config& config) {
  std::vector<std::string> argv;
  if (command == Command::kProbe && !config.probe.target.empty()) {
    argv.push_back(config.probe.target);
  }
  for (const Flag& flag : FlagsOf(command)) {
    if (flag.role == FlagRole::kAlias) continue;
    for (const std::string& value : FlagText(flag, flag.get(config))) {
      argv.push_back("--" + flag.name);
      if (flag.type != FlagType::kSwitch) argv.push_back(value);
    }
  }
  return argv;
}

nlohmann::json ConfigJson(Command command, const Config& config) {
  nlohmann::json out = nlohmann::json::object();
  for (const Flag& flag : FlagsOf(command)) {
    if (flag.role == FlagRole::kAlias) continue;
    const std::vector<std::string> text = FlagText(flag, flag.get(config));
    if (text.empty()) continue;
    if (flag.type == FlagType::kSwitch) {
      out[flag.name] = true;
    } else if (flag.type == FlagType::kStrings) {
      out[flag.name] = text;
    } else {
      out[flag.name] = text.front();
    }
  }
  return out;
}

std::string FlagsHelp(Command command, const Config& defaults) {
  std::ostringstream out;
  out << Describe(command, FlagsOf(command), &defaults);
  return out.str();
}

}  // namespace tlslab
