// The flag table (lab/flag_table.h) as Python data, and Python values -> a validated C++ Config
// through the table's typed setters: one conversion per value, no argv and no help text in
// between. tlslab.Config (bindings/tlslab/config.py) is built from describe_flags().
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <limits>
#include <optional>
#include <utility>

#include "bindings/bindings.h"
#include "clients/probe_command.h"
#include "lab/duration.h"
#include "lab/errors.h"
#include "lab/flags.h"

namespace py = pybind11;

namespace tlslab::bindings {
namespace {

// A bad value of one or more Python fields; raised in Python as tlslab.ConfigError.
struct FieldError {
  std::string message;
  std::vector<std::string> fields;
};

// The defaults a command starts from (probe's checker waits and check kind are its own).
Config DefaultsOf(Command command) {
  return command == Command::kProbe ? ProbeDefaults() : Config{};
}

py::object ToPython(const Flag& flag, const FlagValue& v) {
  return std::visit(
      [&](const auto& x) -> py::object {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
          return py::none();
        } else if constexpr (std::is_same_v<T, Millis>) {
          return py::str(FormatDuration(x));
        } else {
          (void)flag;
          return py::cast(x);
        }
      },
      v);
}

[[noreturn]] void WrongType(const std::string& want) { throw UsageError("expected " + want); }

Millis SecondsToMillis(double seconds) {
  const double ms = seconds * 1000.0;
  if (!std::isfinite(ms) || std::abs(ms - std::round(ms)) > 1e-6 ||
      std::abs(ms) > static_cast<double>(std::numeric_limits<int64_t>::max() / 2)) {
    throw UsageError("a duration in seconds must be a whole number of milliseconds");
  }
  return Millis(static_cast<int64_t>(std::llround(ms)));
}

// A duration as Python spells it: text in the core's grammar (lab/duration.h), seconds as a
// number, or a datetime.timedelta.
Millis DurationFromPython(py::handle v) {
  if (py::isinstance<py::str>(v)) {
    auto d = ParseDuration(v.cast<std::string>());
    if (!d) WrongType("a duration such as 2s, 500ms, 1m or 2000 (milliseconds)");
    return *d;
  }
  if (!py::isinstance<py::bool_>(v) &&
      (py::isinstance<py::int_>(v) || py::isinstance<py::float_>(v))) {
    return SecondsToMillis(v.cast<double>());
  }
  if (py::hasattr(v, "total_seconds")) {  // datetime.timedelta
    return SecondsToMillis(v.attr("total_seconds")().cast<double>());
  }
  WrongType("a duration: \"2s\", \"500ms\", seconds as a number, or a timedelta");
}

// A Python value -> the flag's typed value. Strings go through the flag's own text parser,
// so "2s", "off" and "1.3" mean what they mean on the command line.
FlagValue FromPython(const Flag& flag, py::handle v) {
  const bool is_bool = py::isinstance<py::bool_>(v);
  if (py::isinstance<py::str>(v) && flag.type != FlagType::kStrings &&
      flag.type != FlagType::kSwitch) {
    return ParseFlagText(flag, v.cast<std::string>());
  }
  switch (flag.type) {
    case FlagType::kInt:
      if (!is_bool && py::isinstance<py::int_>(v)) {
        try {
          return v.cast<int64_t>();
        } catch (const py::cast_error&) {
          WrongType("a whole number");
        }
      }
      if (py::isinstance<py::float_>(v)) {
        const double d = v.cast<double>();
        if (std::isfinite(d) && d == std::floor(d) && std::abs(d) < 9e15) {
          return static_cast<int64_t>(d);
        }
      }
      WrongType("a whole number");
    case FlagType::kDuration:
      return DurationFromPython(v);
    case FlagType::kOnOff:
      if (is_bool) return v.cast<bool>();
      WrongType("True or False");
    case FlagType::kSwitch:
      return py::bool_(py::reinterpret_borrow<py::object>(v)).cast<bool>();
    case FlagType::kNumber:
      if (!is_bool && (py::isinstance<py::int_>(v) || py::isinstance<py::float_>(v))) {
        const double d = v.cast<double>();
        if (std::isfinite(d)) return d;
      }
      WrongType("a number");
    case FlagType::kStrings:
      if (py::isinstance<py::str>(v)) return std::vector<std::string>{v.cast<std::string>()};
      try {
        return v.cast<std::vector<std::string>>();
      } catch (const py::cast_error&) {
        WrongType("a list of strings");
      }
    case FlagType::kEnum:
      WrongType("one of " + [&] {
        std::string names;
        for (const std::string& c : flag.choices) names += (names.empty() ? "" : ", ") + c;
        return names;
      }());
    case FlagType::kString:
      if (py::hasattr(v, "__fspath__")) return py::str(v.attr("__fspath__")()).cast<std::string>();
      if (!is_bool && (py::isinstance<py::int_>(v) || py::isinstance<py::float_>(v))) {
        return py::str(v).cast<std::string>();
      }
      WrongType("a string");
  }
  WrongType("a value");
}

std::string Prefix(const std::string& field, py::handle value) {
  return field + "=" + py::repr(value).cast<std::string>() + ": ";
}

// Sets `field` on `config`; FieldError naming it when the value is bad.
void SetField(const Flag& flag, py::handle value, Config& config) {
  try {
    flag.set(config, FromPython(flag, value));
  } catch (const UsageError& e) {
    throw FieldError{Prefix(flag.field(), value) + e.what(), {flag.field()}};
  }
}

void ValidateFor(Command command, const Config& config) {
  if (command != Command::kProbe) Validate(config);
}

// Builds the Config of `command` from field -> Python value (None = the default) over `base`.
// Aliases (no_reuse) apply after the fields, and contradict a field set otherwise. A rule
// that Validate() enforces across fields is attributed to the fields that break it alone,
// else to those its message names.
Config Build(Command command, const py::dict& values, const Config& base) {
  const std::vector<Flag> flags = FlagsOf(command);
  auto find = [&](const std::string& field) -> const Flag* {
    for (const Flag& f : flags) {
      if (f.field() == field) return &f;
    }
    return nullptr;
  };
  Config config = base;
  std::vector<std::pair<const Flag*, py::handle>> given, aliases;
  for (const auto& [key, value] : values) {
    const std::string field = py::str(key).cast<std::string>();
    const Flag* flag = find(field);
    if (flag == nullptr) {
      std::string known;
      for (const Flag& f : flags) known += (known.empty() ? "" : ", ") + f.field();
      throw FieldError{"unknown field '" + field + "'; known fields: " + known, {field}};
    }
    if (value.is_none()) continue;
    (flag->role == FlagRole::kAlias ? aliases : given).emplace_back(flag, value);
  }
  for (const auto& [flag, value] : given) SetField(*flag, value, config);
  for (const auto& [flag, value] : aliases) {
    const Flag* target = find(flag->alias_of);
    const FlagValue before = target->get(config);
    SetField(*flag, value, config);
    const bool explicit_target =
        values.contains(target->field()) && !values[py::str(target->field())].is_none();
    if (explicit_target && target->get(config) != before) {
      throw FieldError{
          target->field() + "=" + py::repr(values[py::str(target->field())]).cast<std::string>() +
              " contradicts " + flag->field() + "=" + py::repr(value).cast<std::string>(),
          {target->field(), flag->field()}};
    }
  }
  try {
    ValidateFor(command, config);
  } catch (const UsageError& e) {
    const std::string message = e.what();
    for (const auto& [flag, value] : given) {
      Config alone = base;
      flag->set(alone, FromPython(*flag, value));
      try {
        ValidateFor(command, alone);
      } catch (const UsageError&) {
        throw FieldError{Prefix(flag->field(), value) + message, {flag->field()}};
      }
    }
    std::vector<std::string> named;
    for (const auto& [flag, value] : given) {
      if (message.find("--" + flag->name) != std::string::npos) named.push_back(flag->field());
    }
    if (named.empty()) {
      for (const auto& [flag, value] : given) named.push_back(flag->field());
    }
    std::string list;
    for (const std::string& n : named) list += (list.empty() ? "" : ", ") + n;
    throw FieldError{list + ": " + message, named};
  }
  return config;
}

BoundConfig BuildConfig(const std::string& command_name, const py::dict& values,
                        const std::optional<BoundConfig>& base) {
  const Command command = ParseCommandName(command_name);
  try {
    return {command, Build(command, values, base ? base->config : DefaultsOf(command))};
  } catch (const FieldError& e) {
    py::object error_type = py::module_::import("tlslab._flags").attr("ConfigError");
    py::object error = error_type(e.message, e.fields);
    PyErr_SetObject(error_type.ptr(), error.ptr());
    throw py::error_already_set();
  }
}

py::dict Values(const BoundConfig& b) {
  py::dict out;
  for (const Flag& flag : FlagsOf(b.command)) {
    if (flag.role != FlagRole::kField) continue;
    out[py::str(flag.field())] = ToPython(flag, flag.get(b.config));
  }
  return out;
}

py::list DescribeFlags(const std::string& command_name) {
  const Command command = ParseCommandName(command_name);
  const Config defaults = DefaultsOf(command);
  py::list rows;
  for (const Flag& flag : FlagsOf(command)) {
    py::dict row;
    row["name"] = flag.name;
    row["field"] = flag.field();
    row["type"] = std::string(Name(flag.type));
    row["role"] = std::string(Name(flag.role));
    row["alias_of"] = flag.alias_of.empty() ? py::object(py::none()) : py::str(flag.alias_of);
    row["value_name"] = flag.value_name;
    row["default"] = ToPython(flag, flag.get(defaults));
    row["choices"] = flag.choices;
    row["help"] = flag.help;
    py::list commands;
    for (Command c : flag.commands) commands.append(std::string(Name(c)));
    row["commands"] = commands;
    rows.append(row);
  }
  return rows;
}

int64_t ParseDurationMs(const std::string& text) {
  auto d = ParseDuration(text);
  if (!d) {
    throw UsageError("bad duration '" + text +
                     "'; expected a duration such as 2s, 500ms, 1m or 2000 (milliseconds)");
  }
  return d->count();
}

}  // namespace

void RegisterConfig(py::module_& m) {
  py::class_<BoundConfig>(m, "CoreConfig",
                          "A validated C++ Config and the command whose flags describe it.")
      .def_property_readonly("command",
                             [](const BoundConfig& b) { return std::string(Name(b.command)); })
      .def("values", &Values, "Field -> canonical Python value (None when unset).")
      .def(
          "argv", [](const BoundConfig& b) { return ToArgv(b.command, b.config); },
          "The flags that reproduce this Config on the command line (ToArgv).")
      .def(
          "json", [](const BoundConfig& b) { return ToPython(ConfigJson(b.command, b.config)); },
          "The \"config\" object of the JSON document: flag name -> text.")
      .def("__eq__", [](const BoundConfig& a, const BoundConfig& b) {
        return a.command == b.command && a.config == b.config;
      });
  m.def("describe_flags", &DescribeFlags, py::arg("command"),
        "The flags of a command, from the one table (lab/flag_table.cc): one dict per flag with "
        "name, field, type, role, alias_of, value_name, default, choices, help, commands.");
  m.def("build_config", &BuildConfig, py::arg("command"), py::arg("values"),
        py::arg("base") = std::nullopt,
        "Field -> Python value (None = default) -> a validated CoreConfig, through the table's "
        "typed setters. Raises tlslab.ConfigError naming the field(s).");
  m.def(
      "duration_ms", [](py::handle v) { return DurationFromPython(v).count(); }, py::arg("value"),
      "A duration in milliseconds: '2s', '500ms', '2000' (ms) by the core's grammar, seconds "
      "as a number, or a timedelta. Raises UsageError (a ValueError).");
  m.def("parse_duration_ms", &ParseDurationMs, py::arg("text"),
        "'2s' -> 2000, '500ms' -> 500, '2000' -> 2000 (a bare number is milliseconds).");
  m.def(
      "format_duration", [](int64_t ms) { return FormatDuration(Millis(ms)); }, py::arg("ms"),
      "2000 -> '2s': the shortest exact spelling.");
}

}  // namespace tlslab::bindings
