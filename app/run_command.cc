#include <cstdio>
#include <memory>

#include "app/commands.h"
#include "app/lab_run.h"
#include "lab/flags.h"

namespace tlslab {

int RunCommand(const Args& args) {
  return GuardedMain([&] {
    ParsedFlags parsed = ParseFlags(Command::kRun, args);
    if (parsed.help) {
      std::printf("usage: tlslab run [flags]\n%s", FlagsHelp(Command::kRun).c_str());
      return 0;
    }
    StopSignals signals;
    std::unique_ptr<Trace> trace;
    if (parsed.config.output.trace) trace = std::make_unique<Trace>(stderr);
    RunReport report = RunLab(parsed.config, signals.fd(), trace.get());
    if (parsed.config.output.json) {
      std::printf("%s\n", ToJson(report).dump(2).c_str());
    } else {
      std::printf("%s%s", FormatTable({report}).c_str(), FormatDetails(report).c_str());
    }
    return report.interrupted ? 130 : 0;
  });
}

}  // namespace tlslab
