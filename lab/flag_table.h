// The one flag table of every subcommand, as data: for each flag its name, value type, help,
// choices, the commands that have it, and typed accessors to the Config field it stands for.
// The command line (flags.h: text -> typed value -> Config), the JSON "config" object, the
// Python binding (typed values -> Config, and the description that tlslab.Config is built
// from) all read this table; nothing else lists the flags.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "lab/config.h"

namespace tlslab {

enum class Command { kServe, kCheck, kRun, kIncident, kProbe, kSimulate };
inline constexpr Command kAllCommands[] = {Command::kServe,    Command::kCheck, Command::kRun,
                                           Command::kIncident, Command::kProbe, Command::kSimulate};
// "serve", "check", "run", "incident", "probe", "simulate"
std::string_view Name(Command c);
// Throws UsageError listing the commands that have flags.
Command ParseCommandName(std::string_view name);

enum class FlagType {
  kInt,       // a whole number
  kDuration,  // "2s", "500ms", "1m", "2000" (lab/duration.h)
  kOnOff,     // on|off (also true/false, yes/no, 1/0)
  kEnum,      // one of `choices`
  kString,    // free text (empty = unset)
  kSwitch,    // no value: present = on
  kStrings,   // free text, the flag repeated for more
  kNumber,    // a decimal number such as 0.25
};
std::string_view Name(FlagType t);  // "int", "duration", "on/off", "enum", "string", ...

// A typed flag value. monostate = unset (an optional field the core derives, an empty string).
using FlagValue = std::variant<std::monostate, bool, int64_t, Millis, std::string,
                               std::vector<std::string>, double>;

// What a flag is to a caller that builds a Config from values (the Python binding).
enum class FlagRole {
  kField,   // a Config field of its own
  kAlias,   // another spelling of a field (--no-reuse = --reuse off): set only, never rendered
  kOutput,  // how the command prints (--json); a library always gets the document
};
std::string_view Name(FlagRole r);  // "field", "alias", "output"

struct Flag {
  std::string name;  // without "--"
  FlagType type = FlagType::kString;
  FlagRole role = FlagRole::kField;
  std::string value_name;            // in --help: N, D, on|off, NAME, FILE, ...; empty for a switch
  std::string help;                  // one line, without the default
  std::vector<std::string> choices;  // kEnum: the accepted names
  std::vector<Command> commands;     // the commands that have this flag
  std::string alias_of;              // kAlias: the flag it is another spelling of
  // Typed setter: the value has the type's alternative (kEnum: the name as a string; kSwitch:
  // bool). Throws UsageError "--name: bad value ..." for a value out of the flag's range.
  std::function<void(Config&, const FlagValue&)> set;
  // The field's value; monostate when unset (an optional field, an empty string, a switch
  // that is off for kSwitch is false, not unset).
  std::function<FlagValue(const Config&)> get;

  bool Has(Command c) const;
  std::string field() const;  // the Python name: '-' -> '_'
};

// Every flag of every command, in --help order. A name may appear twice with disjoint
// commands (`profile` is the server's in serve and the checker's in check).
std::vector<Flag> FlagTable();
// The flags of one command, in --help order.
std::vector<Flag> FlagsOf(Command command);

// Flag text -> typed value (the command line, the JSON "config" object). Throws UsageError
// "--name: bad value 'x'; expected ..." naming what is accepted.
FlagValue ParseFlagText(const Flag& flag, const std::string& text);
// Typed value -> flag text, one entry per occurrence on a command line (a switch that is on
// gives {""}, a repeated flag one entry per value, an unset value none).
std::vector<std::string> FlagText(const Flag& flag, const FlagValue& value);

[[noreturn]] void BadFlagValue(const std::string& flag, const std::string& value,
                               const std::string& want);

}  // namespace tlslab
