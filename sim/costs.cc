#include "sim/costs.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "lab/errors.h"

#ifndef TLSLAB_SOURCE_DIR
#define TLSLAB_SOURCE_DIR "."
#endif

namespace tlslab {
namespace {

const char* KeyName(size_t k) { return k == 0 ? "rsa2048" : "p256"; }
const char* VersionName(size_t v) { return v == 0 ? "1.2" : "1.3"; }

double Number(const nlohmann::json& j, const char* field, const std::string& where) {
  if (!j.is_object() || !j.contains(field) || !j[field].is_number() || j[field].get<double>() < 0) {
    throw UsageError("cost file: " + where + "." + field + " must be a number >= 0");
  }
  return j[field].get<double>();
}

}  // namespace

const VersionCosts& CostSet::For(KeyType key, TlsVersion negotiated) const {
  const size_t k = key == KeyType::kRsa2048 ? 0 : 1;
  if (!has_key[k]) {
    throw UsageError("cost file " + file + " has no costs for --key " + KeyName(k) +
                     "; calibrate with `tlslab calibrate --key " + KeyName(k) + "`");
  }
  return costs[k][negotiated == TlsVersion::kTls12 ? 0 : 1];
}

nlohmann::json ToJson(const SideCosts& s) {
  nlohmann::json resumed = nlohmann::json::object();
  for (Resumption r : kAllResumptions) {
    resumed[std::string(Name(r))] = s.resumed[static_cast<size_t>(r)];
  }
  nlohmann::json out = {{"full", s.full},
                        {"resumed", resumed},
                        {"refused", s.refused},
                        {"floor", s.floor},
                        {"floor_resumed", s.floor_resumed},
                        {"http", s.http},
                        {"close_notify", s.close_notify},
                        {"per_second", s.per_second},
                        {"per_second_full", s.per_second_full},
                        {"wake_share", s.wake_share}};
  return out;
}

SideCosts SideCostsFromJson(const nlohmann::json& j, const std::string& where) {
  SideCosts s;
  s.full = Number(j, "full", where);
  s.refused = Number(j, "refused", where);
  s.floor = Number(j, "floor", where);
  s.floor_resumed = j.contains("floor_resumed") ? Number(j, "floor_resumed", where) : s.floor;
  s.http = Number(j, "http", where);
  s.close_notify = Number(j, "close_notify", where);
  s.per_second = Number(j, "per_second", where);
  s.per_second_full = Number(j, "per_second_full", where);
  s.wake_share = Number(j, "wake_share", where);
  if (s.wake_share > 0.9) {
    throw UsageError("cost file: " + where + ".wake_share must be from 0 to 0.9");
  }
  if (!j.contains("resumed")) throw UsageError("cost file: " + where + ".resumed is missing");
  for (Resumption r : kAllResumptions) {
    s.resumed[static_cast<size_t>(r)] =
        Number(j["resumed"], std::string(Name(r)).c_str(), where + ".resumed");
  }
  return s;
}

CostSet CostsFromJson(const nlohmann::json& doc, const std::string& name) {
  if (!doc.is_object() || doc.value("format", "") != "tlslab-costs") {
    throw UsageError("cost file " + name +
                     ": not a tlslab cost file (no \"format\": \"tlslab-costs\")");
  }
  if (!doc.contains("version") || !doc["version"].is_number_integer() ||
      doc["version"].get<int>() != kCostFormatVersion) {
    throw UsageError("cost file " + name + ": format version " +
                     (doc.contains("version") ? doc["version"].dump() : std::string("missing")) +
                     ", this tlslab reads version " + std::to_string(kCostFormatVersion) +
                     "; run `tlslab calibrate` again");
  }
  CostSet set;
  set.file = name;
  set.measured = doc.value("measured", nlohmann::json::object());
  set.where = set.measured.value("where", std::string("unknown"));
  if (!doc.contains("costs") || !doc["costs"].is_object()) {
    throw UsageError("cost file " + name + ": \"costs\" is missing");
  }
  for (size_t k = 0; k < 2; ++k) {
    if (!doc["costs"].contains(KeyName(k))) continue;
    set.has_key[k] = true;
    for (size_t v = 0; v < 2; ++v) {
      const std::string where = std::string("costs.") + KeyName(k) + "." + VersionName(v);
      const nlohmann::json& kj = doc["costs"][KeyName(k)];
      if (!kj.is_object() || !kj.contains(VersionName(v))) {
        throw UsageError("cost file " + name + ": " + where + " is missing");
      }
      const nlohmann::json& vj = kj[VersionName(v)];
      if (!vj.is_object() || !vj.contains("checker") || !vj.contains("server")) {
        throw UsageError("cost file " + name + ": " + where + " needs checker and server");
      }
      set.costs[k][v].checker = SideCostsFromJson(vj["checker"], where + ".checker");
      set.costs[k][v].server = SideCostsFromJson(vj["server"], where + ".server");
    }
  }
  if (!set.has_key[0] && !set.has_key[1]) {
    throw UsageError("cost file " + name + ": no costs for rsa2048 or p256");
  }
  return set;
}

CostSet LoadCosts(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw UsageError("--costs: cannot read '" + path + "'");
  nlohmann::json doc = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) throw UsageError("--costs: '" + path + "' is not valid JSON");
  return CostsFromJson(doc, path);
}

std::string DefaultCostsPath() {
  if (const char* env = std::getenv("TLSLAB_COSTS"); env != nullptr && *env != '\0') return env;
  return std::string(TLSLAB_SOURCE_DIR) + "/sim/costs/default.json";
}

}  // namespace tlslab
