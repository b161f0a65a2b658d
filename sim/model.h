// What one check does to a backend's session, derived from the same Config and profile tables
// the real lab runs on (lab/profiles.h FateAfterClose, lab/config.h EffectiveCheckPlan): which
// version and mechanism a check negotiates, what the server sees at its close, whether the
// profile then removes the session, and the session's lifetime and cache size.
#pragma once

#include <cstdint>

#include "lab/config.h"
#include "lab/profiles.h"
#include "sim/checker_costs.h"
#include "sim/costs.h"

namespace tlslab {

struct SessionModel {
  TlsVersion version = TlsVersion::kTls13;  // negotiated: kTls12 or kTls13
  Resumption mechanism = Resumption::kPskStateless;
  CheckKind check = CheckKind::kHttp;
  CloseMode close = CloseMode::kCloseNotify;
  CloseKind server_sees = CloseKind::kCloseNotify;  // after a successful check
  bool persistent = false;           // close mode keep: one connection, checks ride on it
  bool client_keeps = true;          // the checker ends the check holding a session to offer
  bool offers = true;                // the checker offers its saved session (reuse)
  bool stateful = false;             // resumption needs the server's cache entry
  bool server_can_resume = true;     // cache on for stateful mechanisms
  bool removed_after_check = false;  // FateAfterClose(profile, mechanism, server_sees)
  bool renewed_on_resume = false;    // TLS 1.3: a resumption issues a fresh session
  int64_t lifetime_us = 0;           // session timeout
  int cache_size = 0;
  int cache_entries_per_client = 1;  // entries one checker session slot keeps in the cache
  bool server_answers_close_notify = true;
};

SessionModel DeriveSessionModel(const Config& config);

// CPU microseconds per check of each kind, for one side.
struct CheckCosts {
  double full_fresh = 0;    // full handshake, nothing offered
  double full_refused = 0;  // full handshake after an offered session was refused
  double resumed = 0;
  double no_handshake = 0;  // a check on a kept-open connection
  double failed = 0;        // connection refused (backend down)
};
struct CheckCostPair {
  CheckCosts checker;
  CheckCosts server;
  // CPU microseconds per wall second of each event-loop thread (sim/costs.h SideCosts).
  double checker_per_second = 0, checker_per_second_full = 0;
  double server_per_second = 0, server_per_second_full = 0;
};
// `checker_rate` and `server_rate`: the nominal checks per second of one event-loop thread of
// each side, which say how busy the loop is and so what a check costs it (sim/wake.h).
CheckCostPair CostsPerCheck(const SessionModel& model, const CostSet& costs, KeyType key,
                            double checker_rate, double server_rate);
// The checker side from a real load balancer's cost set (sim/checker_costs.h), measured whole
// per check: a refused offer costs what a full check costs, a failed check keeps the lab's.
void UseCheckerCosts(CheckCostPair& pair, const SessionModel& model, const CheckerCostSet& set,
                     KeyType key);

}  // namespace tlslab
