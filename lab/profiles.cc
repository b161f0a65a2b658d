#include "lab/profiles.h"

#include <array>

#include "lab/errors.h"

namespace tlslab {
namespace {

constexpr SessionFate K = SessionFate::kKept;
constexpr SessionFate R = SessionFate::kRemoved;

// Stateless tickets (TLS 1.2 RFC 5077, TLS 1.3 OpenSSL default) carry the session inside the
// ticket, so no stack can remove them from a cache: RFC 8446 section 6 asks to discard them
// only "if possible". Every profile keeps them (tls-semantics.md 1.5, 2.5).
constexpr FateRow kStatelessKept{K, K, K, K, K};

// RFC 4346 / RFC 5246 section 7.2.1: "failure to properly close a connection no longer
// requires that a session not be resumed". Section 7.2: after a fatal alert "the session
// identifier MUST be invalidated".
constexpr FateRow kRfc5246{K, K, K, R, K};

// JDK <= 8u252 SSLEngineImpl.closeInbound() before close_notify calls fatal(), which calls
// sess.invalidate() and so context.remove(sessionId): "Inbound closed before receiving peer's
// close_notify: possible truncation attack?". Jetty <= 9.3.19 calls closeInbound() on EOF and
// maps an RST to EOF (ChannelEndPoint.fill), so FIN and RST both lose the session.
constexpr FateRow kJdk8Engine{K, R, R, R, K};

constexpr std::array kServerProfiles = {
    ServerProfile{
        .name = "strict",
        .aliases = "",
        .emulates = "JDK 8 SSLEngine under Jetty 9.3 (the incident): a close without "
                    "close_notify removes the session; no server tickets, so TLS 1.3 uses "
                    "stateful tickets that die with it (as JDK 11.0.0-11.0.17)",
        .source = "JDK 8 SSLEngineImpl.closeInbound/fatal; Jetty 9.3.16 SslConnection; "
                  "JDK 11 NewSessionTicket addChild; tls-semantics.md 1.2, 1.5, 1.6, 8 rows 1, 4",
        .verified_here = false,
        // JDK 8 has no server-side tickets (tls-semantics.md 1.5): every resumption goes
        // through the cache, where the invalidation reaches it.
        .tickets_supported = false,
        .session_id = kJdk8Engine,
        .ticket = kStatelessKept,
        .psk_stateless = kStatelessKept,
        .psk_stateful = kJdk8Engine,
        .answers_close_notify = true,
    },
    ServerProfile{
        .name = "lenient",
        .aliases = "rfc5246",
        .emulates = "RFC 4346 and later: only a fatal alert removes the session",
        .source = "RFC 5246 sections 7.2 and 7.2.1; tls-semantics.md 5",
        .verified_here = false,
        .tickets_supported = true,
        .session_id = kRfc5246,
        .ticket = kStatelessKept,
        .psk_stateless = kStatelessKept,
        .psk_stateful = kRfc5246,
        .answers_close_notify = true,
    },
};

constexpr std::array kCheckerProfiles = {
    // HAProxy 1.7.0-1.7.3 event_srv_chk_r(): conn_data_shutw_hard() sets
    // SSL_set_quiet_shutdown, then fd_delete() with linger_risk sends an RST. Pure check-ssl
    // connect checks reach SSL_free without any SSL_shutdown: the same on the wire.
    CheckerProfile{
        .name = "haproxy-1.7.3",
        .emulates = "HAProxy 1.7.0-1.7.3 checks: quiet shutdown, then RST",
        .source = "HAProxy src/checks.c before 544d48151; src/ssl_sock.c ssl_sock_shutw",
        .verified_here = false,
        .connect = {CloseMode::kQuietReset, false},
        .http = {CloseMode::kQuietReset, true},
        .reuse = true,
    },
    // HAProxy 1.7.4 (commit 544d48151, "attempt clean shutw for SSL check"): checks that read
    // a response call conn_data_shutw(), so close_notify goes out before the RST. Connect
    // checks were not on that path and still close without close_notify.
    CheckerProfile{
        .name = "haproxy-1.7.4",
        .emulates = "HAProxy 1.7.4-2.1 checks: close_notify then RST after a response; "
                    "connect checks unchanged",
        .source = "HAProxy commit 544d48151 (src/checks.c event_srv_chk_r, process_chk_conn)",
        .verified_here = false,
        .connect = {CloseMode::kQuietReset, false},
        .http = {CloseMode::kNotifyReset, true},
        .reuse = true,
    },
};

std::string JoinNames(auto rows, bool with_aliases) {
  std::string out;
  for (const auto& row : rows) {
    if (!out.empty()) out += ", ";
    out += row.name;
    if constexpr (requires { row.aliases; }) {
      if (with_aliases && !row.aliases.empty()) out += " (" + std::string(row.aliases) + ")";
    }
  }
  return out;
}

bool NameMatches(const ServerProfile& p, std::string_view name) {
  if (p.name == name) return true;
  std::string_view rest = p.aliases;
  while (!rest.empty()) {
    size_t comma = rest.find(',');
    std::string_view alias = rest.substr(0, comma);
    if (alias == name) return true;
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

SessionFate FateAfterClose(const ServerProfile& profile, Resumption mechanism, CloseKind kind) {
  const FateRow* row = nullptr;
  switch (mechanism) {
    case Resumption::kSessionId:
      row = &profile.session_id;
      break;
    case Resumption::kTicket:
      row = &profile.ticket;
      break;
    case Resumption::kPskStateless:
      row = &profile.psk_stateless;
      break;
    case Resumption::kPskStateful:
      row = &profile.psk_stateful;
      break;
  }
  switch (kind) {
    case CloseKind::kCloseNotify:
      return row->close_notify;
    case CloseKind::kEof:
      return row->eof;
    case CloseKind::kReset:
      return row->reset;
    case CloseKind::kAlert:
      return row->alert;
    case CloseKind::kTimeout:
      return row->timeout;
    case CloseKind::kHandshakeFailed:
      return SessionFate::kKept;  // no session to remove
  }
  return SessionFate::kKept;
}

std::span<const ServerProfile> ServerProfiles() { return kServerProfiles; }
std::span<const CheckerProfile> CheckerProfiles() { return kCheckerProfiles; }

const ServerProfile& FindServerProfile(std::string_view name) {
  for (const auto& p : kServerProfiles) {
    if (NameMatches(p, name)) return p;
  }
  throw UsageError("unknown server profile '" + std::string(name) +
                   "'; known: " + JoinNames(kServerProfiles, true));
}

const CheckerProfile& FindCheckerProfile(std::string_view name) {
  for (const auto& p : kCheckerProfiles) {
    if (p.name == name) return p;
  }
  throw UsageError("unknown checker profile '" + std::string(name) +
                   "'; known: " + JoinNames(kCheckerProfiles, false));
}

const CheckPreset& PresetFor(const CheckerProfile& profile, CheckKind kind) {
  switch (kind) {
    case CheckKind::kConnect:
      return profile.connect;
    case CheckKind::kHttp:
      return profile.http;
  }
  return profile.http;
}

}  // namespace tlslab
