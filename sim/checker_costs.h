// A checker cost set: the CPU of a real load balancer used as the checker (HAProxy), measured
// whole per check by `tlslab calibrate --checker haproxy` (app/calibrate_haproxy.h), so that
// `tlslab simulate --checker-costs FILE` predicts that load balancer's own CPU instead of the
// lab checker's. Format "tlslab-checker-costs" version 1. Also the two-rate fit both
// calibrations use to split a per-check cost from a per-second one.
#pragma once

#include <array>
#include <nlohmann/json.hpp>
#include <string>

#include "lab/vocabulary.h"

namespace tlslab {

inline constexpr int kCheckerCostFormatVersion = 1;

struct CheckerCosts {
  bool present = false;
  double full = 0;             // CPU microseconds of a check with a full handshake
  double resumed = 0;          // ... with a resumed one
  double per_second = 0;       // CPU microseconds per wall second of one checker thread,
  double per_second_full = 0;  // resumed checks and full ones (sim/costs.h SideCosts)
};

struct CheckerCostSet {
  std::string file;
  std::string checker;  // "haproxy"
  std::string checker_version;
  std::string where;
  // [key][version][check]: key 0 = rsa2048, 1 = p256; version 0 = TLS 1.2, 1 = TLS 1.3;
  // check 0 = connect, 1 = http.
  std::array<std::array<std::array<CheckerCosts, 2>, 2>, 2> costs{};
  // Throws UsageError (one line) when the set has no costs for this key, version and check.
  const CheckerCosts& For(KeyType key, TlsVersion negotiated, CheckKind check) const;
};

CheckerCostSet CheckerCostsFromJson(const nlohmann::json& doc, const std::string& name);
// Throws UsageError with one line when the file is missing, not JSON, of another format or
// version, or lacks a field.
CheckerCostSet LoadCheckerCosts(const std::string& path);
// The "costs" block for one key, version and check: {"rsa2048": {"1.3": {"http": {...}}}}.
void PutCheckerCosts(nlohmann::json& costs, KeyType key, TlsVersion version, CheckKind check,
                     const CheckerCosts& c);

// One side of one run: checks per second done and CPU microseconds per second spent.
struct RatePoint {
  double rate = 0, cpu = 0;
};
// CPU per second = per_second + per_check x rate, through two runs of full checks and two of
// resumed ones: a line each; an intercept below 0 is 0 (the slope then by least squares
// through the origin).
struct RateFit {
  double per_second_full = 0, per_second = 0, full = 0, resumed = 0;
};
RateFit FitRates(const std::array<RatePoint, 2>& full, const std::array<RatePoint, 2>& resumed);

}  // namespace tlslab
