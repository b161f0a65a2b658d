// tlslab calibrate: this machine's CPU cost per TLS operation and side, in memory
// (sim/calibrate.h) and on loopback (short runs of the lab's own engines, app/lab_run.h), written
// as a cost file for `tlslab simulate --costs FILE` (sim/costs.h, format version 2).
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <optional>

#include "app/commands.h"
#include "app/lab_run.h"
#include "lab/command_line.h"
#include "lab/errors.h"
#include "lab/report.h"
#include "sim/calibrate.h"
#include "sim/costs.h"

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

// The two check rates of the loopback half: backends checked every second. The low one is
// low enough that the broken pair of a 2-core machine stays far from its knee, the high one
// four times the low one so that the per-second cost separates from the per-check cost.
constexpr int kLowBackends = 100;
constexpr int kHighBackends = 400;

// A short real run of the lab (server and checker in this process, loopback sockets).
Figures Loopback(KeyType key, TlsVersion version, bool broken, int backends, Millis duration) {
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
  return RunLab(c, -1, nullptr).figures;
}

// One side of one loopback run: checks per second done and CPU microseconds per second spent.
struct RatePoint {
  double rate = 0, cpu = 0;
};

RatePoint PointOf(std::optional<double> percent, std::optional<double> us_per_check) {
  RatePoint p;
  p.cpu = percent.value_or(0) * 1e4;  // percent of a core -> microseconds per second
  if (us_per_check && *us_per_check > 0) p.rate = p.cpu / *us_per_check;
  return p;
}

// Per side, CPU per second = per_second + per_check x rate, fitted to the four runs (broken
// and fixed, each at two rates) with one per_second for both pairs (the same event loops)
// and a per-check slope per pair: least squares, per_second clamped at 0.
struct Fit {
  double per_second = 0, broken = 0, fixed = 0;
};

Fit FitSide(const std::array<RatePoint, 2>& broken, const std::array<RatePoint, 2>& fixed) {
  auto slope = [](const std::array<RatePoint, 2>& p) {
    const double dr = p[1].rate - p[0].rate;
    return dr > 0 ? (p[1].cpu - p[0].cpu) / dr : 0.0;
  };
  auto intercept = [&](const std::array<RatePoint, 2>& p) {
    return p[0].cpu - slope(p) * p[0].rate;
  };
  Fit f;
  f.per_second = std::max(0.0, (intercept(broken) + intercept(fixed)) / 2);
  auto refit = [&](const std::array<RatePoint, 2>& p) {
    double num = 0, den = 0;
    for (const RatePoint& q : p) {
      num += q.rate * (q.cpu - f.per_second);
      den += q.rate * q.rate;
    }
    return den > 0 ? std::max(0.0, num / den) : 0.0;
  };
  f.broken = refit(broken);
  f.fixed = refit(fixed);
  return f;
}

// The socket and event-loop floor of one check: what a loopback check cost per side beyond
// its in-memory operations and the event loop's per-second cost, in the broken runs (full,
// refused, http, no close_notify: quiet-reset) for full checks and in the fixed ones (resumed,
// http, close_notify sent and answered) for resumed checks.
void SetFloors(VersionCosts& v, const std::array<Figures, 2>& broken,
               const std::array<Figures, 2>& fixed, Resumption mech, nlohmann::json& record) {
  auto side = [&](SideCosts& s, auto percent, auto per_check) {
    const std::array<RatePoint, 2> b{PointOf(percent(broken[0]), per_check(broken[0])),
                                     PointOf(percent(broken[1]), per_check(broken[1]))};
    const std::array<RatePoint, 2> f{PointOf(percent(fixed[0]), per_check(fixed[0])),
                                     PointOf(percent(fixed[1]), per_check(fixed[1]))};
    const Fit fit = FitSide(b, f);
    s.per_second = fit.per_second;
    s.floor = std::max(0.0, fit.broken - (s.full + s.refused + s.http));
    s.floor_resumed =
        std::max(0.0, fit.fixed - (s.resumed[static_cast<size_t>(mech)] + s.http + s.close_notify));
  };
  side(
      v.checker, [](const Figures& f) { return std::optional<double>(f.checker_cpu_percent); },
      [](const Figures& f) { return f.checker_cpu_us_per_check; });
  side(
      v.server, [](const Figures& f) { return std::optional<double>(f.server_cpu_percent); },
      [](const Figures& f) { return f.server_cpu_us_per_check; });
  auto runs = [](const std::array<Figures, 2>& r) {
    nlohmann::json out = nlohmann::json::array();
    for (size_t i = 0; i < r.size(); ++i) {
      out.push_back({{"backends", i == 0 ? kLowBackends : kHighBackends},
                     {"checker_cpu_percent", r[i].checker_cpu_percent},
                     {"server_cpu_percent", r[i].server_cpu_percent},
                     {"checker_us_per_check", r[i].checker_cpu_us_per_check.value_or(0)},
                     {"server_us_per_check", r[i].server_cpu_us_per_check.value_or(0)},
                     {"key_rate_per_s", r[i].key_rate_per_s},
                     {"resumption_ratio", r[i].resumption_ratio.value_or(0)}});
    }
    return out;
  };
  record = {{"broken", runs(broken)}, {"fixed", runs(fixed)}};
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
        "length of each short real run on loopback (four per key and version) [6s]")(
        "budget", po::value<std::string>()->value_name("D"), "CPU per in-memory operation [400ms]")(
        "where", po::value<std::string>()->value_name("TEXT"), "label of the machine [hostname]")(
        "help,h", "show this help");
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
    const Millis loopback = duration("loopback-duration", Millis(6000));
    const Millis budget = duration("budget", Millis(400));
    const std::string out = vm.count("out") ? vm["out"].as<std::string>() : "tlslab-costs.json";
    if (std::filesystem::exists(out) && !vm.count("force")) {
      throw UsageError("--out: '" + out + "' exists; give --force to replace it");
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
        std::array<Figures, 2> broken, fixed;
        for (size_t i = 0; i < 2; ++i) {
          const int backends = i == 0 ? kLowBackends : kHighBackends;
          broken[i] = Loopback(key, version, true, backends, loopback);
          fixed[i] = Loopback(key, version, false, backends, loopback);
        }
        const Resumption mech =
            version == TlsVersion::kTls12 ? Resumption::kTicket : Resumption::kPskStateless;
        nlohmann::json record;
        SetFloors(v, broken, fixed, mech, record);
        costs[std::string(Name(key))][vname] = {{"checker", ToJson(v.checker)},
                                                {"server", ToJson(v.server)}};
        loopback_record[std::string(Name(key))][vname] = record;
      }
    }
    const std::string where = vm.count("where") ? vm["where"].as<std::string>() : Hostname();
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
          {"loopback_run", FormatDuration(loopback) + " each, " + std::to_string(kLowBackends) +
                               " and " + std::to_string(kHighBackends) +
                               " backends, inter 1s, http"}}},
        {"costs", costs},
        {"loopback", loopback_record}};
    CostsFromJson(doc, out);  // what we write must read back
    std::ofstream file(out);
    if (!file) throw UsageError("--out: cannot write '" + out + "'");
    file << doc.dump(2) << "\n";
    std::printf("%s\n", out.c_str());
    return 0;
  });
}

}  // namespace tlslab
