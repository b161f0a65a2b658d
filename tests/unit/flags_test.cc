// Flags: ParseFlags(ToArgv(c)) == c for every command (a field without a flag breaks the round
// trip), and bad flags are one-line UsageErrors that name the flag.
#include "lab/flags.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "clients/probe_command.h"
#include "lab/testing/usage_error.h"

namespace tlslab {
namespace {

// Every field differs from its default, and every optional is set.
Config EveryFieldChanged() {
  Config c;
  c.tls.version = TlsVersion::kTls13;
  c.tls.tickets = false;
  c.tls.session_cache = false;
  c.tls.key = KeyType::kP256;
  c.tls.cert_file = "cert.pem";
  c.tls.key_file = "key.pem";
  c.tls.keylog_file = "keys.log";
  c.server.profile = "strict";
  c.server.backends = 7;
  c.server.listen = "127.0.0.2";
  c.server.port = 9000;
  c.server.ports_file = "ports.txt";
  c.server.threads = 3;
  c.server.handshake_timeout = Millis(2500);
  c.server.idle_timeout = Millis(45000);
  c.server.session_timeout = Millis(10000);
  c.server.cache_size = 64;
  c.simulation.checker_threads = 16;
  c.simulation.checkers = 4;
  c.simulation.restart_every = Millis(86400000);
  c.simulation.restart_share = 0.25;
  c.simulation.restart_downtime = Millis(30000);
  c.simulation.backend_cores = 2;
  c.simulation.costs_file = "costs.json";
  c.simulation.seed = 7;
  c.simulation.resolution = Millis(60000);
  c.simulation.rtt = Millis(20);
  c.checker.profile = "haproxy-1.7.4";
  c.checker.targets = {"127.0.0.1:9000", "[::1]:9001"};
  c.checker.targets_file = "targets.txt";
  c.checker.sni = "backend.test";
  c.checker.check = CheckKind::kConnect;
  c.checker.close = CloseMode::kNotifyReset;
  c.checker.reuse = false;
  c.checker.read_after_handshake = false;
  c.checker.inter = Millis(3000);
  c.checker.fastinter = Millis(500);
  c.checker.downinter = Millis(60000);
  c.checker.timeout = Millis(1500);
  c.checker.rise = 4;
  c.checker.fall = 5;
  c.checker.threads = 2;
  c.checker.stats_socket = "/tmp/tlslab.sock";
  c.checker.http_path = "/health?full=1";
  c.output.json = true;
  c.output.live = false;
  c.output.trace = true;
  c.duration = Millis(90000);
  c.max_checks = 12345;
  c.probe.target = "[::1]:8443";
  c.probe.repeat = 5;
  c.probe.pause = Millis(250);
  c.probe.expect = "strict";
  return c;
}

// Optionals set to their fallback values, other values and several targets: "set to what the
// default would be" must survive the trip as "set".
Config OptionalsAtFallbacks() {
  Config c;
  c.tls.version = TlsVersion::kTls12;
  c.tls.key = KeyType::kRsa2048;
  c.server.profile = "rfc5246";
  c.server.backends = 20000;
  c.checker.profile = "haproxy-1.7.3";
  c.checker.targets = {"a.test:1", "b.test:2", "c.test:3"};
  c.checker.close = CloseMode::kKeep;
  c.checker.reuse = true;
  c.checker.read_after_handshake = true;
  c.checker.fastinter = Millis(2000);
  c.checker.downinter = Millis(2000);
  c.checker.timeout = Millis(2000);
  c.duration = Millis(0);
  c.max_checks = 1;
  return c;
}

// The fields each command has flags for, copied from `full`; the others keep their defaults.
// This list is the expectation: a field listed here without a flag fails the round trip.
Config OwnedBy(Command command, const Config& full) {
  if (command == Command::kProbe) {
    // Over the probe's own defaults, which set the check timeout: it cannot be unset there.
    Config c = ProbeDefaults();
    c.tls.version = full.tls.version;
    c.tls.keylog_file = full.tls.keylog_file;
    c.checker.sni = full.checker.sni;
    c.checker.check = full.checker.check;
    c.checker.http_path = full.checker.http_path;
    if (full.checker.timeout) c.checker.timeout = full.checker.timeout;
    c.output.json = full.output.json;
    c.output.trace = full.output.trace;
    c.probe = full.probe;
    if (c.probe.target.empty()) c.probe.target = "127.0.0.1:1";  // probe requires one
    return c;
  }
  Config c;
  c.duration = full.duration;
  c.max_checks = full.max_checks;
  c.output = full.output;
  if (command != Command::kIncident) c.tls = full.tls;
  switch (command) {
    case Command::kServe:
      c.server = full.server;
      break;
    case Command::kCheck:
      c.checker = full.checker;
      break;
    case Command::kSimulate:
      c.simulation = full.simulation;
      c.simulation.enabled = true;
      // A simulation spans at least one second (Validate).
      if (c.duration < Millis(1000)) c.duration = Millis(1000);
      [[fallthrough]];
    case Command::kRun:
      c.server.profile = full.server.profile;
      c.server.backends = full.server.backends;
      c.server.threads = full.server.threads;
      c.server.handshake_timeout = full.server.handshake_timeout;
      c.server.idle_timeout = full.server.idle_timeout;
      c.server.session_timeout = full.server.session_timeout;
      c.server.cache_size = full.server.cache_size;
      c.checker = full.checker;
      c.checker.targets = {};  // run starts its own server and checks it
      c.checker.targets_file = {};
      c.checker.sni = {};
      break;
    case Command::kIncident:
      c.server.backends = full.server.backends;
      c.checker.check = full.checker.check;
      c.checker.inter = full.checker.inter;
      c.checker.threads = full.checker.threads;
      break;
    case Command::kProbe:
      break;
  }
  return c;
}

const Command kCommands[] = {Command::kServe,    Command::kCheck, Command::kRun,
                             Command::kIncident, Command::kProbe, Command::kSimulate};

Config BaseOf(Command command) { return command == Command::kProbe ? ProbeDefaults() : Config{}; }

std::string Joined(const std::vector<std::string>& argv) {
  std::string out;
  for (const std::string& a : argv) out += (out.empty() ? "" : " ") + a;
  return out;
}

TEST(FlagsRoundTripTest, EveryFieldChangedDiffersFromItsDefault) {
  // Guards the round trip below: a field left at its default would pass it without a flag.
  const Config c = EveryFieldChanged();
  const Config d;
  EXPECT_NE(c.tls.version, d.tls.version);
  EXPECT_NE(c.tls.tickets, d.tls.tickets);
  EXPECT_NE(c.tls.session_cache, d.tls.session_cache);
  EXPECT_NE(c.tls.key, d.tls.key);
  EXPECT_NE(c.tls.cert_file, d.tls.cert_file);
  EXPECT_NE(c.tls.key_file, d.tls.key_file);
  EXPECT_NE(c.tls.keylog_file, d.tls.keylog_file);
  EXPECT_NE(c.server.profile, d.server.profile);
  EXPECT_NE(c.server.backends, d.server.backends);
  EXPECT_NE(c.server.listen, d.server.listen);
  EXPECT_NE(c.server.port, d.server.port);
  EXPECT_NE(c.server.ports_file, d.server.ports_file);
  EXPECT_NE(c.server.threads, d.server.threads);
  EXPECT_NE(c.server.handshake_timeout, d.server.handshake_timeout);
  EXPECT_NE(c.server.idle_timeout, d.server.idle_timeout);
  EXPECT_NE(c.server.session_timeout, d.server.session_timeout);
  EXPECT_NE(c.server.cache_size, d.server.cache_size);
  EXPECT_NE(c.simulation.checker_threads, d.simulation.checker_threads);
  EXPECT_NE(c.simulation.checkers, d.simulation.checkers);
  EXPECT_NE(c.simulation.restart_every, d.simulation.restart_every);
  EXPECT_NE(c.simulation.restart_share, d.simulation.restart_share);
  EXPECT_NE(c.simulation.restart_downtime, d.simulation.restart_downtime);
  EXPECT_NE(c.simulation.backend_cores, d.simulation.backend_cores);
  EXPECT_NE(c.simulation.costs_file, d.simulation.costs_file);
  EXPECT_NE(c.simulation.seed, d.simulation.seed);
  EXPECT_NE(c.simulation.resolution, d.simulation.resolution);
  EXPECT_NE(c.simulation.rtt, d.simulation.rtt);
  EXPECT_NE(c.checker.profile, d.checker.profile);
  EXPECT_NE(c.checker.targets, d.checker.targets);
  EXPECT_NE(c.checker.targets_file, d.checker.targets_file);
  EXPECT_NE(c.checker.sni, d.checker.sni);
  EXPECT_NE(c.checker.check, d.checker.check);
  EXPECT_NE(c.checker.close, d.checker.close);
  EXPECT_NE(c.checker.reuse, d.checker.reuse);
  EXPECT_NE(c.checker.read_after_handshake, d.checker.read_after_handshake);
  EXPECT_NE(c.checker.inter, d.checker.inter);
  EXPECT_NE(c.checker.fastinter, d.checker.fastinter);
  EXPECT_NE(c.checker.downinter, d.checker.downinter);
  EXPECT_NE(c.checker.timeout, d.checker.timeout);
  EXPECT_NE(c.checker.rise, d.checker.rise);
  EXPECT_NE(c.checker.fall, d.checker.fall);
  EXPECT_NE(c.checker.threads, d.checker.threads);
  EXPECT_NE(c.checker.stats_socket, d.checker.stats_socket);
  EXPECT_NE(c.checker.http_path, d.checker.http_path);
  EXPECT_NE(c.output.json, d.output.json);
  EXPECT_NE(c.output.live, d.output.live);
  EXPECT_NE(c.output.trace, d.output.trace);
  EXPECT_NE(c.duration, d.duration);
  EXPECT_NE(c.max_checks, d.max_checks);
  EXPECT_NE(c.probe.target, d.probe.target);
  EXPECT_NE(c.probe.repeat, d.probe.repeat);
  EXPECT_NE(c.probe.pause, d.probe.pause);
  EXPECT_NE(c.probe.expect, d.probe.expect);
}

TEST(FlagsRoundTripTest, ParseOfToArgvGivesBackTheConfig) {
  struct Row {
    std::string_view name;
    Config config;
  };
  const Row rows[] = {
      {"defaults", Config{}},
      {"every_field_changed", EveryFieldChanged()},
      {"optionals_at_fallbacks", OptionalsAtFallbacks()},
  };
  for (const Row& row : rows) {
    for (Command command : kCommands) {
      const Config expected = OwnedBy(command, row.config);
      const std::vector<std::string> argv = ToArgv(command, expected);
      SCOPED_TRACE(std::string(row.name) + ", command #" +
                   std::to_string(static_cast<int>(command)) + ": " + Joined(argv));
      ParsedFlags parsed;
      ASSERT_NO_THROW(parsed = ParseFlags(command, argv, BaseOf(command)));
      EXPECT_FALSE(parsed.help);
      EXPECT_TRUE(parsed.config == expected);
      // Field groups, to say which one lost a value when the whole comparison fails.
      EXPECT_TRUE(parsed.config.tls == expected.tls);
      EXPECT_TRUE(parsed.config.server == expected.server);
      EXPECT_TRUE(parsed.config.checker == expected.checker);
      EXPECT_TRUE(parsed.config.output == expected.output);
      EXPECT_TRUE(parsed.config.probe == expected.probe);
      EXPECT_EQ(parsed.config.duration, expected.duration);
      EXPECT_EQ(parsed.config.max_checks, expected.max_checks);
    }
  }
}

// The table is data: every flag describes itself fully, and the description agrees with what
// the flag does (a setter of the described type, a getter that reads back what was set).
TEST(FlagTableTest, EveryFlagDescribesItself) {
  for (Command command : kCommands) {
    std::set<std::string> names;
    for (const Flag& flag : FlagsOf(command)) {
      SCOPED_TRACE(std::string(Name(command)) + " --" + flag.name);
      EXPECT_TRUE(names.insert(flag.name).second) << "one flag per name in a command";
      EXPECT_FALSE(flag.help.empty());
      EXPECT_TRUE(flag.Has(command));
      ASSERT_TRUE(flag.set && flag.get);
      EXPECT_EQ(flag.type == FlagType::kEnum, !flag.choices.empty());
      EXPECT_EQ(flag.type == FlagType::kSwitch, flag.value_name.empty());
      EXPECT_EQ(flag.role == FlagRole::kAlias, !flag.alias_of.empty());
      if (flag.role == FlagRole::kAlias) {
        EXPECT_TRUE(names.count(flag.alias_of)) << "the aliased flag comes first";
      }
      // Every choice of an enum parses, sets and reads back as itself.
      for (const std::string& choice : flag.choices) {
        Config c = BaseOf(command);
        flag.set(c, ParseFlagText(flag, choice));
        EXPECT_EQ(FlagText(flag, flag.get(c)), std::vector<std::string>{choice});
      }
    }
  }
}

TEST(FlagTableTest, EveryCommandHasItsFlags) {
  for (Command command : kCommands) {
    EXPECT_FALSE(FlagsOf(command).empty()) << Name(command);
    EXPECT_EQ(ParseCommandName(Name(command)), command);
  }
  EXPECT_NE(UsageErrorMessage([] { ParseCommandName("serv"); }), "");
}

// ConfigJson renders the Config field by field: the same names and texts as ToArgv.
TEST(FlagTableTest, ConfigJsonMatchesTheArgv) {
  for (Command command : kCommands) {
    const Config c = OwnedBy(command, EveryFieldChanged());
    const nlohmann::json j = ConfigJson(command, c);
    std::vector<std::string> argv;
    if (command == Command::kProbe) argv.push_back(c.probe.target);
    for (const auto& [name, value] : j.items()) {
      if (value.is_boolean()) {
        argv.push_back("--" + name);
      } else if (value.is_array()) {
        for (const auto& v : value) argv.insert(argv.end(), {"--" + name, v.get<std::string>()});
      } else {
        argv.insert(argv.end(), {"--" + name, value.get<std::string>()});
      }
    }
    EXPECT_TRUE(ParseFlags(command, argv, BaseOf(command)).config == c) << Name(command);
  }
}

TEST(FlagsTest, ProbeTakesOneTarget) {
  const Config base = ProbeDefaults();
  EXPECT_EQ(ParseFlags(Command::kProbe, {"h:1", "--repeat", "2"}, base).config.probe.target, "h:1");
  EXPECT_NE(
      UsageErrorMessage([&] { ParseFlags(Command::kProbe, {}, base); }).find("needs a target"),
      std::string::npos);
  EXPECT_NE(UsageErrorMessage([&] { ParseFlags(Command::kProbe, {"a:1", "b:2"}, base); }), "");
  const Config http = ParseFlags(Command::kProbe, {"h:1", "--http"}, base).config;
  EXPECT_EQ(http.checker.check, CheckKind::kHttp);
  EXPECT_EQ(base.checker.check, CheckKind::kConnect);
}

TEST(FlagsTest, NamesOfDesignSection11) {
  // Other tools, scripts and docs spell these flags; renaming one breaks them even though the
  // round trip above still passes.
  struct Row {
    Command command;
    std::vector<std::string_view> flags;
  };
  const Row rows[] = {
      {Command::kServe,
       {"--profile", "--backends", "--listen", "--port", "--ports-file", "--tls", "--tickets",
        "--key", "--duration", "--json"}},
      {Command::kCheck,
       {"--profile", "--target", "--targets-file", "--check", "--close", "--inter", "--duration",
        "--tls", "--no-reuse", "--threads", "--stats-socket", "--json"}},
      {Command::kRun,
       {"--server-profile", "--checker-profile", "--backends", "--inter", "--duration", "--check",
        "--tls", "--json"}},
  };
  for (const Row& row : rows) {
    const std::string help = FlagsHelp(row.command);
    for (std::string_view flag : row.flags) {
      EXPECT_NE(help.find(std::string(" ").append(flag).append(" ")), std::string::npos)
          << flag << " missing from the help of command #" << static_cast<int>(row.command);
    }
  }
}

TEST(FlagsTest, ParsesOverTheBaseConfig) {
  Config base;
  base.server.backends = 9;
  const ParsedFlags parsed = ParseFlags(Command::kServe, {"--threads", "2"}, base);
  EXPECT_EQ(parsed.config.server.backends, 9) << "flags not given keep the base's values";
  EXPECT_EQ(parsed.config.server.threads, 2);
}

TEST(FlagsTest, NoReuseIsReuseOff) {
  EXPECT_EQ(ParseFlags(Command::kCheck, {"--no-reuse"}).config.checker.reuse,
            std::optional<bool>(false));
  EXPECT_EQ(ParseFlags(Command::kRun, {"--reuse", "on"}).config.checker.reuse,
            std::optional<bool>(true));
}

TEST(FlagsTest, HelpIsReportedNotValidated) {
  EXPECT_TRUE(ParseFlags(Command::kServe, {"--help"}).help);
  EXPECT_TRUE(ParseFlags(Command::kRun, {"-h"}).help);
  EXPECT_NE(FlagsHelp(Command::kCheck).find("--inter"), std::string::npos);
}

struct BadFlagRow {
  std::string_view name;
  Command command;
  std::vector<std::string> args;
  std::vector<std::string_view> needles;
  std::string_view reason;
};

TEST(FlagsTest, BadFlagsThrowOneLineNamingTheFlag) {
  const std::vector<BadFlagRow> rows = {
      {"bad_duration",
       Command::kCheck,
       {"--inter", "2x"},
       {"--inter", "'2x'", "500ms"},
       "the message says what a duration looks like"},
      {"unknown_flag", Command::kServe, {"--bogus"}, {"'--bogus'"}, "no such flag"},
      {"flag_of_another_command",
       Command::kServe,
       {"--inter", "2s"},
       {"'--inter'"},
       "serve has no checker flags"},
      {"target_not_in_run",
       Command::kRun,
       {"--target", "127.0.0.1:1"},
       {"'--target'"},
       "run checks its own server"},
      {"bad_enum",
       Command::kServe,
       {"--tls", "1.1"},
       {"--tls", "'1.1'", "auto, 1.2, 1.3"},
       "the message lists the accepted names"},
      {"bad_on_off", Command::kCheck, {"--reuse", "maybe"}, {"--reuse", "on or off"}, "on or off"},
      {"bad_number",
       Command::kServe,
       {"--backends", "many"},
       {"--backends", "whole number"},
       "not a number"},
      {"negative_number",
       Command::kServe,
       {"--backends", "-3"},
       {"backends"},
       "no negative backends"},
      {"missing_value", Command::kServe, {"--backends"}, {"backends"}, "a value is required"},
      {"backends_0",
       Command::kServe,
       {"--backends", "0"},
       {"backends"},
       "Validate runs after parsing"},
      {"threads_0",
       Command::kServe,
       {"--threads", "0"},
       {"threads"},
       "Validate runs after parsing"},
      {"inter_1ms", Command::kCheck, {"--inter", "1ms"}, {"inter"}, "Validate runs after parsing"},
      {"unknown_profile",
       Command::kServe,
       {"--profile", "jetty"},
       {"'jetty'", "strict"},
       "unknown server profile"},
      {"unknown_checker_profile",
       Command::kRun,
       {"--checker-profile", "nope"},
       {"'nope'"},
       "unknown checker profile"},
      {"cert_without_key",
       Command::kServe,
       {"--cert", "cert.pem"},
       {"--cert", "--key-file"},
       "they go together"},
  };
  for (const BadFlagRow& row : rows) {
    const std::string message = UsageErrorMessage([&] { ParseFlags(row.command, row.args); });
    ASSERT_FALSE(message.empty()) << row.name << " must be rejected: " << row.reason;
    for (std::string_view needle : row.needles) {
      EXPECT_NE(message.find(needle), std::string::npos)
          << row.name << ": '" << message << "' should contain '" << needle << "'";
    }
    EXPECT_EQ(message.find('\n'), std::string::npos) << row.name << ": one line";
  }
}

// A stray positional argument is an error, not silently dropped (Boost keeps it as an option
// with an empty name and unregistered == false).
TEST(FlagsTest, PositionalArgumentsAreRejected) {
  const std::string message = UsageErrorMessage([] { ParseFlags(Command::kServe, {"stray"}); });
  EXPECT_NE(message.find("'stray'"), std::string::npos) << "'" << message << "'";
  EXPECT_NE(UsageErrorMessage([] {
              ParseFlags(Command::kServe, {"--backends", "5", "10"});
            }),
            "")
      << "a stray value after a flag's value is a mistake, not something to ignore";
}

}  // namespace
}  // namespace tlslab
