#include "servers/serve_command.h"

#include <arpa/inet.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "lab/errors.h"
#include "lab/flags.h"
#include "lab/metrics_server.h"
#include "lab/monitor.h"
#include "lab/report.h"
#include "servers/server_engine.h"

namespace tlslab {
namespace {

void WritePortsFile(const std::string& path, const std::vector<Endpoint>& endpoints) {
  const std::string shown = "--ports-file: '" + path + "'";
  // Only a regular file is replaced: renaming over a FIFO, a device or a symlink would
  // destroy what was there.
  struct stat st {};
  if (lstat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    throw UsageError(shown + " exists and is not a regular file; refusing to replace it");
  }
  // Written whole under an unpredictable name in the target's directory (mkstemp: O_EXCL, so a
  // planted file or symlink is never followed), then renamed: a reader never sees half a file
  // and rename(2) stays within one file system.
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash + 1);
  std::string tmp = dir + (slash == std::string::npos ? "/" : "") + ".tlslab-ports.XXXXXX";
  int fd = mkstemp(tmp.data());
  if (fd < 0)
    throw UsageError(shown + ": cannot create a file in its directory: " + std::strerror(errno));
  std::string text;
  for (const Endpoint& ep : endpoints) text += ep.text + "\n";
  bool ok = fchmod(fd, 0644) == 0;  // ports are no secret; mkstemp's 0600 would hide them
  for (size_t done = 0; ok && done < text.size();) {
    ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) done += static_cast<size_t>(n);
  }
  const int err = errno;
  ok = (close(fd) == 0) && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int why = ok ? errno : err;
    unlink(tmp.c_str());
    throw UsageError(shown + ": cannot write: " + std::strerror(why));
  }
}

std::string ReadyLine(const Config& config, const std::vector<Endpoint>& endpoints) {
  // "ready backends=3 profile=strict listen=127.0.0.1 ports=40001,40002,40003"
  std::string line = "ready backends=" + std::to_string(endpoints.size()) +
                     " profile=" + config.server.profile + " listen=" + config.server.listen +
                     " ports=";
  for (size_t i = 0; i < endpoints.size(); ++i) {
    if (i > 0) line += ",";
    line += std::to_string(endpoints[i].port());
  }
  return line;
}

}  // namespace

int ServeCommand(const Args& args) {
  return GuardedMain([&] {
    ParsedFlags parsed = ParseFlags(Command::kServe, args);
    if (parsed.help) {
      std::printf("usage: tlslab serve [flags]\n%s", FlagsHelp(Command::kServe).c_str());
      return 0;
    }
    const Config& config = parsed.config;
    StopSignals signals;
    // Before the backends listen: a port in use for --metrics is refused before the run.
    std::unique_ptr<MetricsServer> metrics = StartMetricsServer(config.output.metrics);
    std::unique_ptr<Trace> trace;
    if (config.output.trace) trace = std::make_unique<Trace>(stderr);
    ServerEngine engine(config, trace.get());
    if (!config.server.ports_file.empty())
      WritePortsFile(config.server.ports_file, engine.endpoints());
    if (!engine.endpoints().empty() && !IsLoopback(engine.endpoints().front())) {
      std::fprintf(stderr,
                   "tlslab: warning: listening on %s, not a loopback address: other machines "
                   "can reach these backends\n",
                   config.server.listen.c_str());
    }
    engine.Start();
    // With --json, stdout holds one JSON document and nothing else: the ready line goes to
    // stderr.
    std::FILE* ready_to = config.output.json ? stderr : stdout;
    std::fprintf(ready_to, "%s\n", ReadyLine(config, engine.endpoints()).c_str());
    std::fflush(ready_to);

    const Clock::time_point start = Clock::now();
    const Clock::time_point deadline =
        config.duration.count() == 0 ? Clock::time_point::max() : start + config.duration;
    MonitorHooks hooks;
    hooks.sample = [&] {
      Sample s;
      s.server = engine.Totals();
      s.server_cpu_ns = engine.CpuNs();
      return s;
    };
    hooks.live_line = [](const Sample& now, const Sample& prev) {
      const double dt = now.t_s - prev.t_s > 0 ? now.t_s - prev.t_s : 1;
      uint64_t removed = 0;
      for (uint64_t n : now.server.sessions_removed) removed += n;
      char buf[256];
      std::snprintf(
          buf, sizeof buf,
          "[%5.0fs] connections %6.0f/s  full %6.0f/s  resumed %6.0f/s  sessions "
          "removed %llu  server CPU %5.1f%%",
          now.t_s, static_cast<double>(now.server.connections - prev.server.connections) / dt,
          static_cast<double>(now.server.full_handshakes - prev.server.full_handshakes) / dt,
          static_cast<double>(now.server.resumed_handshakes - prev.server.resumed_handshakes) / dt,
          static_cast<unsigned long long>(removed),
          static_cast<double>(now.server_cpu_ns - prev.server_cpu_ns) / 1e7 / dt);
      return std::string(buf);
    };
    if (metrics) {
      hooks.sampled = [&](const std::vector<Sample>& samples) {
        MetricsInput in;
        in.now = samples.back();
        in.server = true;
        in.backends = engine.PerBackend();
        metrics->Publish(LabMetricFamilies(in));
      };
    }
    MonitorResult result =
        RunMonitor(start, deadline, config.output.live, signals.fd(), nullptr, hooks);
    engine.Stop();
    engine.Join();
    const Sample& last = result.samples.back();
    // CPU over the same window as the seconds: the engine's threads spend CPU before the first
    // sample (contexts, keys), which over a run of a few milliseconds read as thousands of percent.
    const Sample& first = result.samples.front();
    const double seconds = last.t_s - first.t_s;
    const ServerFigures figures{last.server, seconds, last.server_cpu_ns - first.server_cpu_ns};
    if (config.output.json) {
      const nlohmann::json doc = {{"command", "serve"},
                                  {"config", ConfigJson(Command::kServe, config)},
                                  {"versions", Versions()},
                                  {"figures", ToJson(figures)}};
      std::printf("%s\n", doc.dump(2).c_str());
    } else {
      const double cpu = ToJson(figures)["server_cpu_percent"].get<double>();
      std::string kinds;
      for (CloseKind kind : kAllCloseKinds) {
        // Appended piece by piece: GCC 12 -O3 false -Wrestrict (bug 105329).
        kinds.append(" ").append(Name(kind)).append("=");
        kinds.append(std::to_string(last.server.close_kinds[Index(kind)])).append("/");
        kinds.append(std::to_string(last.server.sessions_removed[Index(kind)]));
      }
      std::printf(
          "served %.1f s: %llu connections, %llu full and %llu resumed handshakes, "
          "server CPU %.1f%%\nclose kinds (seen/sessions removed):%s\n",
          seconds, static_cast<unsigned long long>(last.server.connections),
          static_cast<unsigned long long>(last.server.full_handshakes),
          static_cast<unsigned long long>(last.server.resumed_handshakes), cpu, kinds.c_str());
    }
    return result.interrupted ? 130 : 0;  // as run and check: 128 + SIGINT, complete output
  });
}

}  // namespace tlslab
