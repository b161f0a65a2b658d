#include "sim/model.h"

#include "sim/wake.h"

namespace tlslab {

SessionModel DeriveSessionModel(const Config& config) {
  const ServerProfile& profile = FindServerProfile(config.server.profile);
  const CheckPlan plan = EffectiveCheckPlan(config.checker);
  SessionModel m;
  // Both sides offer 1.3 unless told 1.2 (lab/tls_context.cc SetVersions): auto negotiates 1.3.
  m.version = config.tls.version == TlsVersion::kTls12 ? TlsVersion::kTls12 : TlsVersion::kTls13;
  const bool server_tickets = config.tls.tickets && profile.behaviour->tickets_supported;
  const bool cache_on = config.tls.session_cache && profile.behaviour->session_cache;
  // servers/server_conn.cc MechanismOf: TLS 1.3 stateless unless SSL_OP_NO_TICKET; TLS 1.2 a
  // ticket when both sides do tickets (the client sends the extension iff tls.tickets).
  if (m.version == TlsVersion::kTls13) {
    m.mechanism = server_tickets ? Resumption::kPskStateless : Resumption::kPskStateful;
  } else {
    m.mechanism = server_tickets ? Resumption::kTicket : Resumption::kSessionId;
  }
  m.stateful = m.mechanism == Resumption::kSessionId || m.mechanism == Resumption::kPskStateful;
  m.server_can_resume = !m.stateful || cache_on;
  m.check = plan.check;
  m.close = plan.close;
  m.persistent = plan.close == CloseMode::kKeep;
  // What the server classifies (lab/close_kind.h ClassifyClose): close_notify wins over the
  // RST that follows it (notify-reset); otherwise the transport end.
  switch (plan.close) {
    case CloseMode::kCloseNotify:
    case CloseMode::kNotifyReset:
    case CloseMode::kKeep:
      m.server_sees = CloseKind::kCloseNotify;
      break;
    case CloseMode::kQuiet:
      m.server_sees = CloseKind::kEof;
      break;
    case CloseMode::kQuietReset:
      m.server_sees = CloseKind::kReset;
      break;
  }
  // A TLS 1.3 session arrives after the handshake (NewSessionTicket): an http check reads it,
  // a connect check only when it waits for it (clients/check_actor.cc OnHandshakeDone).
  m.client_keeps = m.version == TlsVersion::kTls12 || plan.check == CheckKind::kHttp ||
                   plan.read_after_handshake;
  m.offers = plan.reuse;
  // A close_notify followed at once by an RST (notify-reset) before any request (a connect
  // check): a server like HAProxy's frontend takes it as a reset when both reach it in one
  // wake-up (Behaviour::notify_reset_before_request_drops, docs/real-stacks.md 4.8). Whether
  // they do is a race between two processes: the real lab keeps about a fifth to a half of
  // those sessions. The simulation takes the worst case, every close in one wake-up, so its
  // key rate is the upper bound a capacity plan needs.
  const CloseNotifyContext notify{.reset_in_same_wakeup = plan.close == CloseMode::kNotifyReset,
                                  .before_first_request = plan.check == CheckKind::kConnect};
  // Stateless tickets cannot be taken back (lab/profiles.cc kStatelessKept); the profile's
  // SSL_CTX_remove_session reaches only cache entries.
  m.removed_after_check = m.stateful && FateAfterClose(profile, m.mechanism, m.server_sees,
                                                       notify) == SessionFate::kRemoved;
  // OpenSSL issues a new ticket, a new session with a fresh time, after every TLS 1.3
  // resumption (statem_srvr.c tls_construct_new_session_ticket); a TLS 1.2 resumption keeps
  // the original session and its creation time (ssl_get_prev_session checks it against the
  // timeout), so a TLS 1.2 session dies `timeout` after its full handshake however often used.
  m.renewed_on_resume = m.version == TlsVersion::kTls13;
  const int64_t timeout_ms = config.server.session_timeout
                                 ? config.server.session_timeout->count()
                                 : int64_t{profile.session_timeout_s} * 1000;
  m.lifetime_us = timeout_ms * 1000;
  m.cache_size = config.server.cache_size.value_or(profile.session_cache_size);
  // A TLS 1.3 full handshake leaves two stateful tickets in the cache (SSL_CTX_set_num_tickets
  // default 2), a resumption uses one up (anti-replay removal) and adds one.
  m.cache_entries_per_client = m.mechanism == Resumption::kPskStateful ? 2 : 1;
  m.server_answers_close_notify = profile.behaviour->answers_close_notify;
  return m;
}

CheckCostPair CostsPerCheck(const SessionModel& m, const CostSet& costs, KeyType key,
                            double checker_rate, double server_rate) {
  const VersionCosts& v = costs.For(key, m.version);
  // The kind of check a loop mostly does: full handshakes when the session is lost after every
  // check, else resumed ones (the engine's first guess, sim/engine.cc full_share_run), or none
  // on a kept connection.
  const bool full = m.removed_after_check || !m.offers || !m.client_keeps;
  CheckCostPair out;
  auto fill = [&](const SideCosts& s, bool checker, double rate, CheckCosts& c) {
    double common = m.check == CheckKind::kHttp ? s.http : 0.0;
    const bool notify = m.server_sees == CloseKind::kCloseNotify && !m.persistent &&
                        (checker || m.server_answers_close_notify);
    if (notify) common += s.close_notify;
    c.full_fresh = common + s.floor + s.full;
    c.full_refused = common + s.floor + s.full + s.refused;
    c.resumed = common + s.floor_resumed + s.resumed[static_cast<size_t>(m.mechanism)];
    c.no_handshake = (m.check == CheckKind::kHttp ? s.http : 0.0) + s.floor * 0.25;
    c.failed = checker ? s.floor * 0.5 : 0.0;
    // The wake-up model (sim/wake.h): the costs above are those of a check that wakes its
    // loop; at this rate a share u of the checks find it awake and pay less.
    const double typical = m.persistent ? c.no_handshake
                           : full       ? (m.offers ? c.full_refused : c.full_fresh)
                                        : c.resumed;
    const double u =
        BusyShare(full ? s.per_second_full : s.per_second, rate, typical, s.wake_share);
    const double scale = 1.0 - s.wake_share * u;
    for (double* cost : {&c.full_fresh, &c.full_refused, &c.resumed, &c.no_handshake, &c.failed})
      *cost *= scale;
  };
  fill(v.checker, true, checker_rate, out.checker);
  fill(v.server, false, server_rate, out.server);
  out.checker_per_second = v.checker.per_second;
  out.checker_per_second_full = v.checker.per_second_full;
  out.server_per_second = v.server.per_second;
  out.server_per_second_full = v.server.per_second_full;
  return out;
}

void UseCheckerCosts(CheckCostPair& pair, const SessionModel& m, const CheckerCostSet& set,
                     KeyType key) {
  const CheckerCosts& k = set.For(key, m.version, m.check);
  pair.checker.full_fresh = k.full;
  pair.checker.full_refused = k.full;
  pair.checker.resumed = k.resumed;
  pair.checker.no_handshake = k.resumed;  // not measured (HAProxy checks never keep a connection)
  pair.checker_per_second = k.per_second;
  pair.checker_per_second_full = k.per_second_full;
}

}  // namespace tlslab
