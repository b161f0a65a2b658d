#include "clients/probe_command.h"

#include <boost/program_options.hpp>
#include <charconv>
#include <cstdio>
#include <memory>
#include <sstream>
#include <vector>

#include "clients/probe.h"
#include "lab/command_line.h"
#include "lab/errors.h"
#include "lab/net.h"

namespace tlslab {
namespace po = boost::program_options;
namespace {

// Exit codes, as --help documents them.
constexpr int kExitOk = 0;
constexpr int kExitExpectationNotMet = 1;
constexpr int kExitUnreachable = 3;

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

struct ProbeFlags {
  ProbeConfig config;
  std::string expect;
  bool json = false;
  bool trace = false;
  bool help = false;
};

[[noreturn]] void Bad(const std::string& flag, const std::string& value, const std::string& want) {
  throw UsageError("--" + flag + ": bad value '" + value + "'; expected " + want);
}

Millis ToMillis(const std::string& flag, const std::string& text) {
  auto d = ParseDuration(text);
  if (!d) Bad(flag, text, "a duration such as 3s, 500ms or 2000 (milliseconds)");
  return *d;
}

// One row per flag: name, value name (nullptr for a switch), help with the default.
struct FlagDoc {
  const char* name;
  const char* value;
  std::string help;
};

std::vector<FlagDoc> FlagDocs(const ProbeConfig& d) {
  const auto in_brackets = [](const std::string& v) { return " [" + v + "]"; };
  return {
      {"tls", "1.2|1.3|auto",
       "versions to probe: 1.2 = session-id and ticket rows, 1.3 = psk row" +
           in_brackets(std::string(Name(d.tls.version)))},
      {"sni", "NAME", "server name in the ClientHello [none, as HAProxy checks]"},
      {"http", nullptr, "send GET (HTTP/1.1) and read the response before each close"},
      {"http-path", "PATH", "path of the --http request" + in_brackets(d.checker.http_path)},
      {"repeat", "N",
       "attempts per close kind, 1 to " + std::to_string(kMaxProbeRepeat) +
           in_brackets(std::to_string(d.repeat))},
      {"timeout", "D",
       "bound on each wait: connect, handshake, HTTP response" +
           in_brackets(FormatDuration(*d.checker.timeout))},
      {"pause", "D",
       "wait after each close before the next connection" + in_brackets(FormatDuration(d.pause))},
      {"expect", "WHAT", "strict, lenient, no-resumption or a server profile; exit 1 if not so"},
      {"json", nullptr, "print one JSON document"},
      {"trace", nullptr, "one line per connection event on stderr"},
      {"keylog", "FILE", "write TLS secrets in SSLKEYLOGFILE format"},
      {"pcap", "FILE", "write the connections as a pcap file for Wireshark (a new file)"},
  };
}

po::options_description Describe(const ProbeConfig& defaults) {
  po::options_description desc("flags", 100);
  for (const FlagDoc& f : FlagDocs(defaults)) {
    if (f.value == nullptr) {
      desc.add_options()(f.name, f.help.c_str());
    } else {
      desc.add_options()(f.name, po::value<std::string>()->value_name(f.value), f.help.c_str());
    }
  }
  desc.add_options()("help,h", "show this help");
  return desc;
}

ProbeFlags ParseProbeFlags(const Args& args) {
  ProbeFlags out;
  const po::options_description desc = Describe(out.config);
  po::variables_map vm;
  std::vector<std::string> positional;
  ParseCommandLine(desc, args, "tlslab probe --help", vm, positional);
  if (vm.count("help")) {
    out.help = true;
    return out;
  }
  auto text = [&](const char* name) { return vm[name].as<std::string>(); };
  ProbeConfig& c = out.config;
  if (vm.count("tls")) {
    auto v = ParseName<TlsVersion>(text("tls"));
    if (!v) Bad("tls", text("tls"), "one of " + KnownNames<TlsVersion>());
    c.tls.version = *v;
  }
  if (vm.count("sni")) c.checker.sni = text("sni");
  if (vm.count("http")) c.checker.check = CheckKind::kHttp;
  if (vm.count("http-path")) c.checker.http_path = text("http-path");
  if (vm.count("repeat")) {
    const std::string v = text("repeat");
    auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), c.repeat);
    if (ec != std::errc() || ptr != v.data() + v.size() || c.repeat < 1 ||
        c.repeat > kMaxProbeRepeat) {
      Bad("repeat", v, "a whole number from 1 to " + std::to_string(kMaxProbeRepeat));
    }
  }
  if (vm.count("timeout")) c.checker.timeout = ToMillis("timeout", text("timeout"));
  if (vm.count("pause")) c.pause = ToMillis("pause", text("pause"));
  if (vm.count("keylog")) c.tls.keylog_file = text("keylog");
  if (vm.count("pcap")) c.pcap_file = text("pcap");
  if (vm.count("expect")) {
    out.expect = text("expect");
    ValidateExpectation(out.expect);
  }
  out.json = vm.count("json") > 0;
  out.trace = vm.count("trace") > 0;
  if (positional.empty()) {
    throw UsageError("probe needs a target: tlslab probe HOST:PORT (e.g. 127.0.0.1:8443)");
  }
  if (positional.size() > 1) {
    throw UsageError("unexpected argument '" + positional[1] + "'; probe takes one HOST:PORT");
  }
  c.target = positional.front();
  ParseHostPort(c.target);  // throws UsageError with what is accepted
  ValidateProbe(c);
  return out;
}

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

int ProbeCommand(const Args& args) {
  return GuardedMain([&] {
    const ProbeFlags flags = ParseProbeFlags(args);
    if (flags.help) {
      std::ostringstream help;
      help << Describe(ProbeConfig{});
      std::printf("%s%s%s", kUsage, help.str().c_str(), kExitCodes);
      return kExitOk;
    }
    std::unique_ptr<Trace> trace;
    if (flags.trace) trace = std::make_unique<Trace>(stderr);
    const ProbeResult result = RunProbe(flags.config, trace.get());
    const Verdict verdict = Judge(result);
    const bool reached = result.reach == Reach::kTls;
    std::optional<ExpectOutcome> expect;
    if (reached && !flags.expect.empty()) expect = CheckExpectation(verdict, flags.expect);
    if (flags.json) {
      nlohmann::json doc = ProbeJson(flags.config, result, verdict);
      if (!flags.expect.empty()) {
        doc["expect"] = {{"value", flags.expect},
                         {"met", expect ? nlohmann::json(expect->met) : nlohmann::json(nullptr)},
                         {"reason", expect ? expect->reason : verdict.line}};
      }
      std::printf("%s\n", doc.dump(2).c_str());
    } else {
      std::printf("%s", FormatProbe(flags.config, result, verdict).c_str());
      if (expect && expect->met) std::printf("expect %s: met\n", flags.expect.c_str());
    }
    std::fflush(stdout);
    if (!reached) {
      std::fprintf(stderr, "tlslab: error: %s\n", verdict.line.c_str());
      return kExitUnreachable;
    }
    if (expect && !expect->met) {
      std::fprintf(stderr, "tlslab: expectation not met: %s\n", expect->reason.c_str());
      return kExitExpectationNotMet;
    }
    return kExitOk;
  });
}

}  // namespace tlslab
