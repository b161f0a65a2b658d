#include "clients/check_command.h"

#include <cstdio>
#include <memory>

#include "clients/check_run.h"
#include "clients/checker_engine.h"
#include "lab/flags.h"

namespace tlslab {

int CheckCommand(const Args& args) {
  return GuardedMain([&] {
    ParsedFlags parsed = ParseFlags(Command::kCheck, args);
    if (parsed.help) {
      std::printf("usage: tlslab check (--target HOST:PORT ... | --targets-file FILE) [flags]\n%s",
                  FlagsHelp(Command::kCheck).c_str());
      return 0;
    }
    const Config& config = parsed.config;
    std::vector<Endpoint> targets = LoadTargets(config.checker);
    StopSignals signals;
    std::unique_ptr<Trace> trace;
    if (config.output.trace) trace = std::make_unique<Trace>(stderr);
    RunReport report = RunChecks(Command::kCheck, config, std::move(targets), std::nullopt,
                                 signals.fd(), trace.get());
    if (config.output.json) {
      std::printf("%s\n", ToJson(report).dump(2).c_str());
    } else {
      std::printf("%s%s", FormatTable({report}).c_str(), FormatDetails(report).c_str());
    }
    return report.interrupted ? 130 : 0;
  });
}

}  // namespace tlslab
