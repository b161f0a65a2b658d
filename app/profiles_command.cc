#include <cstdio>
#include <nlohmann/json.hpp>

#include "app/commands.h"
#include "lab/errors.h"
#include "lab/profiles.h"

namespace tlslab {
namespace {

constexpr CloseKind kFateColumns[] = {CloseKind::kCloseNotify, CloseKind::kEof, CloseKind::kReset,
                                      CloseKind::kAlert, CloseKind::kTimeout};

// The fates of one mechanism after each close kind, as FateAfterClose gives them.
nlohmann::json FateJson(const ServerProfile& p, Resumption mechanism) {
  nlohmann::json out = nlohmann::json::object();
  for (CloseKind kind : kFateColumns) out[Name(kind)] = Name(FateAfterClose(p, mechanism, kind));
  return out;
}

std::string FateCell(const ServerProfile& p, Resumption mechanism) {
  // One letter per close kind: close_notify, eof, reset, alert, timeout. K kept, R removed.
  std::string s;
  for (CloseKind kind : kFateColumns) {
    s += FateAfterClose(p, mechanism, kind) == SessionFate::kKept ? 'K' : 'R';
  }
  return s;
}

}  // namespace

nlohmann::json ProfilesJson() {
  nlohmann::json out = {{"server", nlohmann::json::array()}, {"checker", nlohmann::json::array()}};
  for (const ServerProfile& p : ServerProfiles()) {
    out["server"].push_back(
        {{"name", p.name},
         {"aliases", p.aliases},
         {"emulates", p.emulates},
         {"source", p.source},
         {"verified_here", p.verified_here},
         {"behaviour", p.behaviour->name},
         {"tickets_supported", p.behaviour->tickets_supported},
         {"session_cache", p.behaviour->session_cache},
         {"notify_reset_before_request_drops", p.behaviour->notify_reset_before_request_drops},
         {"fate",
          {{"session-id", FateJson(p, Resumption::kSessionId)},
           {"ticket", FateJson(p, Resumption::kTicket)},
           {"psk-stateless", FateJson(p, Resumption::kPskStateless)},
           {"psk-stateful", FateJson(p, Resumption::kPskStateful)}}}});
  }
  for (const CheckerProfile& p : CheckerProfiles()) {
    out["checker"].push_back(
        {{"name", p.name},
         {"emulates", p.emulates},
         {"source", p.source},
         {"verified_here", p.verified_here},
         {"reuse", p.reuse},
         {"connect",
          {{"close", Name(p.connect.close)},
           {"read_after_handshake", p.connect.read_after_handshake}}},
         {"http",
          {{"close", Name(p.http.close)}, {"read_after_handshake", p.http.read_after_handshake}}}});
  }
  return out;
}

int ProfilesCommand(const Args& args) {
  return GuardedMain([&] {
    bool json = false;
    for (const std::string& a : args) {
      if (a == "--json") {
        json = true;
      } else if (a == "--help" || a == "-h") {
        std::printf("usage: tlslab profiles [--json]\n");
        return 0;
      } else {
        throw UsageError("unknown flag '" + a + "'; tlslab profiles accepts --json");
      }
    }
    if (json) {
      std::printf("%s\n", ProfilesJson().dump(2).c_str());
      return 0;
    }
    std::printf(
        "Server profiles: session fate per mechanism after close_notify/eof/reset/"
        "alert/timeout (K kept, R removed)\n");
    for (const ServerProfile& p : ServerProfiles()) {
      const std::string alias = p.aliases.empty() ? "" : " (alias " + std::string(p.aliases) + ")";
      std::string context = "  behaviour " + std::string(p.behaviour->name);
      if (!p.behaviour->tickets_supported) context += ", no server tickets";
      if (!p.behaviour->session_cache) context += ", no session cache (never resumes by ID)";
      if (p.behaviour->notify_reset_before_request_drops) {
        context += ", close_notify with the RST before a first request: as reset";
      }
      std::printf(
          "  %s%s  [%s]%s\n"
          "    session-id %s  ticket %s  psk-stateless %s  psk-stateful %s\n"
          "    %.*s\n    source: %.*s\n",
          std::string(p.name).c_str(), alias.c_str(),
          p.verified_here ? "verified here" : "from source only", context.c_str(),
          FateCell(p, Resumption::kSessionId).c_str(), FateCell(p, Resumption::kTicket).c_str(),
          FateCell(p, Resumption::kPskStateless).c_str(),
          FateCell(p, Resumption::kPskStateful).c_str(), static_cast<int>(p.emulates.size()),
          p.emulates.data(), static_cast<int>(p.source.size()), p.source.data());
    }
    std::printf("Checker profiles: close mode per check kind\n");
    for (const CheckerProfile& p : CheckerProfiles()) {
      std::printf(
          "  %-14s connect: %-12s %-9s http: %-12s %-9s reuse: %s  [%s]\n"
          "                 %.*s\n                 source: %.*s\n",
          std::string(p.name).c_str(), std::string(Name(p.connect.close)).c_str(),
          p.connect.read_after_handshake ? "reads" : "no read",
          std::string(Name(p.http.close)).c_str(),
          p.http.read_after_handshake ? "reads" : "no read", p.reuse ? "yes" : "no",
          p.verified_here ? "verified here" : "from source only",
          static_cast<int>(p.emulates.size()), p.emulates.data(), static_cast<int>(p.source.size()),
          p.source.data());
    }
    return 0;
  });
}

}  // namespace tlslab
