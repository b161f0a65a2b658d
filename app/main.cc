// tlslab: one command, subcommands in the folders they belong to.
#include <cstdio>
#include <string>
#include <string_view>

#include "app/commands.h"
#include "clients/check_command.h"
#include "clients/probe_command.h"
#include "lab/report.h"
#include "lab/text.h"
#include "servers/serve_command.h"

namespace {

constexpr const char* kUsage =
    "usage: tlslab COMMAND [flags]   (tlslab COMMAND --help for its flags)\n"
    "  incident   reproduce the HAProxy/Java incident: before and after the fix (the main job)\n"
    "  run        server and checker in one process; figures per side\n"
    "  serve      strict or lenient TLS backends (virtual, many per process)\n"
    "  check      HAProxy-style TLS health checks against any targets\n"
    "  probe      is this TLS server strict or lenient? (tlslab probe HOST:PORT)\n"
    "  simulate   the flags of run, simulated: any scale, hours and days, from a cost file\n"
    "  calibrate  measure this machine's CPU cost per TLS operation: a cost file for simulate\n"
    "  profiles   the server and checker profiles, with their sources\n"
    "  gate       check the CI gates of a gates file (docs/ci-gating.md)\n"
    "  version    versions of tlslab and OpenSSL\n";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  const std::string_view command = argv[1];
  const tlslab::Args args(argv + 2, argv + argc);
  if (command == "incident") return tlslab::IncidentCommand(args);
  if (command == "run") return tlslab::RunCommand(args);
  if (command == "serve") return tlslab::ServeCommand(args);
  if (command == "check") return tlslab::CheckCommand(args);
  if (command == "probe") return tlslab::ProbeCommand(args);
  if (command == "simulate") return tlslab::SimulateCommand(args);
  if (command == "calibrate") return tlslab::CalibrateCommand(args);
  if (command == "profiles") return tlslab::ProfilesCommand(args);
  if (command == "gate") return tlslab::GateCommand(args);
  if (command == "version" || command == "--version") {
    if (argc > 2) {  // flags are not ignored silently
      std::fprintf(stderr, "tlslab: error: version takes no flags, got '%s'\n",
                   tlslab::Printable(argv[2]).c_str());
      return 2;
    }
    std::printf("%s\n", tlslab::Versions().dump().c_str());
    return 0;
  }
  if (command == "help" || command == "--help" || command == "-h") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  std::fprintf(stderr, "tlslab: error: unknown command '%s'\n%s",
               tlslab::Printable(argv[1]).c_str(), kUsage);
  return 2;
}
