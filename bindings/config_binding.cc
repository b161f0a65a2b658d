// Flags, defaults and validation, all from lab/flags.h: the Python Config validates by asking
// for the canonical argv, so validation lives in one place (C++).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bindings/bindings.h"
#include "lab/duration.h"
#include "lab/errors.h"
#include "lab/flags.h"
#include "lab/report.h"

namespace py = pybind11;

namespace tlslab::bindings {
namespace {

std::vector<std::string> Canonical(const std::string& command,
                                   const std::vector<std::string>& args) {
  const Command c = ParseCommand(command);
  ParsedFlags parsed = ParseFlags(c, args);
  if (parsed.help) throw UsageError("--help is not a configuration flag");
  return ToArgv(c, parsed.config);
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
  m.def(
      "flags_help", [](const std::string& command) { return FlagsHelp(ParseCommand(command)); },
      py::arg("command"), "The --help text of a command: every flag, its value and default.");
  m.def(
      "defaults",
      [](const std::string& command) {
        const Command c = ParseCommand(command);
        return py::module_::import("json").attr("loads")(ConfigJson(c, Config{}).dump());
      },
      py::arg("command"),
      "Flag name -> default text (true for a switch that is on) of Config{}; optional flags "
      "that are unset by default are absent.");
  m.def("canonical", &Canonical, py::arg("command"), py::arg("argv"),
        "Parses and validates argv as the flags of `command`, then returns the canonical argv "
        "of the result (every field, defaults included). Raises UsageError (a ValueError) with "
        "one line naming the flag.");
  m.def("parse_duration_ms", &ParseDurationMs, py::arg("text"),
        "'2s' -> 2000, '500ms' -> 500, '2000' -> 2000 (a bare number is milliseconds).");
  m.def(
      "format_duration", [](int64_t ms) { return FormatDuration(Millis(ms)); }, py::arg("ms"),
      "2000 -> '2s': the shortest exact spelling.");
}

}  // namespace tlslab::bindings
