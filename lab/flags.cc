#include "lab/flags.h"

#include <boost/program_options.hpp>
#include <charconv>
#include <cstdio>
#include <functional>
#include <sstream>

#include "lab/command_line.h"
#include "lab/errors.h"

namespace tlslab {
namespace po = boost::program_options;
namespace {

// One flag: its name, how it sets its field from text, and how it prints the field back.
// A switch takes no value: `get` returns {"1"} when it is on and {} when off.
struct Flag {
  std::string name;
  std::string value_name;  // empty for a switch
  std::string help;
  std::function<void(Config&, const std::string&)> set;
  std::function<std::vector<std::string>(const Config&)> get;
  bool repeated = false;
};

[[noreturn]] void Bad(const std::string& flag, const std::string& value, const std::string& want) {
  throw UsageError("--" + flag + ": bad value '" + value + "'; expected " + want);
}

Millis ToMillis(const std::string& flag, const std::string& text) {
  auto d = ParseDuration(text);
  if (!d) Bad(flag, text, "a duration such as 2s, 500ms, 1m or 2000 (milliseconds)");
  return *d;
}

int64_t ToInt(const std::string& flag, const std::string& text) {
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size()) Bad(flag, text, "a whole number");
  return v;
}

bool ToOnOff(const std::string& flag, const std::string& text) {
  if (text == "on" || text == "true" || text == "1" || text == "yes") return true;
  if (text == "off" || text == "false" || text == "0" || text == "no") return false;
  Bad(flag, text, "on or off");
}

template <typename E>
E ToEnum(const std::string& flag, const std::string& text) {
  auto v = ParseName<E>(text);
  if (!v) Bad(flag, text, "one of " + KnownNames<E>());
  return *v;
}

// Field accessors are generic lambdas `[](auto& c) -> auto& { return c.x.y; }`, which serve
// for both the const (get) and the mutable (set) side.
template <typename A>
Flag StringFlag(std::string name, std::string value_name, std::string help, A access) {
  return {name, value_name, help, [access](Config& c, const std::string& v) { access(c) = v; },
          [access](const Config& c) {
            const std::string& v = access(c);
            return v.empty() ? std::vector<std::string>{} : std::vector<std::string>{v};
          }};
}

template <typename A>
Flag IntFlag(std::string name, std::string help, A access) {
  return {
      name, "N", help,
      [access, name](Config& c, const std::string& v) {
        using T = std::remove_reference_t<decltype(access(c))>;
        int64_t n = ToInt(name, v);
        if (n < 0 || n > static_cast<int64_t>(std::numeric_limits<int32_t>::max())) {
          Bad(name, v, "a whole number from 0 to 2147483647");
        }
        access(c) = static_cast<T>(n);
      },
      [access](const Config& c) { return std::vector<std::string>{std::to_string(access(c))}; }};
}

template <typename A>
Flag DurationFlag(std::string name, std::string help, A access) {
  return {name, "D", help,
          [access, name](Config& c, const std::string& v) { access(c) = ToMillis(name, v); },
          [access](const Config& c) -> std::vector<std::string> {
            const auto& v = access(c);
            if constexpr (requires { v.has_value(); }) {
              if (!v) return {};
              return {FormatDuration(*v)};
            } else {
              return {FormatDuration(v)};
            }
          }};
}

template <typename E, typename A>
Flag EnumFlag(std::string name, std::string help, A access) {
  return {name, "NAME", help + " (" + KnownNames<E>() + ")",
          [access, name](Config& c, const std::string& v) { access(c) = ToEnum<E>(name, v); },
          [access](const Config& c) -> std::vector<std::string> {
            const auto& v = access(c);
            if constexpr (requires { v.has_value(); }) {
              if (!v) return {};
              return {std::string(Name(*v))};
            } else {
              return {std::string(Name(v))};
            }
          }};
}

template <typename A>
Flag OnOffFlag(std::string name, std::string help, A access) {
  return {name, "on|off", help,
          [access, name](Config& c, const std::string& v) { access(c) = ToOnOff(name, v); },
          [access](const Config& c) -> std::vector<std::string> {
            const auto& v = access(c);
            if constexpr (requires { v.has_value(); }) {
              if (!v) return {};
              return {*v ? "on" : "off"};
            } else {
              return {v ? "on" : "off"};
            }
          }};
}

template <typename A>
Flag SwitchFlag(std::string name, std::string help, A access) {
  return {name, "", help, [access](Config& c, const std::string&) { access(c) = true; },
          [access](const Config& c) {
            return access(c) ? std::vector<std::string>{"1"} : std::vector<std::string>{};
          }};
}

void AddTlsFlags(std::vector<Flag>& f) {
  f.push_back(EnumFlag<TlsVersion>(
      "tls", "TLS version", [](auto& c) -> auto& { return c.tls.version; }));
  f.push_back(OnOffFlag(
      "tickets", "session tickets (TLS 1.3 off = stateful tickets)",
      [](auto& c) -> auto& { return c.tls.tickets; }));
  f.push_back(OnOffFlag(
      "session-cache", "server-side session cache",
      [](auto& c) -> auto& { return c.tls.session_cache; }));
  f.push_back(EnumFlag<KeyType>(
      "key", "certificate key type", [](auto& c) -> auto& { return c.tls.key; }));
  f.push_back(StringFlag(
      "cert", "FILE", "PEM certificate (default: in-memory self-signed)",
      [](auto& c) -> auto& { return c.tls.cert_file; }));
  f.push_back(StringFlag(
      "key-file", "FILE", "PEM private key for --cert",
      [](auto& c) -> auto& { return c.tls.key_file; }));
  f.push_back(StringFlag(
      "keylog", "FILE", "write TLS secrets in SSLKEYLOGFILE format",
      [](auto& c) -> auto& { return c.tls.keylog_file; }));
}

void AddServerFlags(std::vector<Flag>& f, bool in_run) {
  f.push_back(StringFlag(
      in_run ? "server-profile" : "profile", "NAME", "server profile (see `tlslab profiles`)",
      [](auto& c) -> auto& { return c.server.profile; }));
  f.push_back(IntFlag(
      "backends", "virtual backends in the server process",
      [](auto& c) -> auto& { return c.server.backends; }));
  f.push_back(IntFlag(
      in_run ? "server-threads" : "threads", "server event-loop threads",
      [](auto& c) -> auto& { return c.server.threads; }));
  f.push_back(DurationFlag(
      "handshake-timeout", "server: drop a slower handshake",
      [](auto& c) -> auto& { return c.server.handshake_timeout; }));
  f.push_back(DurationFlag(
      "idle-timeout", "server: drop an idle connection",
      [](auto& c) -> auto& { return c.server.idle_timeout; }));
  f.push_back(DurationFlag(
      "session-timeout", "server: session lifetime (default: the stack's; OpenSSL 7200 s)",
      [](auto& c) -> auto& { return c.server.session_timeout; }));
  f.push_back(
      {"cache-size", "N", "server: session cache entries per backend (default: the stack's)",
       [](Config& c, const std::string& v) {
         const int64_t n = ToInt("cache-size", v);
         if (n < 1 || n > 10000000) Bad("cache-size", v, "a whole number from 1 to 10000000");
         c.server.cache_size = static_cast<int>(n);
       },
       [](const Config& c) {
         return c.server.cache_size ? std::vector<std::string>{std::to_string(*c.server.cache_size)}
                                    : std::vector<std::string>{};
       }});
  if (in_run) return;
  f.push_back(StringFlag(
      "listen", "ADDR", "address to listen on", [](auto& c) -> auto& { return c.server.listen; }));
  f.push_back(IntFlag(
      "port", "first port (backend i gets port+i); 0 = ephemeral",
      [](auto& c) -> auto& { return c.server.port; }));
  f.push_back(StringFlag(
      "ports-file", "FILE", "write HOST:PORT of each backend when ready",
      [](auto& c) -> auto& { return c.server.ports_file; }));
}

void AddCheckerFlags(std::vector<Flag>& f, Command command) {
  if (command == Command::kRun) {
    f.push_back(StringFlag(
        "checker-profile", "NAME", "checker profile (see `tlslab profiles`)",
        [](auto& c) -> auto& { return c.checker.profile; }));
  }
  if (command == Command::kCheck) {
    f.push_back(StringFlag(
        "profile", "NAME", "checker profile (see `tlslab profiles`)",
        [](auto& c) -> auto& { return c.checker.profile; }));
    Flag target{"target",
                "HOST:PORT",
                "a backend to check (repeat the flag for more)",
                [](Config& c, const std::string& v) { c.checker.targets.push_back(v); },
                [](const Config& c) { return c.checker.targets; },
                true};
    f.push_back(target);
    f.push_back(StringFlag(
        "targets-file", "FILE", "one HOST:PORT a line",
        [](auto& c) -> auto& { return c.checker.targets_file; }));
    f.push_back(StringFlag(
        "sni", "NAME", "server name to send", [](auto& c) -> auto& { return c.checker.sni; }));
  }
  f.push_back(EnumFlag<CheckKind>(
      "check", "check kind", [](auto& c) -> auto& { return c.checker.check; }));
  f.push_back(EnumFlag<CloseMode>(
      "close", "close mode (default: the checker profile's)",
      [](auto& c) -> auto& { return c.checker.close; }));
  f.push_back(OnOffFlag(
      "reuse", "offer the saved session (default: the profile's, else on)",
      [](auto& c) -> auto& { return c.checker.reuse; }));
  f.push_back({"no-reuse", "", "same as --reuse off (HAProxy's no-ssl-reuse)",
               [](Config& c, const std::string&) { c.checker.reuse = false; },
               [](const Config&) { return std::vector<std::string>{}; }});
  f.push_back(OnOffFlag(
      "read-after-handshake", "connect checks wait for a TLS 1.3 ticket",
      [](auto& c) -> auto& { return c.checker.read_after_handshake; }));
  f.push_back(DurationFlag(
      "inter", "interval between checks", [](auto& c) -> auto& { return c.checker.inter; }));
  f.push_back(DurationFlag(
      "fastinter", "interval while a backend changes state (default inter)",
      [](auto& c) -> auto& { return c.checker.fastinter; }));
  f.push_back(DurationFlag(
      "downinter", "interval while a backend is down (default inter)",
      [](auto& c) -> auto& { return c.checker.downinter; }));
  f.push_back(DurationFlag(
      "timeout", "check timeout (default inter)",
      [](auto& c) -> auto& { return c.checker.timeout; }));
  f.push_back(IntFlag(
      "rise", "successes to mark a backend up", [](auto& c) -> auto& { return c.checker.rise; }));
  f.push_back(IntFlag(
      "fall", "failures to mark a backend down", [](auto& c) -> auto& { return c.checker.fall; }));
  f.push_back(IntFlag(
      "threads", "checker event-loop threads", [](auto& c) -> auto& { return c.checker.threads; }));
  f.push_back(StringFlag(
      "stats-socket", "PATH", "unix socket answering HAProxy's \"show info\"",
      [](auto& c) -> auto& { return c.checker.stats_socket; }));
  f.push_back(StringFlag(
      "http-path", "PATH", "path of the http check request",
      [](auto& c) -> auto& { return c.checker.http_path; }));
}

void AddCommonFlags(std::vector<Flag>& f) {
  f.push_back(DurationFlag(
      "duration", "run length (serve: 0 = until SIGINT/SIGTERM)",
      [](auto& c) -> auto& { return c.duration; }));
  f.push_back(
      {"max-checks", "N", "stop after this many checks (0 = no limit)",
       [](Config& c, const std::string& v) {
         int64_t n = ToInt("max-checks", v);
         if (n < 0) Bad("max-checks", v, "a whole number >= 0");
         c.max_checks = static_cast<uint64_t>(n);
       },
       [](const Config& c) { return std::vector<std::string>{std::to_string(c.max_checks)}; }});
  f.push_back(SwitchFlag(
      "json", "print one JSON document", [](auto& c) -> auto& { return c.output.json; }));
  f.push_back(OnOffFlag(
      "live", "a live line on stderr each second", [](auto& c) -> auto& { return c.output.live; }));
  f.push_back(SwitchFlag(
      "trace", "one line per connection event on stderr",
      [](auto& c) -> auto& { return c.output.trace; }));
}

// The flags only `tlslab simulate` has (SimulationConfig), on top of the run command's.
void AddSimulationFlags(std::vector<Flag>& f) {
  f.push_back(IntFlag(
      "checker-threads",
      "HAProxy nbthread: any thread checks, one saved session per thread "
      "(0 = the lab's checker, --threads)",
      [](auto& c) -> auto& { return c.simulation.checker_threads; }));
  f.push_back(IntFlag(
      "checkers", "load balancers checking the same backends",
      [](auto& c) -> auto& { return c.simulation.checkers; }));
  f.push_back(DurationFlag(
      "restart-every", "a deploy wave every D (0 = none): caches and ticket keys lost",
      [](auto& c) -> auto& { return c.simulation.restart_every; }));
  f.push_back({"restart-share", "F", "share of the backends each wave restarts (0 < F <= 1)",
               [](Config& c, const std::string& v) {
                 double x = 0;
                 auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
                 if (ec != std::errc() || ptr != v.data() + v.size() || !(x > 0 && x <= 1)) {
                   Bad("restart-share", v, "a number above 0 and at most 1");
                 }
                 c.simulation.restart_share = x;
               },
               [](const Config& c) {
                 char buf[32];
                 std::snprintf(buf, sizeof buf, "%g", c.simulation.restart_share);
                 return std::vector<std::string>{buf};
               }});
  f.push_back(DurationFlag(
      "restart-downtime", "a restarted backend refuses connections this long",
      [](auto& c) -> auto& { return c.simulation.restart_downtime; }));
  f.push_back(IntFlag(
      "backend-cores", "cores of each backend (0 = --server-threads shared by all, as in run)",
      [](auto& c) -> auto& { return c.simulation.backend_cores; }));
  f.push_back(StringFlag(
      "costs", "FILE", "cost file from `tlslab calibrate` (default: the shipped one)",
      [](auto& c) -> auto& { return c.simulation.costs_file; }));
  f.push_back({"seed", "N", "seed of the queueing model's service-time jitter",
               [](Config& c, const std::string& v) {
                 const int64_t n = ToInt("seed", v);
                 if (n < 0) Bad("seed", v, "a whole number >= 0");
                 c.simulation.seed = static_cast<uint64_t>(n);
               },
               [](const Config& c) {
                 return std::vector<std::string>{std::to_string(c.simulation.seed)};
               }});
  f.push_back(DurationFlag(
      "resolution", "time-series step (0 = chosen from the duration)",
      [](auto& c) -> auto& { return c.simulation.resolution; }));
}

std::vector<Flag> FlagsOf(Command command) {
  std::vector<Flag> f;
  AddTlsFlags(f);
  switch (command) {
    case Command::kServe:
      AddServerFlags(f, false);
      break;
    case Command::kCheck:
      AddCheckerFlags(f, command);
      break;
    case Command::kRun:
      AddServerFlags(f, true);
      AddCheckerFlags(f, command);
      break;
    case Command::kSimulate:
      AddServerFlags(f, true);
      AddCheckerFlags(f, Command::kRun);
      AddSimulationFlags(f);
      break;
    case Command::kIncident:
      f.push_back(IntFlag(
          "backends", "virtual backends", [](auto& c) -> auto& { return c.server.backends; }));
      f.push_back(EnumFlag<CheckKind>(
          "check", "check kind", [](auto& c) -> auto& { return c.checker.check; }));
      f.push_back(DurationFlag(
          "inter", "interval between checks", [](auto& c) -> auto& { return c.checker.inter; }));
      f.push_back(IntFlag(
          "threads", "checker threads", [](auto& c) -> auto& { return c.checker.threads; }));
      break;
  }
  AddCommonFlags(f);
  return f;
}

po::options_description Describe(const std::vector<Flag>& flags, bool with_help_text) {
  po::options_description desc;
  const Config defaults;
  for (const Flag& flag : flags) {
    std::string help = flag.help;
    if (with_help_text && !flag.value_name.empty()) {
      auto d = flag.get(defaults);
      if (!d.empty()) help += " [" + d.front() + "]";
    }
    if (flag.value_name.empty()) {
      desc.add_options()(flag.name.c_str(), help.c_str());
    } else if (flag.repeated) {
      desc.add_options()(flag.name.c_str(),
                         po::value<std::vector<std::string>>()->value_name(flag.value_name),
                         help.c_str());
    } else {
      desc.add_options()(flag.name.c_str(), po::value<std::string>()->value_name(flag.value_name),
                         help.c_str());
    }
  }
  desc.add_options()("help,h", "show this help");
  return desc;
}

}  // namespace

ParsedFlags ParseFlags(Command command, const std::vector<std::string>& args, const Config& base) {
  const std::vector<Flag> flags = FlagsOf(command);
  po::options_description desc = Describe(flags, false);
  po::variables_map vm;
  ParsedFlags out;
  out.config = base;
  if (command == Command::kSimulate) out.config.simulation.enabled = true;
  ParseCommandLine(desc, args, "--help", vm, out.positional);
  if (vm.count("help")) {
    out.help = true;
    return out;
  }
  for (const Flag& flag : flags) {
    if (!vm.count(flag.name)) continue;
    if (flag.value_name.empty()) {
      flag.set(out.config, "");
    } else if (flag.repeated) {
      for (const auto& v : vm[flag.name].as<std::vector<std::string>>()) flag.set(out.config, v);
    } else {
      flag.set(out.config, vm[flag.name].as<std::string>());
    }
  }
  if (!out.positional.empty()) {
    throw UsageError("unexpected argument '" + out.positional.front() + "'; see --help");
  }
  Validate(out.config);
  return out;
}

std::vector<std::string> ToArgv(Command command, const Config& config) {
  std::vector<std::string> argv;
  for (const Flag& flag : FlagsOf(command)) {
    for (const std::string& value : flag.get(config)) {
      argv.push_back("--" + flag.name);
      if (!flag.value_name.empty()) argv.push_back(value);
    }
  }
  return argv;
}

std::string FlagsHelp(Command command) {
  std::ostringstream out;
  out << Describe(FlagsOf(command), true);
  return out.str();
}

}  // namespace tlslab
