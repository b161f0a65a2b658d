#include "sim/checker_costs.h"

#include <algorithm>
#include <fstream>
#include <tuple>

#include "lab/errors.h"

namespace tlslab {
namespace {

const char* KeyName(size_t k) { return k == 0 ? "rsa2048" : "p256"; }
const char* VersionName(size_t v) { return v == 0 ? "1.2" : "1.3"; }
const char* CheckName(size_t c) { return c == 0 ? "connect" : "http"; }
size_t KeyIndex(KeyType key) { return key == KeyType::kRsa2048 ? 0 : 1; }
size_t VersionIndex(TlsVersion v) { return v == TlsVersion::kTls12 ? 0 : 1; }
size_t CheckIndex(CheckKind c) { return c == CheckKind::kConnect ? 0 : 1; }

double Number(const nlohmann::json& j, const char* field, const std::string& where) {
  if (!j.is_object() || !j.contains(field) || !j[field].is_number() || j[field].get<double>() < 0) {
    throw UsageError("checker cost file: " + where + "." + field + " must be a number >= 0");
  }
  return j[field].get<double>();
}

}  // namespace

const CheckerCosts& CheckerCostSet::For(KeyType key, TlsVersion negotiated, CheckKind check) const {
  const size_t k = KeyIndex(key), v = VersionIndex(negotiated), c = CheckIndex(check);
  if (!costs[k][v][c].present) {
    throw UsageError("checker cost file " + file + " has no costs for --key " + KeyName(k) +
                     ", TLS " + VersionName(v) + ", --check " + CheckName(c) +
                     "; calibrate with `tlslab calibrate --checker " + checker + " --key " +
                     KeyName(k) + " --tls " + VersionName(v) + " --check " + CheckName(c) + "`");
  }
  return costs[k][v][c];
}

void PutCheckerCosts(nlohmann::json& costs, KeyType key, TlsVersion version, CheckKind check,
                     const CheckerCosts& c) {
  costs[KeyName(KeyIndex(key))][VersionName(VersionIndex(version))][CheckName(CheckIndex(check))] =
      {{"full", c.full},
       {"resumed", c.resumed},
       {"per_second", c.per_second},
       {"per_second_full", c.per_second_full}};
}

CheckerCostSet CheckerCostsFromJson(const nlohmann::json& doc, const std::string& name) {
  if (!doc.is_object() || doc.value("format", "") != "tlslab-checker-costs") {
    throw UsageError("checker cost file " + name +
                     ": not a checker cost file (no \"format\": \"tlslab-checker-costs\"); "
                     "write one with `tlslab calibrate --checker haproxy`");
  }
  if (!doc.contains("version") || !doc["version"].is_number_integer() ||
      doc["version"].get<int>() != kCheckerCostFormatVersion) {
    throw UsageError("checker cost file " + name + ": format version " +
                     (doc.contains("version") ? doc["version"].dump() : std::string("missing")) +
                     ", this tlslab reads version " + std::to_string(kCheckerCostFormatVersion) +
                     "; run `tlslab calibrate --checker haproxy` again");
  }
  CheckerCostSet set;
  set.file = name;
  if (!doc.contains("checker") || !doc["checker"].is_string()) {
    throw UsageError("checker cost file " + name + ": \"checker\" is missing");
  }
  set.checker = doc["checker"].get<std::string>();
  set.checker_version = doc.value("checker_version", std::string("unknown"));
  set.where =
      doc.value("measured", nlohmann::json::object()).value("where", std::string("unknown"));
  if (!doc.contains("costs") || !doc["costs"].is_object()) {
    throw UsageError("checker cost file " + name + ": \"costs\" is missing");
  }
  bool any = false;
  for (size_t k = 0; k < 2; ++k) {
    for (size_t v = 0; v < 2; ++v) {
      for (size_t c = 0; c < 2; ++c) {
        const nlohmann::json& all = doc["costs"];
        if (!all.contains(KeyName(k)) || !all[KeyName(k)].is_object() ||
            !all[KeyName(k)].contains(VersionName(v)) ||
            !all[KeyName(k)][VersionName(v)].is_object() ||
            !all[KeyName(k)][VersionName(v)].contains(CheckName(c))) {
          continue;
        }
        const nlohmann::json& j = all[KeyName(k)][VersionName(v)][CheckName(c)];
        const std::string where =
            std::string("costs.") + KeyName(k) + "." + VersionName(v) + "." + CheckName(c);
        CheckerCosts& out = set.costs[k][v][c];
        out.full = Number(j, "full", where);
        out.resumed = Number(j, "resumed", where);
        out.per_second = Number(j, "per_second", where);
        out.per_second_full = Number(j, "per_second_full", where);
        out.present = any = true;
      }
    }
  }
  if (!any) throw UsageError("checker cost file " + name + ": no costs in it");
  return set;
}

CheckerCostSet LoadCheckerCosts(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw UsageError("--checker-costs: cannot read '" + path + "'");
  nlohmann::json doc = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) throw UsageError("--checker-costs: '" + path + "' is not valid JSON");
  return CheckerCostsFromJson(doc, path);
}

RateFit FitRates(const std::array<RatePoint, 2>& full, const std::array<RatePoint, 2>& resumed) {
  // {intercept, slope} of the line through two runs.
  auto line = [](const std::array<RatePoint, 2>& p) {
    const double dr = p[1].rate - p[0].rate;
    const double slope = dr > 0 ? (p[1].cpu - p[0].cpu) / dr : 0.0;
    const double intercept = p[0].cpu - slope * p[0].rate;
    if (intercept >= 0 && slope >= 0) return std::make_pair(intercept, slope);
    double num = 0, den = 0;  // through the origin
    for (const RatePoint& q : p) {
      num += q.rate * q.cpu;
      den += q.rate * q.rate;
    }
    return std::make_pair(0.0, den > 0 ? std::max(0.0, num / den) : 0.0);
  };
  RateFit f;
  std::tie(f.per_second_full, f.full) = line(full);
  std::tie(f.per_second, f.resumed) = line(resumed);
  return f;
}

}  // namespace tlslab
