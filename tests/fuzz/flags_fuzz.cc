// libFuzzer: the command-line flags (lab/flags.cc, lab/command_line.cc, Validate). The first
// byte picks the command; the rest is argv split at NUL bytes. Bad input must be a UsageError
// (one line, exit 2), never a crash, and a config that parses survives ToArgv unchanged.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "lab/errors.h"
#include "lab/flags.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tlslab;
  if (size == 0 || size > 4096) return 0;
  constexpr Command kCommands[] = {Command::kServe, Command::kCheck, Command::kRun,
                                   Command::kIncident};
  const Command command = kCommands[data[0] % 4];
  std::vector<std::string> args(1);
  for (size_t i = 1; i < size; ++i) {
    if (data[i] == 0) {
      args.emplace_back();
    } else {
      args.back() += static_cast<char>(data[i]);
    }
  }
  try {
    ParsedFlags parsed = ParseFlags(command, args);
    if (!parsed.help &&
        ParseFlags(command, ToArgv(command, parsed.config)).config != parsed.config) {
      __builtin_trap();  // a field whose flag does not bring it back
    }
  } catch (const UsageError&) {
  }
  return 0;
}
