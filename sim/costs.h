// Costs per operation and side: the simulator's only numbers that are not in Config or in the
// profile tables. A cost file is JSON written by `tlslab calibrate` (sim/calibrate.h), format
// "tlslab-costs" version 4 (with `wake_share`, sim/wake.h; an older file is refused with a line
// that says to calibrate again: its rate model is not this one); sim/costs/default.json ships
// with the repository.
#pragma once

#include <array>
#include <nlohmann/json.hpp>
#include <string>

#include "lab/vocabulary.h"

namespace tlslab {

inline constexpr int kCostFormatVersion = 4;

// CPU microseconds one side spends on each part of a check.
struct SideCosts {
  double full = 0;                                       // full handshake
  std::array<double, kAllResumptions.size()> resumed{};  // resumed handshake, per mechanism
  double refused = 0;        // extra of a full handshake whose offered session was refused
  double floor = 0;          // socket, event loop and connection set-up of a full-handshake check
  double floor_resumed = 0;  // the same for a resumed check (loopback, measured apart)
  double http = 0;           // one http request and its response
  double close_notify = 0;   // sending (checker) or answering (server) a close_notify
  // CPU microseconds per wall second of each event-loop thread, beyond the per-check costs
  // (timers): for a loop of resumed checks (per_second) and of full ones (per_second_full); a
  // mix is weighted by its share of full handshakes. `calibrate` writes one value in both (a
  // loop's timers do not depend on what its checks do, sim/wake.h FitWake); the fields stay
  // apart as a file may say otherwise. Without it, a floor measured at one rate overpredicts
  // every higher rate (docs/design.md 12).
  double per_second = 0;
  double per_second_full = 0;
  // The share of a check's cost (operations and floor) that the check pays only when it wakes
  // its loop from a sleep (sim/wake.h): a loop busy a share u of its time pays
  // (1 - wake_share u) of it.
  double wake_share = 0;
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
SideCosts SideCostsFromJson(const nlohmann::json& j, const std::string& where);

// The shipped default: TLSLAB_COSTS, else sim/costs/default.json beside the source tree the
// binary was built from, else next to the executable's share directory.
std::string DefaultCostsPath();

}  // namespace tlslab
