#include "lab/config.h"

#include "lab/errors.h"
#include "lab/metrics_server.h"
#include "lab/profiles.h"
#include "lab/text.h"

namespace tlslab {
namespace {

void Require(bool ok, const std::string& message) {
  if (!ok) throw UsageError(message);
}

void RequireRange(const char* field, int64_t value, int64_t lo, int64_t hi) {
  Require(value >= lo && value <= hi, std::string(field) + " must be between " +
                                          std::to_string(lo) + " and " + std::to_string(hi) +
                                          ", got " + std::to_string(value));
}

void RequireDuration(const char* field, Millis value, Millis lo, Millis hi) {
  Require(value >= lo && value <= hi, std::string(field) + " must be between " +
                                          FormatDuration(lo) + " and " + FormatDuration(hi) +
                                          ", got " + FormatDuration(value));
}

}  // namespace

void Validate(const Config& c) {
  // Text first: every other message may quote these values, and the JSON result carries them.
  RequireText("server profile", c.server.profile);
  RequireText("checker profile", c.checker.profile);
  RequireText("listen", c.server.listen);
  RequireText("cert", c.tls.cert_file);
  RequireText("key-file", c.tls.key_file);
  RequireText("keylog", c.tls.keylog_file);
  RequireText("ports-file", c.server.ports_file);
  RequireText("targets-file", c.checker.targets_file);
  RequireText("stats-socket", c.checker.stats_socket);
  RequireText("sni", c.checker.sni);
  RequireText("http-path", c.checker.http_path);
  for (const std::string& target : c.checker.targets) RequireText("target", target);
  Require(IsSniHostName(c.checker.sni),
          "sni must be a DNS host name (letters, digits, '-' in dot-separated labels; no IP "
          "address), got '" +
              c.checker.sni + "'");
  FindServerProfile(c.server.profile);
  if (!c.checker.profile.empty()) FindCheckerProfile(c.checker.profile);
  const SimulationConfig& sim = c.simulation;
  RequireRange("backends", c.server.backends, 1, sim.enabled ? kMaxSimBackends : kMaxBackends);
  RequireRange("port", c.server.port, 0, 65535);
  if (c.server.port != 0) {
    RequireRange("port + backends - 1", c.server.port + c.server.backends - 1, 1, 65535);
  }
  RequireRange("max-connections", c.server.max_connections, 1, 1000000);
  RequireRange("server threads", c.server.threads, 1, kMaxThreads);
  RequireRange("checker threads", c.checker.threads, 1, kMaxThreads);
  RequireRange("rise", c.checker.rise, 1, 1000);
  RequireRange("fall", c.checker.fall, 1, 1000);
  RequireDuration("inter", c.checker.inter, Millis(10), Millis(3600 * 1000));
  if (c.checker.fastinter) {
    RequireDuration("fastinter", *c.checker.fastinter, Millis(10), Millis(3600 * 1000));
  }
  if (c.checker.downinter) {
    RequireDuration("downinter", *c.checker.downinter, Millis(10), Millis(3600 * 1000));
  }
  if (c.checker.timeout) {
    RequireDuration("timeout", *c.checker.timeout, Millis(10), Millis(600 * 1000));
  }
  RequireDuration("handshake-timeout", c.server.handshake_timeout, Millis(10), Millis(600 * 1000));
  RequireDuration("idle-timeout", c.server.idle_timeout, Millis(10), Millis(3600 * 1000));
  if (sim.enabled) {
    RequireDuration("duration", c.duration, Millis(1000), kMaxSimDuration);
    RequireRange("checker-threads", sim.checker_threads, 0, 4096);
    RequireRange("checkers", sim.checkers, 1, kMaxSimCheckers);
    RequireRange("backend-cores", sim.backend_cores, 0, 1024);
    RequireDuration("restart-every", sim.restart_every, Millis(0), kMaxSimDuration);
    if (sim.restart_every.count() > 0) {
      RequireDuration("restart-every", sim.restart_every, Millis(1000), kMaxSimDuration);
    }
    RequireDuration("restart-downtime", sim.restart_downtime, Millis(0), Millis(3600 * 1000));
    Require(
        sim.restart_share > 0 && sim.restart_share <= 1,
        "restart-share must be above 0 and at most 1, got " + std::to_string(sim.restart_share));
    if (sim.resolution.count() != 0) {
      RequireDuration("resolution", sim.resolution, Millis(1000), Millis(24 * 3600 * 1000));
    }
  } else {
    RequireDuration("duration", c.duration, Millis(0), kMaxDuration);
  }
  if (c.server.session_timeout) {
    RequireDuration("session-timeout", *c.server.session_timeout, Millis(1000),
                    Millis(7LL * 24 * 3600 * 1000));
  }
  if (c.server.cache_size) RequireRange("cache-size", *c.server.cache_size, 1, 10000000);
  Require(c.tls.cert_file.empty() == c.tls.key_file.empty(),
          "--cert and --key-file go together: give both or neither");
  const std::string& mode = c.checker.stats_socket_mode;
  Require(mode.size() >= 3 && mode.size() <= 4 &&
              mode.find_first_not_of("01234567") == std::string::npos,
          "stats-socket-mode must be an octal file mode such as 0600 or 0660");
  if (!c.output.metrics.empty()) ParseMetricsAddress(c.output.metrics);  // throws UsageError
  Require(IsHttpPath(c.checker.http_path),
          "http-path must start with '/' and hold visible ASCII only (no spaces, line breaks "
          "or NUL; percent-encode the rest), got '" +
              c.checker.http_path + "'");
}

unsigned StatsSocketMode(const CheckerConfig& c) {
  return static_cast<unsigned>(std::stoul(c.stats_socket_mode, nullptr, 8));
}

Millis EffectiveFastinter(const CheckerConfig& c) { return c.fastinter.value_or(c.inter); }
Millis EffectiveDowninter(const CheckerConfig& c) { return c.downinter.value_or(c.inter); }
Millis EffectiveCheckTimeout(const CheckerConfig& c) { return c.timeout.value_or(c.inter); }

CheckPlan EffectiveCheckPlan(const CheckerConfig& c) {
  CheckPlan plan;
  plan.check = c.check;
  if (!c.profile.empty()) {
    const CheckerProfile& profile = FindCheckerProfile(c.profile);
    const CheckPreset& preset = PresetFor(profile, c.check);
    plan.close = preset.close;
    plan.read_after_handshake = preset.read_after_handshake;
    plan.reuse = profile.reuse;
  }
  if (c.close) plan.close = *c.close;
  if (c.reuse) plan.reuse = *c.reuse;
  if (c.read_after_handshake) plan.read_after_handshake = *c.read_after_handshake;
  return plan;
}

}  // namespace tlslab
