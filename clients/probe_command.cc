#include "clients/probe_command.h"

#include <cstdio>
#include <memory>
#include <sstream>
#include <vector>

#include "clients/probe.h"
#include "lab/errors.h"
#include "lab/flags.h"
#include "lab/monitor.h"
#include "lab/net.h"

namespace tlslab {
namespace {

// Exit codes, as --help documents them.
constexpr int kExitOk = 0;
constexpr int kExitExpectationNotMet = 1;
constexpr int kExitUnreachable = 3;
constexpr int kExitInterrupted = 130;  // 128 + SIGINT, as run, check and serve

constexpr const char* kUsage =
    "usage: tlslab probe HOST:PORT [flags]\n"
    "Tells whether a TLS server keeps or removes a session after a close without close_notify.\n"
    "For each mechanism (session-id and ticket in TLS 1.2, psk in TLS 1.3): a baseline (clean\n"
    "close, then resume), then per close kind (close_notify, eof = FIN without close_notify,\n"
    "reset = RST) a full handshake, that close, and a connection offering the session,\n"
    "--repeat times. Cells: kept (every attempt resumed), removed (none), flaky k/N.\n";

constexpr const char* kExitCodes =
    "exit codes:\n"
    "  0  probed (and the verdict matches --expect, when given)\n"
    "  1  the verdict does not match --expect (the reason is on stderr); or a local failure\n"
    "  2  bad input: flags, HOST:PORT\n"
    "  3  no verdict: the target is down, is not TLS, refuses every handshake, or failed midway\n";

std::string Pad(std::string s, size_t width) {
  if (s.size() < width) s.append(width - s.size(), ' ');
  return s;
}

// The matrix a person reads at a glance, then the verdict.
std::string FormatProbe(const ProbeConfig& config, const ProbeResult& result,
                        const Verdict& verdict) {
  std::ostringstream out;
  char head[256];
  std::snprintf(head, sizeof head,
                "probe %s: %s checks, %d attempts per close kind, pause %s: %d connections in "
                "%.1f s\n",
                result.target.c_str(), std::string(Name(config.checker.check)).c_str(),
                config.repeat, FormatDuration(config.pause).c_str(), result.connections,
                result.seconds);
  out << head;
  if (!result.rows.empty() && result.reach == Reach::kTls) {
    constexpr size_t kW = 14;
    std::string header = Pad("mechanism", kW) + Pad("version", 9) + Pad("baseline", 10);
    for (CloseKind kind : kProbeCloseKinds) header += Pad(std::string(Name(kind)), kW);
    while (header.back() == ' ') header.pop_back();
    out << header << "\n";
    for (const RowResult& row : result.rows) {
      std::string line = Pad(std::string(Name(row.mechanism)), kW) +
                         Pad(row.version.empty() ? "-" : row.version, 9);
      switch (row.status) {
        case RowStatus::kProbed:
          line += Pad("resumed", 10);
          for (const CellResult& cell : row.cells) line += Pad(CellText(cell), kW);
          break;
        case RowStatus::kNoResumption:
          line += "not resumed even after a clean close: " + row.detail;
          break;
        case RowStatus::kUnsupported:
        case RowStatus::kNoSession:
          line += "n/a: " + row.detail;
          break;
      }
      while (!line.empty() && line.back() == ' ') line.pop_back();
      out << line << "\n";
    }
  }
  out << "verdict: " << verdict.line << "\n";
  return out.str();
}

}  // namespace

Config ProbeDefaults() {
  Config c;
  c.checker = ProbeCheckerDefaults();
  return c;
}

ProbeConfig ToProbeConfig(const Config& c) {
  ProbeConfig p;
  p.target = c.probe.target;
  p.tls = c.tls;
  p.checker = c.checker;
  p.repeat = c.probe.repeat;
  p.pause = c.probe.pause;
  p.pcap_file = c.output.pcap_file;
  return p;
}

void ValidateProbeCommand(const Config& config) {
  if (!config.probe.expect.empty()) ValidateExpectation(config.probe.expect);
  ParseHostPort(config.probe.target);  // throws UsageError with what is accepted
  ValidateProbe(ToProbeConfig(config));
}

ProbeOutcome RunProbeCommand(const Config& config, Trace* trace, int stop_fd) {
  ProbeOutcome out;
  ProbeConfig probe = ToProbeConfig(config);
  probe.stop_fd = stop_fd;
  out.result = RunProbe(probe, trace);
  out.verdict = Judge(out.result);
  if (out.result.reach == Reach::kTls && !config.probe.expect.empty()) {
    out.expect = CheckExpectation(out.verdict, config.probe.expect);
  }
  return out;
}

nlohmann::json ProbeDocument(const Config& config, const ProbeOutcome& outcome) {
  nlohmann::json doc = ProbeJson(ToProbeConfig(config), outcome.result, outcome.verdict);
  if (!config.probe.expect.empty()) {
    const auto& expect = outcome.expect;
    doc["expect"] = {{"value", config.probe.expect},
                     {"met", expect ? nlohmann::json(expect->met) : nlohmann::json(nullptr)},
                     {"reason", expect ? expect->reason : outcome.verdict.line}};
  }
  return doc;
}

int ProbeCommand(const Args& args) {
  return GuardedMain([&] {
    const Config defaults = ProbeDefaults();
    const ParsedFlags parsed = ParseFlags(Command::kProbe, args, defaults);
    if (parsed.help) {
      std::printf("%s%s%s", kUsage, FlagsHelp(Command::kProbe, defaults).c_str(), kExitCodes);
      return kExitOk;
    }
    const Config& config = parsed.config;
    ValidateProbeCommand(config);
    std::unique_ptr<Trace> trace;
    if (config.output.trace) trace = std::make_unique<Trace>(stderr);
    // SIGINT/SIGTERM end the probe as they end a run: what was measured is printed (complete
    // JSON with "interrupted": true) and the exit code is 130.
    const StopSignals signals;
    const ProbeOutcome outcome = RunProbeCommand(config, trace.get(), signals.fd());
    const bool reached = outcome.result.reach == Reach::kTls;
    const std::string& expect = config.probe.expect;
    if (config.output.json) {
      std::printf("%s\n", ProbeDocument(config, outcome).dump(2).c_str());
    } else {
      std::printf("%s",
                  FormatProbe(ToProbeConfig(config), outcome.result, outcome.verdict).c_str());
      if (outcome.expect && outcome.expect->met) std::printf("expect %s: met\n", expect.c_str());
    }
    std::fflush(stdout);
    if (outcome.result.interrupted) {
      std::fprintf(stderr, "tlslab: interrupted: %s\n", outcome.verdict.line.c_str());
      return kExitInterrupted;
    }
    if (!reached) {
      std::fprintf(stderr, "tlslab: error: %s\n", outcome.verdict.line.c_str());
      return kExitUnreachable;
    }
    if (outcome.expect && !outcome.expect->met) {
      std::fprintf(stderr, "tlslab: expectation not met: %s\n", outcome.expect->reason.c_str());
      return kExitExpectationNotMet;
    }
    return kExitOk;
  });
}

}  // namespace tlslab
