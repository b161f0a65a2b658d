// tlslab calibrate: this machine's CPU cost per TLS operation and side, in memory
// (sim/calibrate.h) and on loopback (short runs of the lab's own engines, app/lab_run.h), written
// as a cost file for `tlslab simulate --costs FILE` (sim/costs.h, format version 1).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>

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

// A short real run of the lab (server and checker in this process, loopback sockets).
Figures Loopback(KeyType key, TlsVersion version, bool broken, Millis duration) {
  Config c;
  c.tls.key = key;
  c.tls.version = version;
  c.server.profile = broken ? "jdk8-sslengine" : "lenient";
  c.checker.profile = broken ? "haproxy-1.7.3" : "haproxy-1.7.4";
  c.checker.check = CheckKind::kHttp;
  c.server.backends = 200;
  c.checker.inter = Millis(1000);
  c.duration = duration;
  c.output.live = false;
  Validate(c);
  return RunLab(c, -1, nullptr).figures;
}

// The socket and event-loop floor of one check: what a loopback check cost per side beyond
// its in-memory operations, in a broken run (full, refused, http, no close_notify:
// quiet-reset) for full checks and in a fixed one (resumed, http, close_notify sent and
// answered) for resumed checks.
void SetFloors(VersionCosts& v, const Figures& broken, const Figures& fixed, Resumption mech,
               nlohmann::json& record) {
  auto floors = [&](SideCosts& s, std::optional<double> b, std::optional<double> f) {
    s.floor = std::max(0.0, b.value_or(0) - (s.full + s.refused + s.http));
    s.floor_resumed = std::max(
        0.0, f.value_or(0) - (s.resumed[static_cast<size_t>(mech)] + s.http + s.close_notify));
  };
  floors(v.checker, broken.checker_cpu_us_per_check, fixed.checker_cpu_us_per_check);
  floors(v.server, broken.server_cpu_us_per_check, fixed.server_cpu_us_per_check);
  record = {{"broken",
             {{"checker_us_per_check", broken.checker_cpu_us_per_check.value_or(0)},
              {"server_us_per_check", broken.server_cpu_us_per_check.value_or(0)},
              {"key_rate_per_s", broken.key_rate_per_s}}},
            {"fixed",
             {{"checker_us_per_check", fixed.checker_cpu_us_per_check.value_or(0)},
              {"server_us_per_check", fixed.server_cpu_us_per_check.value_or(0)},
              {"resumption_ratio", fixed.resumption_ratio.value_or(0)}}}};
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
        "length of each short real run on loopback [6s]")(
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
        const Figures broken = Loopback(key, version, true, loopback);
        const Figures fixed = Loopback(key, version, false, loopback);
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
        {"units", "CPU microseconds per check part, per side"},
        {"measured",
         {{"where", where + " (" + CpuModel() + ")"},
          {"cpu_model", CpuModel()},
          {"date", UtcNow()},
          {"versions", Versions()},
          {"loopback_run", FormatDuration(loopback) + ", 200 backends, inter 1s, http"}}},
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
