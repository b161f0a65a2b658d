// tlslab calibrate: this machine's CPU cost per TLS operation and side, in memory
// (sim/calibrate.h) and on loopback (short runs of the lab's own engines, app/lab_run.h), written
// as a cost file for `tlslab simulate --costs FILE` (sim/costs.h).
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <vector>

#include "app/calibrate_haproxy.h"
#include "app/commands.h"
#include "app/lab_run.h"
#include "lab/command_line.h"
#include "lab/errors.h"
#include "lab/report.h"
#include "sim/calibrate.h"
#include "sim/checker_costs.h"
#include "sim/costs.h"
#include "sim/wake.h"

namespace tlslab {
namespace {

namespace po = boost::program_options;

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) return line.substr(colon + 2);
    }
  }
  return "unknown";
}

std::string Hostname() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

std::string UtcNow() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// The check rates of the loopback half: backends checked every second. The lowest, 10, pins
// the per-second cost of a loop (timers), which a simulation of many backend machines at a
// check a second each multiplies by their cores: fitted from 100/s up it came out up to 9 ms
// per second where 10 checks a second measured 1 ms (docs/design.md 12). 100 is far from the
// knee of the broken pair of a 2-core machine, 400 four times that so that the per-second
// cost separates from the per-check cost, and at 900 the broken TLS 1.3 pair still keeps its
// schedule on one checker thread of such a machine. Then one run of the broken pair near its
// knee (KneeBackends), where the wake-up model's bend shows (sim/wake.h).
constexpr std::array<int, 4> kCalibrationBackends{10, 100, 400, 900};

// Backends for the run near the knee: 1.3 times the rate at which the broken pair's checks,
// at what each cost in the 900-backend run, would fill the checker thread (a line, which the
// bend puts a little past the knee), within 1,000 and 5,000 in steps of 100.
int KneeBackends(const Figures& highest) {
  const double us = highest.checker_cpu_us_per_check.value_or(0);
  const double line = us > 0 ? 1e6 / us : 5000.0;
  return std::clamp(static_cast<int>(1.3 * line / 100 + 0.5) * 100, 1000, 5000);
}

// A short real run of the lab (server and checker in this process, loopback sockets).
Figures Loopback(KeyType key, TlsVersion version, bool broken, int backends, Millis duration,
                 bool at_knee) {
  Config c;
  c.tls.key = key;
  c.tls.version = version;
  c.server.profile = broken ? "jdk8-sslengine" : "lenient";
  c.checker.profile = broken ? "haproxy-1.7.3" : "haproxy-1.7.4";
  c.checker.check = CheckKind::kHttp;
  c.server.backends = backends;
  c.checker.inter = Millis(1000);
  c.duration = duration;
  c.output.live = false;
  Validate(c);
  // A run whose checks fell behind their schedule (a machine busy with other work) measures
  // timeouts, not checks: run it again, up to twice, then keep it with a warning. The run at
  // the knee falls behind by design: what it measures is the checks done and their CPU.
  Figures f;
  for (int attempt = 0; attempt < 3; ++attempt) {
    f = RunLab(c, -1, nullptr).figures;
    if (at_knee) return f;
    const double rate = f.checker_cpu_us_per_check.value_or(0) > 0
                            ? f.checker_cpu_percent * 1e4 / *f.checker_cpu_us_per_check
                            : 0.0;
    if (rate >= 0.9 * backends) return f;
  }
  std::fprintf(stderr,
               "calibrate: warning: %d backends every second fell behind their schedule three "
               "times (a busy machine?); the costs are doubtful\n",
               backends);
  return f;
}

// The median of each CPU figure over `repeat` runs of the same point: on a shared machine one
// 10 s run can be 20% off the next (docs/figures/README.md), and a cost file is a line through
// such points. The other figures are the first run's.
Figures MedianLoopback(KeyType key, TlsVersion version, bool broken, int backends, Millis duration,
                       int repeat, bool at_knee = false) {
  std::vector<Figures> runs;
  for (int i = 0; i < repeat; ++i)
    runs.push_back(Loopback(key, version, broken, backends, duration, at_knee));
  auto median = [&](auto get) {
    std::vector<double> v;
    for (const Figures& f : runs) v.push_back(get(f));
    std::nth_element(v.begin(), v.begin() + static_cast<long>(v.size() / 2), v.end());
    return v[v.size() / 2];
  };
  Figures out = runs.front();
  out.checker_cpu_percent = median([](const Figures& f) { return f.checker_cpu_percent; });
  out.server_cpu_percent = median([](const Figures& f) { return f.server_cpu_percent; });
  out.checker_cpu_us_per_check =
      median([](const Figures& f) { return f.checker_cpu_us_per_check.value_or(0); });
  out.server_cpu_us_per_check =
      median([](const Figures& f) { return f.server_cpu_us_per_check.value_or(0); });
  return out;
}

RatePoint PointOf(std::optional<double> percent, std::optional<double> us_per_check) {
  RatePoint p;
  p.cpu = percent.value_or(0) * 1e4;  // percent of a core -> microseconds per second
  if (us_per_check && *us_per_check > 0) p.rate = p.cpu / *us_per_check;
  return p;
}

// The loopback runs of one key and version: the broken pair at each calibration rate and at
// its knee, the fixed pair at each calibration rate.
struct Run {
  int backends = 0;
  Figures figures;
};
struct Runs {
  std::vector<Run> broken, fixed;
};

// The socket and event-loop floor of one check, the per-second costs and the wake share (the
// wake-up model, sim/wake.h), per side: what a loopback check cost beyond its in-memory
// operations, in the broken runs (full, refused, http, no close_notify: quiet-reset) for full
// checks and in the fixed ones (resumed, http, close_notify sent and answered) for resumed
// checks. Both sides run one event-loop thread here.
void SetFloors(VersionCosts& v, const Runs& runs, Resumption mech, nlohmann::json& record) {
  auto side = [&](SideCosts& s, auto percent, auto per_check) {
    auto points = [&](const std::vector<Run>& list) {
      std::vector<RatePoint> out;
      for (const Run& r : list) out.push_back(PointOf(percent(r.figures), per_check(r.figures)));
      return out;
    };
    const WakeFit fit = FitWake(points(runs.broken), points(runs.fixed));
    s.per_second = fit.per_second;
    s.per_second_full = fit.per_second_full;
    s.wake_share = fit.wake_share;
    s.floor = std::max(0.0, fit.full - (s.full + s.refused + s.http));
    s.floor_resumed = std::max(
        0.0, fit.resumed - (s.resumed[static_cast<size_t>(mech)] + s.http + s.close_notify));
  };
  side(
      v.checker, [](const Figures& f) { return std::optional<double>(f.checker_cpu_percent); },
      [](const Figures& f) { return f.checker_cpu_us_per_check; });
  side(
      v.server, [](const Figures& f) { return std::optional<double>(f.server_cpu_percent); },
      [](const Figures& f) { return f.server_cpu_us_per_check; });
  auto list = [](const std::vector<Run>& r) {
    nlohmann::json out = nlohmann::json::array();
    for (const Run& run : r) {
      const Figures& f = run.figures;
      out.push_back({{"backends", run.backends},
                     {"checker_cpu_percent", f.checker_cpu_percent},
                     {"server_cpu_percent", f.server_cpu_percent},
                     {"checker_us_per_check", f.checker_cpu_us_per_check.value_or(0)},
                     {"server_us_per_check", f.server_cpu_us_per_check.value_or(0)},
                     {"key_rate_per_s", f.key_rate_per_s},
                     {"resumption_ratio", f.resumption_ratio.value_or(0)}});
    }
    return out;
  };
  record = {{"broken", list(runs.broken)}, {"fixed", list(runs.fixed)}};
}

// The flags of --checker haproxy (app/calibrate_haproxy.h).
HaproxyCalibration HaproxyOptions(const po::variables_map& vm, const std::vector<KeyType>& keys,
                                  Millis run) {
  HaproxyCalibration o;
  o.keys = keys;
  o.run = run;
  if (run < Millis(3000)) {
    throw UsageError("--loopback-duration: at least 3s with --checker haproxy (a warm-up of 2s)");
  }
  if (vm.count("haproxy")) o.haproxy = vm["haproxy"].as<std::string>();
  const std::string tls = vm.count("tls") ? vm["tls"].as<std::string>() : "all";
  if (tls == "1.2") {
    o.versions = {TlsVersion::kTls12};
  } else if (tls == "1.3") {
    o.versions = {TlsVersion::kTls13};
  } else if (tls != "all") {
    throw UsageError("--tls: bad value '" + tls + "'; expected 1.2, 1.3 or all");
  }
  const std::string check = vm.count("check") ? vm["check"].as<std::string>() : "http";
  if (auto k = ParseName<CheckKind>(check)) {
    o.check = *k;
  } else {
    throw UsageError("--check: bad value '" + check + "'; expected http or connect");
  }
  if (vm.count("backends")) {
    const std::string text = vm["backends"].as<std::string>();
    int a = 0, b = 0;
    char comma = 0, extra = 0;
    std::istringstream in(text);
    if (!(in >> a >> comma >> b) || comma != ',' || (in >> extra) || a < 1 || b <= a || b > 5000) {
      throw UsageError("--backends: bad value '" + text +
                       "'; expected two counts N1,N2 with 1 <= N1 < N2 <= 5000");
    }
    o.backends = {a, b};
  }
  return o;
}

}  // namespace

int CalibrateCommand(const Args& args) {
  return GuardedMain([&] {
    po::options_description desc;
    desc.add_options()("key", po::value<std::string>()->value_name("NAME"),
                       "rsa2048, p256 or all [rsa2048]")(
        "out", po::value<std::string>()->value_name("FILE"),
        "cost file to write [tlslab-costs.json]")("force", "replace FILE if it exists")(
        "loopback-duration", po::value<std::string>()->value_name("D"),
        "length of each short real run on loopback (nine per key and version) [6s]")(
        "repeat", po::value<int>()->value_name("N"),
        "runs of each loopback point, the median of each CPU figure (a noisy machine) [1]")(
        "budget", po::value<std::string>()->value_name("D"), "CPU per in-memory operation [400ms]")(
        "where", po::value<std::string>()->value_name("TEXT"), "label of the machine [hostname]")(
        "checker", po::value<std::string>()->value_name("NAME"),
        "tlslab (costs of both sides) or haproxy (the real HAProxy's own CPU: a checker cost "
        "set for simulate --checker-costs) [tlslab]")(
        "tls", po::value<std::string>()->value_name("V"),
        "with --checker haproxy: 1.2, 1.3 or all [all]")(
        "check", po::value<std::string>()->value_name("KIND"),
        "with --checker haproxy: http or connect [http]")(
        "backends", po::value<std::string>()->value_name("N1,N2"),
        "with --checker haproxy: the two rates, servers checked every second [100,300]")(
        "haproxy", po::value<std::string>()->value_name("PATH"),
        "with --checker haproxy: the binary [haproxy on PATH]")("help,h", "show this help");
    po::variables_map vm;
    std::vector<std::string> positional;
    ParseCommandLine(desc, args, "--help", vm, positional);
    if (vm.count("help")) {
      std::ostringstream text;
      text << desc;
      std::printf("usage: tlslab calibrate [flags]\n%s", text.str().c_str());
      return 0;
    }
    if (!positional.empty()) throw UsageError("unexpected argument '" + positional.front() + "'");
    const std::string key_text = vm.count("key") ? vm["key"].as<std::string>() : "rsa2048";
    std::vector<KeyType> keys;
    if (key_text == "all") {
      keys = {KeyType::kRsa2048, KeyType::kP256};
    } else if (auto k = ParseName<KeyType>(key_text)) {
      keys = {*k};
    } else {
      throw UsageError("--key: bad value '" + key_text + "'; expected rsa2048, p256 or all");
    }
    auto duration = [&](const char* flag, Millis fallback) {
      if (!vm.count(flag)) return fallback;
      auto d = ParseDuration(vm[flag].as<std::string>());
      if (!d || *d < Millis(100) || *d > Millis(600000)) {
        throw UsageError(std::string("--") + flag + ": bad value '" + vm[flag].as<std::string>() +
                         "'; expected a duration from 100ms to 10m");
      }
      return *d;
    };
    const std::string checker = vm.count("checker") ? vm["checker"].as<std::string>() : "tlslab";
    if (checker != "tlslab" && checker != "haproxy") {
      throw UsageError("--checker: bad value '" + checker + "'; expected tlslab or haproxy");
    }
    if (checker == "tlslab") {
      for (const char* flag : {"tls", "check", "backends", "haproxy"}) {
        if (vm.count(flag))
          throw UsageError(std::string("--") + flag + ": only with --checker haproxy");
      }
    }
    const Millis loopback =
        duration("loopback-duration", checker == "haproxy" ? Millis(5000) : Millis(6000));
    const Millis budget = duration("budget", Millis(400));
    const int repeat = vm.count("repeat") ? vm["repeat"].as<int>() : 1;
    if (repeat < 1 || repeat > 9) {
      throw UsageError("--repeat: bad value '" + std::to_string(repeat) +
                       "'; expected 1 to 9 runs per point");
    }
    if (checker == "haproxy" && vm.count("repeat")) {
      throw UsageError("--repeat: only with --checker tlslab");
    }
    const std::string out = vm.count("out")        ? vm["out"].as<std::string>()
                            : checker == "haproxy" ? "tlslab-checker-costs.json"
                                                   : "tlslab-costs.json";
    if (std::filesystem::exists(out) && !vm.count("force")) {
      throw UsageError("--out: '" + out + "' exists; give --force to replace it");
    }
    const std::string where = vm.count("where") ? vm["where"].as<std::string>() : Hostname();
    auto write = [&](const nlohmann::json& doc) {
      std::ofstream file(out);
      if (!file) throw UsageError("--out: cannot write '" + out + "'");
      file << doc.dump(2) << "\n";
      std::printf("%s\n", out.c_str());
      return 0;
    };
    if (checker == "haproxy") {
      const HaproxyCalibration options = HaproxyOptions(vm, keys, loopback);
      nlohmann::json doc = CalibrateHaproxy(options);
      doc["format"] = "tlslab-checker-costs";
      doc["version"] = kCheckerCostFormatVersion;
      doc["units"] =
          "CPU microseconds per check (full or resumed handshake), and per wall second of the "
          "checker thread (per_second)";
      doc["measured"] = {
          {"where", where + " (" + CpuModel() + ")"},
          {"cpu_model", CpuModel()},
          {"date", UtcNow()},
          {"versions", Versions()},
          {"runs", FormatDuration(options.run) + " each, " + std::to_string(options.backends[0]) +
                       " and " + std::to_string(options.backends[1]) +
                       " servers every second, nbthread 1"}};
      CheckerCostsFromJson(doc, out);  // what we write must read back
      return write(doc);
    }
    nlohmann::json costs = nlohmann::json::object();
    nlohmann::json loopback_record = nlohmann::json::object();
    for (KeyType key : keys) {
      for (TlsVersion version : {TlsVersion::kTls12, TlsVersion::kTls13}) {
        const std::string vname = version == TlsVersion::kTls12 ? "1.2" : "1.3";
        std::fprintf(stderr, "calibrate: %s TLS %s in memory...\n", std::string(Name(key)).c_str(),
                     vname.c_str());
        VersionCosts v = MeasureInMemory(key, version, budget);
        std::fprintf(stderr, "calibrate: %s TLS %s on loopback...\n",
                     std::string(Name(key)).c_str(), vname.c_str());
        Runs runs;
        for (int backends : kCalibrationBackends) {
          runs.broken.push_back(
              {backends, MedianLoopback(key, version, true, backends, loopback, repeat)});
          runs.fixed.push_back(
              {backends, MedianLoopback(key, version, false, backends, loopback, repeat)});
        }
        const int knee = KneeBackends(runs.broken.back().figures);
        std::fprintf(stderr, "calibrate: %s TLS %s near the knee, %d backends...\n",
                     std::string(Name(key)).c_str(), vname.c_str(), knee);
        runs.broken.push_back(
            {knee, MedianLoopback(key, version, true, knee, loopback, repeat, true)});
        const Resumption mech =
            version == TlsVersion::kTls12 ? Resumption::kTicket : Resumption::kPskStateless;
        nlohmann::json record;
        SetFloors(v, runs, mech, record);
        costs[std::string(Name(key))][vname] = {{"checker", ToJson(v.checker)},
                                                {"server", ToJson(v.server)}};
        loopback_record[std::string(Name(key))][vname] = record;
      }
    }
    const nlohmann::json doc = {
        {"format", "tlslab-costs"},
        {"version", kCostFormatVersion},
        {"units",
         "CPU microseconds per check part, per side; per_second: per wall second of "
         "each event-loop thread"},
        {"measured",
         {{"where", where + " (" + CpuModel() + ")"},
          {"cpu_model", CpuModel()},
          {"date", UtcNow()},
          {"versions", Versions()},
          {"loopback_run",
           FormatDuration(loopback) + " each" +
               (repeat > 1 ? ", median of " + std::to_string(repeat) : std::string()) + ", " +
               std::to_string(kCalibrationBackends[0]) + ", " +
               std::to_string(kCalibrationBackends[1]) + ", " +
               std::to_string(kCalibrationBackends[2]) + " and " +
               std::to_string(kCalibrationBackends[3]) +
               " backends and the broken pair near its knee, inter 1s, http"}}},
        {"costs", costs},
        {"loopback", loopback_record}};
    CostsFromJson(doc, out);  // what we write must read back
    return write(doc);
  });
}

}  // namespace tlslab
