// The names of commands, flag types and roles, and the text form of flag values (the command
// line and the JSON "config" object): lab/flag_table.h.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "lab/errors.h"
#include "lab/flag_table.h"

namespace tlslab {

std::string_view Name(Command c) {
  switch (c) {
    case Command::kServe:
      return "serve";
    case Command::kCheck:
      return "check";
    case Command::kRun:
      return "run";
    case Command::kIncident:
      return "incident";
    case Command::kProbe:
      return "probe";
    case Command::kSimulate:
      return "simulate";
  }
  return "?";
}

Command ParseCommandName(std::string_view name) {
  for (Command c : kAllCommands) {
    if (Name(c) == name) return c;
  }
  throw UsageError("unknown command '" + std::string(name) +
                   "'; expected serve, check, run, incident, probe or simulate");
}

std::string_view Name(FlagType t) {
  switch (t) {
    case FlagType::kInt:
      return "int";
    case FlagType::kDuration:
      return "duration";
    case FlagType::kOnOff:
      return "on/off";
    case FlagType::kEnum:
      return "enum";
    case FlagType::kString:
      return "string";
    case FlagType::kSwitch:
      return "switch";
    case FlagType::kStrings:
      return "strings";
    case FlagType::kNumber:
      return "number";
  }
  return "?";
}

std::string_view Name(FlagRole r) {
  switch (r) {
    case FlagRole::kField:
      return "field";
    case FlagRole::kAlias:
      return "alias";
    case FlagRole::kOutput:
      return "output";
  }
  return "?";
}

bool Flag::Has(Command c) const {
  return std::find(commands.begin(), commands.end(), c) != commands.end();
}

std::string Flag::field() const {
  std::string out = name;
  std::replace(out.begin(), out.end(), '-', '_');
  return out;
}

void BadFlagValue(const std::string& flag, const std::string& value, const std::string& want) {
  throw UsageError("--" + flag + ": bad value '" + value + "'; expected " + want);
}

FlagValue ParseFlagText(const Flag& flag, const std::string& text) {
  switch (flag.type) {
    case FlagType::kInt: {
      int64_t v = 0;
      auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
      if (ec != std::errc() || ptr != text.data() + text.size()) {
        BadFlagValue(flag.name, text, "a whole number");
      }
      return v;
    }
    case FlagType::kDuration: {
      auto d = ParseDuration(text);
      if (!d) {
        BadFlagValue(flag.name, text, "a duration such as 2s, 500ms, 1m or 2000 (milliseconds)");
      }
      return *d;
    }
    case FlagType::kOnOff:
      if (text == "on" || text == "true" || text == "1" || text == "yes") return true;
      if (text == "off" || text == "false" || text == "0" || text == "no") return false;
      BadFlagValue(flag.name, text, "on or off");
    case FlagType::kSwitch:
      return true;
    case FlagType::kStrings:
      return std::vector<std::string>{text};
    case FlagType::kNumber: {
      double v = 0;
      auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
      if (ec != std::errc() || ptr != text.data() + text.size() || !std::isfinite(v)) {
        BadFlagValue(flag.name, text, "a number such as 0.25");
      }
      return v;
    }
    case FlagType::kEnum:
    case FlagType::kString:
      return text;
  }
  return text;
}

std::vector<std::string> FlagText(const Flag& flag, const FlagValue& value) {
  if (std::holds_alternative<std::monostate>(value)) return {};
  switch (flag.type) {
    case FlagType::kInt:
      return {std::to_string(std::get<int64_t>(value))};
    case FlagType::kDuration:
      return {FormatDuration(std::get<Millis>(value))};
    case FlagType::kOnOff:
      return {std::get<bool>(value) ? "on" : "off"};
    case FlagType::kSwitch:
      if (std::get<bool>(value)) return {""};
      return {};
    case FlagType::kStrings:
      return std::get<std::vector<std::string>>(value);
    case FlagType::kNumber: {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.10g", std::get<double>(value));
      return {buf};
    }
    case FlagType::kEnum:
    case FlagType::kString:
      return {std::get<std::string>(value)};
  }
  return {};
}

}  // namespace tlslab
