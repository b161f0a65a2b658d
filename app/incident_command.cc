#include <cstdio>
#include <memory>

#include "app/commands.h"
#include "app/lab_run.h"
#include "lab/flags.h"

namespace tlslab {
namespace {

// The incident as written up ("Anatomy of an HAProxy <-> Java TLS bug", retold in
// docs/incident-walkthrough.md): "100s of services and
// backends", HAProxy's default `inter 2000`, and SslBackendKeyRate "continuously over 300",
// i.e. about 600 backends / 2 s. HTTP checks, the path HAProxy 1.7.4 changed.
Config IncidentDefaults() {
  Config c;
  c.server.backends = 600;
  c.checker.inter = Millis(2000);
  c.checker.check = CheckKind::kHttp;
  c.duration = Millis(20000);
  return c;
}

struct Pair {
  const char* checker;
  const char* server;
};
// The broken pair, the fix, and both against a lenient server.
constexpr Pair kPairs[] = {{"haproxy-1.7.3", "strict"},
                           {"haproxy-1.7.4", "strict"},
                           {"haproxy-1.7.3", "lenient"},
                           {"haproxy-1.7.4", "lenient"}};

}  // namespace

int IncidentCommand(const Args& args) {
  return GuardedMain([&] {
    ParsedFlags parsed = ParseFlags(Command::kIncident, args, IncidentDefaults());
    if (parsed.help) {
      std::printf(
          "usage: tlslab incident [flags]\n"
          "Reproduces the HAProxy/Java incident: haproxy-1.7.3 and haproxy-1.7.4 checkers\n"
          "against strict and lenient servers, one run per pair, then a table.\n%s",
          FlagsHelp(Command::kIncident, IncidentDefaults()).c_str());
      return 0;
    }
    StopSignals signals;
    std::vector<RunReport> reports;
    nlohmann::json runs = nlohmann::json::array();
    const Config& base = parsed.config;
    const double expected =
        base.server.backends / std::chrono::duration<double>(base.checker.inter).count();
    if (!base.output.json) {
      std::printf(
          "tlslab incident: %d backends, inter %s, %s checks, %s per pair "
          "(a broken pair pays about %.0f full handshakes/s)\n",
          base.server.backends, FormatDuration(base.checker.inter).c_str(),
          std::string(Name(base.checker.check)).c_str(), FormatDuration(base.duration).c_str(),
          expected);
      std::fflush(stdout);
    }
    for (const Pair& pair : kPairs) {
      Config c = base;
      c.checker.profile = pair.checker;
      c.server.profile = pair.server;
      if (base.output.live) {
        std::fprintf(stderr, "== %s checks %s\n", pair.checker, pair.server);
      }
      RunReport report = RunLab(c, signals.fd(), nullptr);
      runs.push_back(ToJson(report));
      reports.push_back(report);
      if (report.interrupted) break;
    }
    if (base.output.json) {
      std::printf("%s\n", nlohmann::json{{"command", "incident"}, {"runs", runs}}.dump(2).c_str());
    } else {
      std::printf("\n%s\n", FormatTable(reports).c_str());
      for (const RunReport& r : reports) std::printf("%s", FormatDetails(r).c_str());
      std::printf(
          "\nkey rate = full TLS handshakes per second once every backend has had its first "
          "check (HAProxy's SslBackendKeyRate); resumed = share of checks that resumed.\n");
    }
    return reports.back().interrupted ? 130 : 0;
  });
}

}  // namespace tlslab
