// Validate: every bad value is a UsageError whose one line names the field; the bounds
// themselves are accepted. And the effective intervals (HAProxy's defaults to inter).
#include "lab/config.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "lab/testing/usage_error.h"

namespace tlslab {
namespace {

struct InvalidRow {
  std::string_view name;
  std::function<void(Config&)> change;
  std::vector<std::string_view> needles;  // the message must contain each
  std::string_view reason;
};

TEST(ValidateTest, DefaultConfigIsValid) { EXPECT_NO_THROW(Validate(Config{})); }

TEST(ValidateTest, BadValuesThrowNamingTheField) {
  const std::vector<InvalidRow> rows = {
      {"backends_0",
       [](Config& c) { c.server.backends = 0; },
       {"backends", "got 0"},
       "a server needs a backend"},
      {"backends_above_max",
       [](Config& c) { c.server.backends = kMaxBackends + 1; },
       {"backends", std::to_string(kMaxBackends)},
       "the hard bound every load loop relies on"},
      {"server_threads_0",
       [](Config& c) { c.server.threads = 0; },
       {"server threads"},
       "an engine needs a thread"},
      {"checker_threads_0",
       [](Config& c) { c.checker.threads = 0; },
       {"checker threads"},
       "an engine needs a thread"},
      {"checker_threads_above_max",
       [](Config& c) { c.checker.threads = kMaxThreads + 1; },
       {"checker threads"},
       "the hard bound on threads"},
      {"inter_1ms",
       [](Config& c) { c.checker.inter = Millis(1); },
       {"inter", "1ms"},
       "a check every millisecond is a flood, not a health check"},
      {"fastinter_1ms",
       [](Config& c) { c.checker.fastinter = Millis(1); },
       {"fastinter"},
       "same bound as inter"},
      {"downinter_1ms",
       [](Config& c) { c.checker.downinter = Millis(1); },
       {"downinter"},
       "same bound as inter"},
      {"timeout_0",
       [](Config& c) { c.checker.timeout = Millis(0); },
       {"timeout"},
       "a check cannot finish in no time"},
      {"handshake_timeout_5ms",
       [](Config& c) { c.server.handshake_timeout = Millis(5); },
       {"handshake-timeout"},
       "a handshake needs a few round trips"},
      {"idle_timeout_5ms",
       [](Config& c) { c.server.idle_timeout = Millis(5); },
       {"idle-timeout"},
       "the bound on idle timeouts"},
      {"duration_above_max",
       [](Config& c) { c.duration = kMaxDuration + Millis(1); },
       {"duration"},
       "runs end within a day"},
      {"rise_0", [](Config& c) { c.checker.rise = 0; }, {"rise"}, "HAProxy needs rise >= 1"},
      {"fall_0", [](Config& c) { c.checker.fall = 0; }, {"fall"}, "HAProxy needs fall >= 1"},
      {"port_70000", [](Config& c) { c.server.port = 70000; }, {"port"}, "not a TCP port"},
      {"ports_past_65535",
       [](Config& c) {
         c.server.port = 65535;
         c.server.backends = 2;
       },
       {"port + backends"},
       "backend i listens on port+i"},
      {"unknown_server_profile",
       [](Config& c) { c.server.profile = "jetty"; },
       {"server profile", "'jetty'", "strict", "lenient"},
       "the message lists the known ones"},
      {"unknown_checker_profile",
       [](Config& c) { c.checker.profile = "haproxy-9"; },
       {"checker profile", "'haproxy-9'", "haproxy-1.7.4"},
       "the message lists the known ones"},
      {"cert_without_key",
       [](Config& c) { c.tls.cert_file = "cert.pem"; },
       {"--cert", "--key-file"},
       "a certificate is useless without its key"},
      {"key_without_cert",
       [](Config& c) { c.tls.key_file = "key.pem"; },
       {"--cert", "--key-file"},
       "a key is useless without its certificate"},
      {"http_path_relative",
       [](Config& c) { c.checker.http_path = "health"; },
       {"http-path", "'health'"},
       "a request target starts with '/'"},
      {"http_path_with_space",
       [](Config& c) { c.checker.http_path = "/a b"; },
       {"http-path"},
       "a space would split the request line"},
  };
  for (const InvalidRow& row : rows) {
    Config config;
    row.change(config);
    const std::string message = UsageErrorMessage([&] { Validate(config); });
    ASSERT_FALSE(message.empty()) << row.name << " must be rejected: " << row.reason;
    for (std::string_view needle : row.needles) {
      EXPECT_NE(message.find(needle), std::string::npos)
          << row.name << ": '" << message << "' should contain '" << needle << "'";
    }
    EXPECT_EQ(message.find('\n'), std::string::npos) << row.name << ": one line";
  }
}

TEST(ValidateTest, BoundsAreAccepted) {
  const std::vector<std::function<void(Config&)>> changes = {
      [](Config& c) { c.server.backends = kMaxBackends; },
      [](Config& c) { c.server.threads = kMaxThreads; },
      [](Config& c) { c.checker.inter = Millis(10); },
      [](Config& c) { c.duration = kMaxDuration; },
      [](Config& c) { c.duration = Millis(0); },
      [](Config& c) {
        c.server.port = 65534;
        c.server.backends = 2;
      },
      [](Config& c) {
        c.tls.cert_file = "cert.pem";
        c.tls.key_file = "key.pem";
      },
      [](Config& c) { c.server.profile = "rfc5246"; },
  };
  for (size_t i = 0; i < changes.size(); ++i) {
    Config config;
    changes[i](config);
    EXPECT_NO_THROW(Validate(config)) << "change #" << i;
  }
}

TEST(EffectiveIntervalsTest, DefaultToInterLikeHaproxy) {
  CheckerConfig c;
  c.inter = Millis(3000);
  EXPECT_EQ(EffectiveFastinter(c), Millis(3000));
  EXPECT_EQ(EffectiveDowninter(c), Millis(3000));
  EXPECT_EQ(EffectiveCheckTimeout(c), Millis(3000));
  c.fastinter = Millis(500);
  c.downinter = Millis(10000);
  c.timeout = Millis(1500);
  EXPECT_EQ(EffectiveFastinter(c), Millis(500));
  EXPECT_EQ(EffectiveDowninter(c), Millis(10000));
  EXPECT_EQ(EffectiveCheckTimeout(c), Millis(1500));
}

}  // namespace
}  // namespace tlslab
