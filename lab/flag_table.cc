#include "lab/flag_table.h"

#include "lab/flag_kinds.h"

namespace tlslab {
namespace {

using namespace flag_kinds;  // NOLINT: the builders of the table's rows

using C = Command;
// The command sets that many flags share.
std::vector<Command> ForServe() { return {C::kServe}; }
std::vector<Command> ForCheck() { return {C::kCheck}; }
std::vector<Command> ForRun() { return {C::kRun}; }
std::vector<Command> ForProbe() { return {C::kProbe}; }
std::vector<Command> ForSimulate() { return {C::kSimulate}; }
std::vector<Command> ForLoad() { return {C::kServe, C::kCheck, C::kRun, C::kIncident}; }
std::vector<Command> ForLoadAndProbe() {
  return {C::kServe, C::kCheck, C::kRun, C::kIncident, C::kProbe};
}
std::vector<Command> ForServerSide() { return {C::kServe, C::kRun}; }
std::vector<Command> ForCheckerSide() { return {C::kCheck, C::kRun}; }

void AddTlsFlags(std::vector<Flag>& t) {
  t.push_back(EnumFlag<TlsVersion>(
      "tls", "TLS version", ForLoad(), [](auto& c) -> auto& { return c.tls.version; }));
  Flag probe_tls = EnumFlag<TlsVersion>(
      "tls", "versions to probe: 1.2 = session-id and ticket rows, 1.3 = psk row", ForProbe(),
      [](auto& c) -> auto& { return c.tls.version; });
  probe_tls.value_name = "1.2|1.3|auto";
  t.push_back(probe_tls);
  t.push_back(OnOffFlag(
      "tickets", "session tickets (TLS 1.3 off = stateful tickets)", ForLoad(),
      [](auto& c) -> auto& { return c.tls.tickets; }));
  t.push_back(OnOffFlag(
      "session-cache", "server-side session cache", ForLoad(),
      [](auto& c) -> auto& { return c.tls.session_cache; }));
  t.push_back(EnumFlag<KeyType>(
      "key", "certificate key type", ForLoad(), [](auto& c) -> auto& { return c.tls.key; }));
  t.push_back(StringFlag(
      "cert", "FILE", "PEM certificate (default: in-memory self-signed)", ForLoad(),
      [](auto& c) -> auto& { return c.tls.cert_file; }));
  t.push_back(StringFlag(
      "key-file", "FILE", "PEM private key for --cert", ForLoad(),
      [](auto& c) -> auto& { return c.tls.key_file; }));
  t.push_back(StringFlag(
      "keylog", "FILE", "write TLS secrets in SSLKEYLOGFILE format", ForLoadAndProbe(),
      [](auto& c) -> auto& { return c.tls.keylog_file; }));
}

void AddServerFlags(std::vector<Flag>& t) {
  t.push_back(StringFlag(
      "profile", "NAME", "server profile (see `tlslab profiles`)", ForServe(),
      [](auto& c) -> auto& { return c.server.profile; }));
  t.push_back(StringFlag(
      "server-profile", "NAME", "server profile (see `tlslab profiles`)", ForRun(),
      [](auto& c) -> auto& { return c.server.profile; }));
  t.push_back(IntFlag(
      "backends", "virtual backends in the server process", {C::kServe, C::kRun, C::kIncident},
      [](auto& c) -> auto& { return c.server.backends; }));
  t.push_back(IntFlag(
      "threads", "server event-loop threads", ForServe(),
      [](auto& c) -> auto& { return c.server.threads; }));
  t.push_back(IntFlag(
      "server-threads", "server event-loop threads", ForRun(),
      [](auto& c) -> auto& { return c.server.threads; }));
  t.push_back(DurationFlag(
      "handshake-timeout", "server: drop a slower handshake", ForServerSide(),
      [](auto& c) -> auto& { return c.server.handshake_timeout; }));
  t.push_back(DurationFlag(
      "idle-timeout", "server: drop an idle connection", ForServerSide(),
      [](auto& c) -> auto& { return c.server.idle_timeout; }));
  t.push_back(DurationFlag(
      "session-timeout", "server: session lifetime (default: the stack's; OpenSSL 7200 s)",
      ForServerSide(), [](auto& c) -> auto& { return c.server.session_timeout; }));
  t.push_back(IntFlag(
      "cache-size", "server: session cache entries per backend (default: the stack's)",
      ForServerSide(), [](auto& c) -> auto& { return c.server.cache_size; }, 1, 10000000));
  t.push_back(IntFlag(
      "max-connections", "open connections per backend; more are refused and counted", ForServe(),
      [](auto& c) -> auto& { return c.server.max_connections; }));
  t.push_back(StringFlag(
      "listen", "ADDR", "address to listen on", ForServe(),
      [](auto& c) -> auto& { return c.server.listen; }));
  t.push_back(IntFlag(
      "port", "first port (backend i gets port+i); 0 = ephemeral", ForServe(),
      [](auto& c) -> auto& { return c.server.port; }));
  t.push_back(StringFlag(
      "ports-file", "FILE", "write HOST:PORT of each backend when ready", ForServe(),
      [](auto& c) -> auto& { return c.server.ports_file; }));
}

void AddCheckerFlags(std::vector<Flag>& t) {
  t.push_back(StringFlag(
      "checker-profile", "NAME", "checker profile (see `tlslab profiles`)", ForRun(),
      [](auto& c) -> auto& { return c.checker.profile; }));
  t.push_back(StringFlag(
      "profile", "NAME", "checker profile (see `tlslab profiles`)", ForCheck(),
      [](auto& c) -> auto& { return c.checker.profile; }));
  Flag target = Make("target", FlagType::kStrings, "HOST:PORT",
                     "a backend to check (repeat the flag for more)", ForCheck());
  target.set = [target](Config& c, const FlagValue& v) {
    c.checker.targets = As<std::vector<std::string>>(target, v);
  };
  target.get = [](const Config& c) -> FlagValue {
    if (c.checker.targets.empty()) return std::monostate{};
    return c.checker.targets;
  };
  t.push_back(target);
  t.push_back(StringFlag(
      "targets-file", "FILE", "one HOST:PORT a line", ForCheck(),
      [](auto& c) -> auto& { return c.checker.targets_file; }));
  t.push_back(StringFlag(
      "sni", "NAME", "server name in the ClientHello (default none)", {C::kCheck, C::kProbe},
      [](auto& c) -> auto& { return c.checker.sni; }));
  t.push_back(EnumFlag<CheckKind>(
      "check", "check kind", {C::kCheck, C::kRun, C::kIncident},
      [](auto& c) -> auto& { return c.checker.check; }));
  // The probe's check kind is a switch: it probes with handshakes only unless asked.
  Flag http = Make("http", FlagType::kSwitch, "",
                   "send GET (HTTP/1.1) and read the response before each close", ForProbe());
  http.set = [http](Config& c, const FlagValue& v) {
    c.checker.check = As<bool>(http, v) ? CheckKind::kHttp : CheckKind::kConnect;
  };
  http.get = [](const Config& c) -> FlagValue { return c.checker.check == CheckKind::kHttp; };
  t.push_back(http);
  t.push_back(EnumFlag<CloseMode>(
      "close", "close mode (default: the checker profile's)", ForCheckerSide(),
      [](auto& c) -> auto& { return c.checker.close; }));
  t.push_back(OnOffFlag(
      "reuse", "offer the saved session (default: the profile's, else on)", ForCheckerSide(),
      [](auto& c) -> auto& { return c.checker.reuse; }));
  Flag no_reuse = Make("no-reuse", FlagType::kSwitch, "",
                       "same as --reuse off (HAProxy's no-ssl-reuse)", ForCheckerSide());
  no_reuse.role = FlagRole::kAlias;
  no_reuse.alias_of = "reuse";
  no_reuse.set = [no_reuse](Config& c, const FlagValue& v) {
    if (As<bool>(no_reuse, v)) c.checker.reuse = false;
  };
  no_reuse.get = [](const Config&) -> FlagValue { return false; };
  t.push_back(no_reuse);
  t.push_back(OnOffFlag(
      "read-after-handshake", "connect checks wait for a TLS 1.3 ticket", ForCheckerSide(),
      [](auto& c) -> auto& { return c.checker.read_after_handshake; }));
  t.push_back(DurationFlag(
      "inter", "interval between checks", {C::kCheck, C::kRun, C::kIncident},
      [](auto& c) -> auto& { return c.checker.inter; }));
  t.push_back(DurationFlag(
      "fastinter", "interval while a backend changes state (default inter)", ForCheckerSide(),
      [](auto& c) -> auto& { return c.checker.fastinter; }));
  t.push_back(DurationFlag(
      "downinter", "interval while a backend is down (default inter)", ForCheckerSide(),
      [](auto& c) -> auto& { return c.checker.downinter; }));
  t.push_back(DurationFlag(
      "timeout", "check timeout (default inter)", ForCheckerSide(),
      [](auto& c) -> auto& { return c.checker.timeout; }));
  t.push_back(DurationFlag(
      "timeout", "bound on each wait: connect, handshake, HTTP response", ForProbe(),
      [](auto& c) -> auto& { return c.checker.timeout; }));
  t.push_back(IntFlag(
      "rise", "successes to mark a backend up", ForCheckerSide(),
      [](auto& c) -> auto& { return c.checker.rise; }));
  t.push_back(IntFlag(
      "fall", "failures to mark a backend down", ForCheckerSide(),
      [](auto& c) -> auto& { return c.checker.fall; }));
  t.push_back(IntFlag(
      "threads", "checker event-loop threads", {C::kCheck, C::kRun, C::kIncident},
      [](auto& c) -> auto& { return c.checker.threads; }));
  t.push_back(StringFlag(
      "stats-socket", "PATH", "unix socket answering HAProxy's \"show info\"", ForCheckerSide(),
      [](auto& c) -> auto& { return c.checker.stats_socket; }));
  t.push_back(StringFlag(
      "pcap", "FILE", "write the connections as a pcap file for Wireshark (a new file)",
      {C::kServe, C::kCheck, C::kRun, C::kProbe},
      [](auto& c) -> auto& { return c.output.pcap_file; }));
  t.push_back(StringFlag(
      "metrics", "ADDR:PORT",
      "serve live figures at http://ADDR:PORT/metrics for Prometheus (a port alone: 127.0.0.1)",
      {C::kServe, C::kCheck, C::kRun}, [](auto& c) -> auto& { return c.output.metrics; }));
  t.push_back(StringFlag(
      "stats-socket-mode", "MODE", "file mode of the stats socket (octal)", ForCheckerSide(),
      [](auto& c) -> auto& { return c.checker.stats_socket_mode; }));
  t.push_back(StringFlag(
      "http-path", "PATH", "path of the http check request", {C::kCheck, C::kRun, C::kProbe},
      [](auto& c) -> auto& { return c.checker.http_path; }));
}

// What only a simulation reaches (SimulationConfig, sim/engine.h).
void AddSimulationFlags(std::vector<Flag>& t) {
  t.push_back(IntFlag(
      "checker-threads",
      "HAProxy nbthread: any thread checks, one saved session per thread (0 = the lab's "
      "checker, --threads)",
      ForSimulate(), [](auto& c) -> auto& { return c.simulation.checker_threads; }));
  t.push_back(IntFlag(
      "checkers", "load balancers checking the same backends", ForSimulate(),
      [](auto& c) -> auto& { return c.simulation.checkers; }));
  t.push_back(DurationFlag(
      "restart-every", "a deploy wave every D (0 = none): caches and ticket keys lost",
      ForSimulate(), [](auto& c) -> auto& { return c.simulation.restart_every; }));
  t.push_back(NumberFlag(
      "restart-share", "share of the backends each wave restarts (0 < F <= 1)", ForSimulate(),
      [](auto& c) -> auto& { return c.simulation.restart_share; }, 0.0, 1.0));
  t.push_back(DurationFlag(
      "restart-downtime", "a restarted backend refuses connections this long", ForSimulate(),
      [](auto& c) -> auto& { return c.simulation.restart_downtime; }));
  t.push_back(IntFlag(
      "backend-cores", "cores of each backend (0 = --server-threads shared by all, as in run)",
      ForSimulate(), [](auto& c) -> auto& { return c.simulation.backend_cores; }));
  t.push_back(StringFlag(
      "costs", "FILE", "cost file from `tlslab calibrate` (default: the shipped one)",
      ForSimulate(), [](auto& c) -> auto& { return c.simulation.costs_file; }));
  t.push_back(StringFlag(
      "checker-costs", "FILE",
      "checker cost set from `tlslab calibrate --checker haproxy`: the checker CPU is that "
      "load balancer's own",
      ForSimulate(), [](auto& c) -> auto& { return c.simulation.checker_costs_file; }));
  t.push_back(IntFlag(
      "seed", "seed of the queueing model's service-time jitter", ForSimulate(),
      [](auto& c) -> auto& { return c.simulation.seed; }));
  t.push_back(DurationFlag(
      "resolution", "time-series step (0 = chosen from the duration)", ForSimulate(),
      [](auto& c) -> auto& { return c.simulation.resolution; }));
  t.push_back(DurationFlag(
      "rtt", "network round trip per check round trip (TCP, TLS, HTTP); 0 = loopback",
      ForSimulate(), [](auto& c) -> auto& { return c.simulation.rtt; }));
}

void AddProbeFlags(std::vector<Flag>& t) {
  // The range 1..kMaxProbeRepeat is ValidateProbe's (clients/probe.h), with the probe.
  t.push_back(IntFlag(
      "repeat", "attempts per close kind; a cell is flaky when they disagree", ForProbe(),
      [](auto& c) -> auto& { return c.probe.repeat; }));
  t.push_back(DurationFlag(
      "pause", "wait after each close before the next connection", ForProbe(),
      [](auto& c) -> auto& { return c.probe.pause; }));
  t.push_back(StringFlag(
      "expect", "WHAT", "strict, lenient, no-resumption or a server profile; exit 1 if not so",
      ForProbe(), [](auto& c) -> auto& { return c.probe.expect; }));
}

void AddCommonFlags(std::vector<Flag>& t) {
  t.push_back(DurationFlag(
      "duration", "run length (serve: 0 = until SIGINT/SIGTERM)", ForLoad(),
      [](auto& c) -> auto& { return c.duration; }));
  t.push_back(IntFlag(
      "max-checks", "stop after this many checks (0 = no limit)", ForLoad(),
      [](auto& c) -> auto& { return c.max_checks; }, 0, std::numeric_limits<int64_t>::max()));
  t.push_back(SwitchFlag(
      "json", "print one JSON document", ForLoadAndProbe(),
      [](auto& c) -> auto& { return c.output.json; }, FlagRole::kOutput));
  t.push_back(OnOffFlag(
      "live", "a live line on stderr each second", ForLoad(),
      [](auto& c) -> auto& { return c.output.live; }));
  t.push_back(SwitchFlag(
      "trace", "one line per connection event on stderr", ForLoadAndProbe(),
      [](auto& c) -> auto& { return c.output.trace; }));
}

}  // namespace

std::vector<Flag> FlagTable() {
  std::vector<Flag> t;
  AddTlsFlags(t);
  AddServerFlags(t);
  AddCheckerFlags(t);
  AddProbeFlags(t);
  AddCommonFlags(t);
  // `tlslab simulate` takes every flag of `tlslab run` (the same Config, the same meaning),
  // then the ones only a simulation has.
  for (Flag& f : t) {
    if (f.Has(C::kRun)) f.commands.push_back(C::kSimulate);
  }
  AddSimulationFlags(t);
  return t;
}

std::vector<Flag> FlagsOf(Command command) {
  std::vector<Flag> out;
  for (Flag& f : FlagTable()) {
    if (f.Has(command)) out.push_back(std::move(f));
  }
  return out;
}

}  // namespace tlslab
