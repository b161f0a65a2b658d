#include "lab/flag_table.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>

#include "lab/errors.h"

namespace tlslab {
namespace {

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

template <typename E>
std::vector<std::string> ChoicesOf() {
  // KnownNames is "a, b, c": the one list of names (lab/vocabulary.h).
  std::vector<std::string> out;
  const std::string all = KnownNames<E>();
  size_t start = 0;
  while (start < all.size()) {
    size_t end = all.find(", ", start);
    if (end == std::string::npos) end = all.size();
    out.push_back(all.substr(start, end - start));
    start = end + 2;
  }
  return out;
}

// Field accessors are generic lambdas `[](auto& c) -> auto& { return c.x.y; }`, which serve
// for both the const (get) and the mutable (set) side. An optional field reads as monostate
// when unset.
template <typename A>
FlagValue Read(const Config& c, A access, auto convert) {
  const auto& v = access(c);
  if constexpr (requires { v.has_value(); }) {
    if (!v) return std::monostate{};
    return FlagValue(convert(*v));
  } else {
    return FlagValue(convert(v));
  }
}

template <typename T>
const T& As(const Flag& flag, const FlagValue& v) {
  if (const T* p = std::get_if<T>(&v)) return *p;
  throw UsageError("--" + flag.name + ": a value of the wrong type for a " +
                   std::string(Name(flag.type)) + " flag");
}

Flag Make(std::string name, FlagType type, std::string value_name, std::string help,
          std::vector<Command> commands) {
  Flag f;
  f.name = std::move(name);
  f.type = type;
  f.value_name = std::move(value_name);
  f.help = std::move(help);
  f.commands = std::move(commands);
  return f;
}

template <typename A>
Flag StringFlag(std::string name, std::string value_name, std::string help,
                std::vector<Command> commands, A access) {
  Flag f = Make(std::move(name), FlagType::kString, std::move(value_name), std::move(help),
                std::move(commands));
  f.set = [access, f](Config& c, const FlagValue& v) {
    access(c) = std::holds_alternative<std::monostate>(v) ? std::string() : As<std::string>(f, v);
  };
  f.get = [access](const Config& c) -> FlagValue {
    const std::string& v = access(c);
    if (v.empty()) return std::monostate{};
    return v;
  };
  return f;
}

// Whole numbers from `lo` to `hi` (the field's type bounds the range; Validate() checks the
// ranges that depend on other fields).
template <typename A>
Flag IntFlag(std::string name, std::string help, std::vector<Command> commands, A access,
             int64_t lo = 0, int64_t hi = std::numeric_limits<int32_t>::max()) {
  Flag f = Make(std::move(name), FlagType::kInt, "N", std::move(help), std::move(commands));
  f.set = [access, f, lo, hi](Config& c, const FlagValue& v) {
    using T = std::remove_reference_t<decltype(access(c))>;
    if constexpr (requires { typename T::value_type; }) {  // an optional field: unset is allowed
      if (std::holds_alternative<std::monostate>(v)) {
        access(c).reset();
        return;
      }
    }
    const int64_t n = As<int64_t>(f, v);
    if (n < lo || n > hi) {
      BadFlagValue(f.name, std::to_string(n),
                   hi == std::numeric_limits<int64_t>::max()
                       ? "a whole number >= " + std::to_string(lo)
                       : "a whole number from " + std::to_string(lo) + " to " + std::to_string(hi));
    }
    if constexpr (requires { typename T::value_type; }) {
      access(c) = static_cast<typename T::value_type>(n);
    } else {
      access(c) = static_cast<T>(n);
    }
  };
  f.get = [access](const Config& c) -> FlagValue {
    return Read(c, access, [](auto x) { return static_cast<int64_t>(x); });
  };
  return f;
}

template <typename A>
Flag NumberFlag(std::string name, std::string help, std::vector<Command> commands, A access) {
  Flag f = Make(std::move(name), FlagType::kNumber, "F", std::move(help), std::move(commands));
  f.set = [access, f](Config& c, const FlagValue& v) { access(c) = As<double>(f, v); };
  f.get = [access](const Config& c) -> FlagValue { return access(c); };
  return f;
}

template <typename A>
Flag DurationFlag(std::string name, std::string help, std::vector<Command> commands, A access) {
  Flag f = Make(std::move(name), FlagType::kDuration, "D", std::move(help), std::move(commands));
  f.set = [access, f](Config& c, const FlagValue& v) {
    const Millis d = As<Millis>(f, v);
    if (d.count() < 0) BadFlagValue(f.name, FormatDuration(d), "a duration >= 0");
    access(c) = d;
  };
  f.get = [access](const Config& c) { return Read(c, access, [](Millis m) { return m; }); };
  return f;
}

template <typename E, typename A>
Flag EnumFlag(std::string name, std::string help, std::vector<Command> commands, A access) {
  Flag f = Make(std::move(name), FlagType::kEnum, "NAME", std::move(help), std::move(commands));
  f.choices = ChoicesOf<E>();
  f.set = [access, f](Config& c, const FlagValue& v) {
    const std::string& text = As<std::string>(f, v);
    auto e = ParseName<E>(text);
    if (!e) BadFlagValue(f.name, text, "one of " + KnownNames<E>());
    access(c) = *e;
  };
  f.get = [access](const Config& c) {
    return Read(c, access, [](E e) { return std::string(Name(e)); });
  };
  return f;
}

template <typename A>
Flag OnOffFlag(std::string name, std::string help, std::vector<Command> commands, A access) {
  Flag f = Make(std::move(name), FlagType::kOnOff, "on|off", std::move(help), std::move(commands));
  f.set = [access, f](Config& c, const FlagValue& v) { access(c) = As<bool>(f, v); };
  f.get = [access](const Config& c) { return Read(c, access, [](bool b) { return b; }); };
  return f;
}

template <typename A>
Flag SwitchFlag(std::string name, std::string help, std::vector<Command> commands, A access,
                FlagRole role = FlagRole::kField) {
  Flag f = Make(std::move(name), FlagType::kSwitch, "", std::move(help), std::move(commands));
  f.role = role;
  f.set = [access, f](Config& c, const FlagValue& v) { access(c) = As<bool>(f, v); };
  f.get = [access](const Config& c) -> FlagValue { return static_cast<bool>(access(c)); };
  return f;
}

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
      [](auto& c) -> auto& { return c.simulation.restart_share; }));
  t.push_back(DurationFlag(
      "restart-downtime", "a restarted backend refuses connections this long", ForSimulate(),
      [](auto& c) -> auto& { return c.simulation.restart_downtime; }));
  t.push_back(IntFlag(
      "backend-cores", "cores of each backend (0 = --server-threads shared by all, as in run)",
      ForSimulate(), [](auto& c) -> auto& { return c.simulation.backend_cores; }));
  t.push_back(StringFlag(
      "costs", "FILE", "cost file from `tlslab calibrate` (default: the shipped one)",
      ForSimulate(), [](auto& c) -> auto& { return c.simulation.costs_file; }));
  t.push_back(IntFlag(
      "seed", "seed of the queueing model's service-time jitter", ForSimulate(),
      [](auto& c) -> auto& { return c.simulation.seed; }));
  t.push_back(DurationFlag(
      "resolution", "time-series step (0 = chosen from the duration)", ForSimulate(),
      [](auto& c) -> auto& { return c.simulation.resolution; }));
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

std::string_view Name(Command c) {
  switch (c) {
    case Command::kServe:
      return "serve";
    case Command::kCheck:
      return "check";
    case Command::kRun:
      return "run";
    case Command::kIncident:
      return "incident";
    case Command::kProbe:
      return "probe";
    case Command::kSimulate:
      return "simulate";
  }
  return "?";
}

Command ParseCommandName(std::string_view name) {
  for (Command c : kAllCommands) {
    if (Name(c) == name) return c;
  }
  throw UsageError("unknown command '" + std::string(name) +
                   "'; expected serve, check, run, incident, probe or simulate");
}

std::string_view Name(FlagType t) {
  switch (t) {
    case FlagType::kInt:
      return "int";
    case FlagType::kDuration:
      return "duration";
    case FlagType::kOnOff:
      return "on/off";
    case FlagType::kEnum:
      return "enum";
    case FlagType::kString:
      return "string";
    case FlagType::kSwitch:
      return "switch";
    case FlagType::kStrings:
      return "strings";
    case FlagType::kNumber:
      return "number";
  }
  return "?";
}

std::string_view Name(FlagRole r) {
  switch (r) {
    case FlagRole::kField:
      return "field";
    case FlagRole::kAlias:
      return "alias";
    case FlagRole::kOutput:
      return "output";
  }
  return "?";
}

bool Flag::Has(Command c) const {
  return std::find(commands.begin(), commands.end(), c) != commands.end();
}

std::string Flag::field() const {
  std::string out = name;
  std::replace(out.begin(), out.end(), '-', '_');
  return out;
}

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

void BadFlagValue(const std::string& flag, const std::string& value, const std::string& want) {
  throw UsageError("--" + flag + ": bad value '" + value + "'; expected " + want);
}

FlagValue ParseFlagText(const Flag& flag, const std::string& text) {
  switch (flag.type) {
    case FlagType::kInt: {
      int64_t v = 0;
      auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
      if (ec != std::errc() || ptr != text.data() + text.size()) {
        BadFlagValue(flag.name, text, "a whole number");
      }
      return v;
    }
    case FlagType::kDuration: {
      auto d = ParseDuration(text);
      if (!d) {
        BadFlagValue(flag.name, text, "a duration such as 2s, 500ms, 1m or 2000 (milliseconds)");
      }
      return *d;
    }
    case FlagType::kOnOff:
      if (text == "on" || text == "true" || text == "1" || text == "yes") return true;
      if (text == "off" || text == "false" || text == "0" || text == "no") return false;
      BadFlagValue(flag.name, text, "on or off");
    case FlagType::kSwitch:
      return true;
    case FlagType::kStrings:
      return std::vector<std::string>{text};
    case FlagType::kNumber: {
      double v = 0;
      auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
      if (ec != std::errc() || ptr != text.data() + text.size() || !std::isfinite(v)) {
        BadFlagValue(flag.name, text, "a number such as 0.25");
      }
      return v;
    }
    case FlagType::kEnum:
    case FlagType::kString:
      return text;
  }
  return text;
}

std::vector<std::string> FlagText(const Flag& flag, const FlagValue& value) {
  if (std::holds_alternative<std::monostate>(value)) return {};
  switch (flag.type) {
    case FlagType::kInt:
      return {std::to_string(std::get<int64_t>(value))};
    case FlagType::kDuration:
      return {FormatDuration(std::get<Millis>(value))};
    case FlagType::kOnOff:
      return {std::get<bool>(value) ? "on" : "off"};
    case FlagType::kSwitch:
      if (std::get<bool>(value)) return {""};
      return {};
    case FlagType::kStrings:
      return std::get<std::vector<std::string>>(value);
    case FlagType::kNumber: {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.10g", std::get<double>(value));
      return {buf};
    }
    case FlagType::kEnum:
    case FlagType::kString:
      return {std::get<std::string>(value)};
  }
  return {};
}

}  // namespace tlslab
