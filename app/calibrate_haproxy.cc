#include "app/calibrate_haproxy.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "lab/errors.h"
#include "servers/server_engine.h"
#include "sim/checker_costs.h"

namespace tlslab {
namespace {

namespace fs = std::filesystem;

constexpr Millis kInter{1000};
constexpr auto kStopWait = std::chrono::seconds(5);

std::string FindOnPath(const std::string& name) {
  if (name.find('/') != std::string::npos) return access(name.c_str(), X_OK) == 0 ? name : "";
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path != nullptr ? path : "/usr/sbin:/usr/bin:/sbin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    const std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

std::string Tail(const fs::path& file, size_t bytes) {
  std::ifstream in(file, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return text.size() > bytes ? text.substr(text.size() - bytes) : text;
}

// A child process in its own process group (HAProxy may fork helpers), killed with its group
// when it goes out of scope, and with this process if this process dies (PR_SET_PDEATHSIG).
class Child {
 public:
  Child(const std::vector<std::string>& argv, const fs::path& log) {
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) throw RuntimeError("cannot create " + log.string());
    const int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    const pid_t parent = getpid();
    pid_ = fork();
    if (pid_ == 0) {  // only async-signal-safe calls until exec: the parent has threads
      setpgid(0, 0);
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(127);
      dup2(null, 0);
      dup2(fd, 1);
      dup2(fd, 2);
      execv(args[0], args.data());
      _exit(127);
    }
    close(fd);
    if (null >= 0) close(null);
    if (pid_ < 0) throw RuntimeError("fork failed");
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() { Stop(); }
  pid_t pid() const { return pid_; }
  bool Exited() {
    if (done_) return true;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) done_ = true;
    return done_;
  }
  // SIGTERM to the group, at most kStopWait, then SIGKILL (which cannot be refused).
  void Stop() {
    if (pid_ <= 0 || Exited()) return;
    kill(-pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + kStopWait;
    while (!Exited() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (!Exited()) {
      kill(-pid_, SIGKILL);
      int status = 0;
      waitpid(pid_, &status, 0);
      done_ = true;
    }
  }

 private:
  pid_t pid_ = -1;
  bool done_ = false;
};

// CPU nanoseconds of a process: the sum of its threads' time on a CPU, from
// /proc/PID/task/TID/schedstat (first field, nanoseconds; Linux
// Documentation/scheduler/sched-stats.rst), else utime + stime of /proc/PID/stat (fields 14
// and 15, clock ticks; proc(5)).
uint64_t ProcessCpuNsOf(pid_t pid) {
  const fs::path proc = fs::path("/proc") / std::to_string(pid);
  uint64_t total = 0;
  bool any = false;
  std::error_code ec;
  for (fs::directory_iterator it(proc / "task", ec), end; !ec && it != end; it.increment(ec)) {
    std::ifstream in(it->path() / "schedstat");
    uint64_t ns = 0;
    if (in >> ns) {
      total += ns;
      any = true;
    }
  }
  if (any) return total;
  std::ifstream in(proc / "stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t paren = text.rfind(')');
  if (paren == std::string::npos) return 0;
  std::istringstream fields(text.substr(paren + 2));  // from field 3 (state)
  std::string skip;
  for (int i = 3; i < 14 && fields >> skip; ++i) {
  }
  uint64_t utime = 0, stime = 0;
  fields >> utime >> stime;
  const long ticks = sysconf(_SC_CLK_TCK);
  return (utime + stime) * 1'000'000'000ULL / static_cast<uint64_t>(ticks > 0 ? ticks : 100);
}

std::string HaproxyVersion(const std::string& binary, const fs::path& dir) {
  const fs::path log = dir / "version.txt";
  Child child({binary, "-v"}, log);
  const auto deadline = std::chrono::steady_clock::now() + kStopWait;
  while (!child.Exited() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  child.Stop();
  std::ifstream in(log);
  std::string line;
  std::getline(in, line);
  return line.substr(0, 200);
}

// nbthread 1: the lab's checker is one thread, and HAProxy 2.6 keeps a saved session per
// thread (src/ssl_sock.c reused_sess[tid]), so one thread resumes every check it can.
// A frontend that listens on an abstract socket only, so nothing on the network listens.
std::string HaproxyConfig(const std::vector<Endpoint>& endpoints, CheckKind check,
                          const std::string& tag) {
  std::ostringstream cfg;
  cfg << "global\n    maxconn 4096\n    nbthread 1\n"
      << "defaults\n    mode http\n    timeout connect 5s\n    timeout client 30s\n"
      << "    timeout server 5s\n    timeout check 2s\n"
      << "frontend fe\n    bind abns@" << tag << "\n    default_backend be\n"
      << "backend be\n";
  if (check == CheckKind::kHttp) cfg << "    option httpchk GET /\n";
  for (size_t i = 0; i < endpoints.size(); ++i) {
    cfg << "    server s" << i << " 127.0.0.1:" << endpoints[i].port()
        << " check check-ssl verify none inter " << kInter.count() << "ms\n";
  }
  return cfg.str();
}

struct Run {
  double rate = 0, cpu_us_per_s = 0, resumption = 0;
};

// One run: `backends` lab backends, lenient, HAProxy checking each every second. For full
// checks the backends keep no session (no cache, no tickets: HAProxy's offer is refused);
// otherwise every check after the first resumes (HAProxy 2.6 reuses its saved session,
// src/ssl_sock.c reused_sess). Not jdk8-sslengine: HAProxy 2.6 sends close_notify after an
// http check (lab/profiles.cc haproxy-2.6), so that server would keep the session. Measured
// after the first round plus a second, as the lab's steady window (lab/figures.cc).
Run RunOnce(const HaproxyCalibration& o, const std::string& binary, const fs::path& dir,
            KeyType key, TlsVersion version, bool full, int backends) {
  Config c;
  c.server.profile = "lenient";
  c.tls.session_cache = !full;
  c.tls.tickets = !full;
  c.server.backends = backends;
  c.tls.key = key;
  c.tls.version = version;
  c.output.live = false;
  Validate(c);
  ServerEngine server(c, nullptr);
  server.Start();
  const std::string tag = "tlslab-calibrate-" + std::to_string(getpid());
  const fs::path cfg = dir / "haproxy.cfg", log = dir / "haproxy.log";
  std::ofstream(cfg) << HaproxyConfig(server.endpoints(), o.check, tag);
  Run run;
  {
    Child haproxy({binary, "-f", cfg.string(), "-db"}, log);
    auto alive_after = [&](Millis wait) {
      std::this_thread::sleep_for(wait);
      if (haproxy.Exited()) {
        throw RuntimeError("haproxy exited early: " + Tail(log, 300));
      }
    };
    const Millis warm = kInter + Millis(1000);
    alive_after(warm);
    const uint64_t cpu0 = ProcessCpuNsOf(haproxy.pid());
    const ServerTotals t0 = server.Totals();
    const auto w0 = std::chrono::steady_clock::now();
    alive_after(std::max(Millis(1000), o.run - warm));
    const uint64_t cpu1 = ProcessCpuNsOf(haproxy.pid());
    const ServerTotals t1 = server.Totals();
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count();
    haproxy.Stop();
    const double fulls = static_cast<double>(t1.full_handshakes - t0.full_handshakes);
    const double resumed = static_cast<double>(t1.resumed_handshakes - t0.resumed_handshakes);
    if (fulls + resumed < 1) {
      server.Stop();
      server.Join();
      throw RuntimeError("haproxy made no checks of the lab's backends: " + Tail(log, 300));
    }
    run.rate = (fulls + resumed) / dt;
    run.cpu_us_per_s = static_cast<double>(cpu1 - cpu0) / 1e3 / dt;
    run.resumption = resumed / (fulls + resumed);
  }
  server.Stop();
  server.Join();
  return run;
}

}  // namespace

nlohmann::json CalibrateHaproxy(const HaproxyCalibration& o) {
  const std::string binary = FindOnPath(o.haproxy);
  if (binary.empty()) {
    throw RuntimeError("--checker haproxy: '" + o.haproxy +
                       "' not found (apt-get install haproxy, or --haproxy PATH)");
  }
  char tmpl[] = "/tmp/tlslab-calibrate-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) throw RuntimeError("cannot create a directory in /tmp");
  const fs::path dir = tmpl;
  struct Cleanup {
    fs::path dir;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  } cleanup{dir};
  nlohmann::json costs = nlohmann::json::object(), runs = nlohmann::json::array();
  for (KeyType key : o.keys) {
    for (TlsVersion version : o.versions) {
      std::array<RatePoint, 2> full{}, resumed{};
      for (size_t i = 0; i < 2; ++i) {
        for (bool is_full : {true, false}) {
          std::fprintf(stderr, "calibrate: haproxy, %s TLS %s, %d backends, %s...\n",
                       std::string(Name(key)).c_str(),
                       version == TlsVersion::kTls12 ? "1.2" : "1.3", o.backends[i],
                       is_full ? "full" : "resumed");
          const Run r = RunOnce(o, binary, dir, key, version, is_full, o.backends[i]);
          if (is_full ? r.resumption > 0.05 : r.resumption < 0.95) {
            std::fprintf(stderr, "calibrate: warning: %.0f%% of these checks resumed\n",
                         r.resumption * 100);
          }
          (is_full ? full : resumed)[i] = {r.rate, r.cpu_us_per_s};
          runs.push_back({{"key", Name(key)},
                          {"tls", version == TlsVersion::kTls12 ? "1.2" : "1.3"},
                          {"handshakes", is_full ? "full" : "resumed"},
                          {"backends", o.backends[i]},
                          {"checks_per_s", r.rate},
                          {"cpu_percent", r.cpu_us_per_s / 1e4},
                          {"us_per_check", r.cpu_us_per_s / r.rate},
                          {"resumption_ratio", r.resumption}});
        }
      }
      const RateFit fit = FitRates(full, resumed);
      PutCheckerCosts(
          costs, key, version, o.check,
          CheckerCosts{true, fit.full, fit.resumed, fit.per_second, fit.per_second_full});
    }
  }
  return {{"checker", "haproxy"},
          {"checker_version", HaproxyVersion(binary, dir)},
          {"costs", costs},
          {"runs", runs}};
}

}  // namespace tlslab
