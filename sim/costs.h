// Costs per operation and side: the simulator's only numbers that are not in Config or in the
// profile tables. A cost file is JSON written by `tlslab calibrate` (sim/calibrate.h), format
// "tlslab-costs" version 3 (version 2, without `above`, and version 1, without per_second,
// still read: a version 1 file's floors hold the event loops' per-second cost folded in at the
// rate it was calibrated at);
// sim/costs/default.json ships with the repository.
#pragma once

#include <array>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "lab/vocabulary.h"

namespace tlslab {

inline constexpr int kCostFormatVersion = 3;
inline constexpr int kOldestCostFormatVersion = 1;

// The rate-dependent part of a side's costs above a check rate: the line of CPU against the
// rate is not one line. From the middle to the highest calibration rate a check costs less
// than the line through the two lower rates says, as more checks share each wake-up
// (docs/design.md 12); a second line through the two higher rates holds there.
struct RateSegment {
  double rate = 0;  // checks per second per event-loop thread where this line takes over
  double per_second = 0, per_second_full = 0, floor = 0, floor_resumed = 0;
};

// CPU microseconds one side spends on each part of a check.
struct SideCosts {
  double full = 0;                                       // full handshake
  std::array<double, kAllResumptions.size()> resumed{};  // resumed handshake, per mechanism
  double refused = 0;        // extra of a full handshake whose offered session was refused
  double floor = 0;          // socket, event loop and connection set-up of a full-handshake check
  double floor_resumed = 0;  // the same for a resumed check (loopback, measured apart)
  double http = 0;           // one http request and its response
  double close_notify = 0;   // sending (checker) or answering (server) a close_notify
  // CPU microseconds per wall second of each event-loop thread, beyond the per-check costs:
  // timers, wake-ups, polling, and whatever makes a check cheaper at a higher rate. Calibrated
  // at two check rates (app/calibrate_command.cc), the intercept of CPU against the rate: for
  // a loop of resumed checks (per_second) and of full ones (per_second_full), which differ;
  // a mix is weighted by its share of full handshakes. Without it, a floor measured at one
  // rate overpredicts every higher rate (docs/design.md 12).
  double per_second = 0;
  double per_second_full = 0;
  std::optional<RateSegment> above;  // version 3: the line above the middle calibration rate
  // These costs at `rate` checks per second of one event-loop thread: `above`'s floors and
  // per-second costs from its rate on.
  SideCosts AtRate(double rate) const;
};

struct VersionCosts {
  SideCosts checker;
  SideCosts server;
};

struct CostSet {
  std::string file;   // where it came from
  std::string where;  // the machine it was measured on, as the file says
  int version = kCostFormatVersion;
  nlohmann::json measured;  // the file's "measured" block (OpenSSL, CPU, commit, date)
  // [key][version]: key 0 = rsa2048, 1 = p256; version 0 = TLS 1.2, 1 = TLS 1.3.
  std::array<std::array<VersionCosts, 2>, 2> costs{};
  std::array<bool, 2> has_key{};
  const VersionCosts& For(KeyType key, TlsVersion negotiated) const;
};

// Reads and checks a cost file; throws UsageError with one line when it is missing, not JSON,
// of another format version, or lacks a field.
CostSet LoadCosts(const std::string& path);
CostSet CostsFromJson(const nlohmann::json& doc, const std::string& name);
nlohmann::json ToJson(const SideCosts& side);
SideCosts SideCostsFromJson(const nlohmann::json& j, const std::string& where, int version);

// The shipped default: TLSLAB_COSTS, else sim/costs/default.json beside the source tree the
// binary was built from, else next to the executable's share directory.
std::string DefaultCostsPath();

}  // namespace tlslab
