#include "lab/profiles.h"

#include <array>

#include "lab/errors.h"

namespace tlslab {
namespace {

constexpr SessionFate K = SessionFate::kKept;
constexpr SessionFate R = SessionFate::kRemoved;

// ---- Behaviours: what varies between stacks. ----

// RFC 4346 and RFC 5246 section 7.2.1: "failure to properly close a connection no longer
// requires that a session not be resumed". Neither a FIN nor an RST costs the session.
constexpr Behaviour kRfc5246{
    .name = "rfc5246",
    .why = "a close without close_notify keeps the session (RFC 5246 7.2.1)",
    .eof = K,
    .reset = K,
};
constexpr Behaviour kRfc5246NoTickets{
    .name = "rfc5246-no-tickets",
    .why =
        "as rfc5246, with server tickets off: TLS 1.2 resumes by session ID, TLS 1.3 "
        "tickets are stateful",
    .eof = K,
    .reset = K,
    .tickets_supported = false,
};

// JDK <= 8u252 SSLEngineImpl.closeInbound() before close_notify calls fatal(), which calls
// sess.invalidate() and so context.remove(sessionId): "Inbound closed before receiving peer's
// close_notify: possible truncation attack?". Jetty <= 9.3.19 calls closeInbound() on EOF and
// maps an RST to EOF (ChannelEndPoint.fill), so FIN and RST both lose the session. The same
// holds for the new engine before JDK-8273553 (TransportContext.fatal invalidates), and for
// Netty, whose channelInactive calls closeInbound() after an RST too (docs/tls-semantics.md
// 1.2, 1.6).
constexpr Behaviour kCloseInboundFatal{
    .name = "close-inbound-fatal",
    .why =
        "closeInbound() before close_notify is fatal and invalidates the session, on a FIN "
        "and on an RST (docs/tls-semantics.md 1.2)",
    .eof = R,
    .reset = R,
};
// JDK 8 has no server-side tickets, and JDK 11 only stateful ones (docs/tls-semantics.md
// 1.5): every resumption goes through the cache, where the invalidation reaches it.
constexpr Behaviour kCloseInboundFatalNoTickets{
    .name = "close-inbound-fatal-no-tickets",
    .why =
        "as close-inbound-fatal, without server tickets: every resumption is cached, so "
        "every unannounced close costs it",
    .eof = R,
    .reset = R,
    .tickets_supported = false,
};

// A close without close_notify that turns fatal only on a FIN: OpenSSL 3 in SSL_read
// (SSL_R_UNEXPECTED_EOF_WHILE_READING -> ssl3_send_alert -> SSL_CTX_remove_session), and
// JDK SSLSocket with requireCloseNotify=true ("Remote host terminated the connection"). An RST
// surfaces as a syscall error, which neither treats as a TLS failure (docs/tls-semantics.md
// 2.2, 2.3).
constexpr Behaviour kFinFatal{
    .name = "fin-fatal",
    .why =
        "a FIN without close_notify is a fatal error that removes the session; an RST is not "
        "(docs/tls-semantics.md 2.2)",
    .eof = R,
    .reset = K,
};
constexpr Behaviour kFinFatalNoTickets{
    .name = "fin-fatal-no-tickets",
    .why =
        "as fin-fatal, without server tickets: TLS 1.3 tickets are stateful children of the "
        "session and die with it",
    .eof = R,
    .reset = K,
    .tickets_supported = false,
};

// HAProxy 2.6 as a TLS frontend (measured, 4.3; read in v2.6.0, docs/real-stacks.md 4.8): its
// BIO answers 0 to BIO_CTRL_EOF, so a FIN is no fatal error; an RST sets CO_FL_SOCK_WR_SH
// (src/raw_sock.c), so h1_shutw_conn (src/mux_h1.c) skips SSL_shutdown and SSL_free's
// ssl_clear_bad_session removes the session; so does the 400 to an empty first request.
constexpr Behaviour kRstDrops{
    .name = "rst-drops",
    .why =
        "a FIN keeps the session; an RST frees the connection without SSL_shutdown, which "
        "removes it, and so does a close_notify before the first request if the RST came with "
        "it (docs/real-stacks.md 4.3, 4.8)",
    .eof = K,
    .reset = R,
    .notify_reset_before_request_drops = true,
};

// A server with no session cache: nothing to remove, and nothing to resume but stateless
// tickets (Go crypto/tls, docs/tls-semantics.md 3).
constexpr Behaviour kNoCache{
    .name = "no-cache",
    .why =
        "no server-side session cache: only stateless tickets resume, so no close can remove "
        "a session (docs/tls-semantics.md 3)",
    .session_cache = false,
};

constexpr std::array<const Behaviour*, 8> kBehaviours = {
    &kRfc5246,  &kRfc5246NoTickets,  &kCloseInboundFatal, &kCloseInboundFatalNoTickets,
    &kFinFatal, &kFinFatalNoTickets, &kRstDrops,          &kNoCache,
};

// ---- Profiles: named stacks, each pointing at its behaviour. ----

constexpr std::array kServerProfiles = {
    ServerProfile{
        .name = "jdk8-sslengine",
        .aliases = "strict",
        .emulates = "JDK 8u252 and older SSLEngine driven by a framework that calls "
                    "closeInbound() on EOF (Jetty 9.3.19 / 9.4.5 and older, Netty): the "
                    "incident's server; no server tickets",
        .source = "JDK 8 SSLEngineImpl.closeInbound/fatal (openjdk/jdk@fde1dab); Jetty 9.3.16 "
                  "SslConnection, fixed by d53af5d (#523); docs/tls-semantics.md 1.2, 1.5, 1.6, "
                  "8 row 1; not installable here",
        // TLS 1.3 (which JDK 8u252 does not speak) is modelled as JDK 11's stateful tickets,
        // children of the session.
        .verified_here = false,
        // SSLSessionContextImpl: DEFAULT_SESSION_TIMEOUT 86400 s; javax.net.ssl.sessionCacheSize
        // default 20480 (JDK-8210985, JDK 12, backported to 8u and 11u).
        .session_timeout_s = 86400,
        .session_cache_size = 20480,
        .behaviour = &kCloseInboundFatalNoTickets,
    },
    ServerProfile{
        .name = "jdk11-sslengine-old",
        .aliases = "",
        .emulates = "JDK 11.0.0-11.0.17 SSLEngine (and 17.0.0-17.0.5 with "
                    "jdk.tls.server.enableSessionTicketExtension=false) under a framework "
                    "calling closeInbound() on EOF (Netty): no stateless tickets, TLS 1.3 "
                    "tickets are children of the session",
        .source = "TransportContext.fatal invalidates (openjdk/jdk@0278846), fixed by "
                  "JDK-8273553 in 11.0.18 (jdk11u-dev#1422); NewSessionTicket addChild; "
                  "docs/tls-semantics.md 1.2, 1.5, 8 row 4; not installable here",
        .verified_here = false,
        // SSLSessionContextImpl: DEFAULT_SESSION_TIMEOUT 86400 s; javax.net.ssl.sessionCacheSize
        // default 20480 (JDK-8210985, JDK 12, backported to 8u and 11u).
        .session_timeout_s = 86400,
        .session_cache_size = 20480,
        .behaviour = &kCloseInboundFatalNoTickets,
    },
    ServerProfile{
        .name = "jdk17-sslengine-old",
        .aliases = "",
        .emulates = "JDK 17.0.0-17.0.5 SSLEngine under a framework calling closeInbound() on "
                    "EOF (Netty): session IDs die, stateless tickets (JDK 13+ default) survive",
        .source = "TransportContext.fatal invalidates; JDK-8273553 backported in 17.0.6 "
                  "(jdk17u-dev#695); SSLSessionContextImpl@0dd19ef (tickets on by default); "
                  "docs/tls-semantics.md 1.2, 1.5, 8 row 6; not installable here",
        .verified_here = false,
        // SSLSessionContextImpl: DEFAULT_SESSION_TIMEOUT 86400 s; javax.net.ssl.sessionCacheSize
        // default 20480 (JDK-8210985, JDK 12, backported to 8u and 11u).
        .session_timeout_s = 86400,
        .session_cache_size = 20480,
        .behaviour = &kCloseInboundFatal,
    },
    ServerProfile{
        .name = "jdk17-sslengine",
        .aliases = "",
        .emulates = "JDK 17.0.6 and newer (11.0.18+, 19+) SSLEngine, even under a framework "
                    "calling closeInbound() on EOF (Netty): closeInbound() only throws",
        .source = "JDK-8273553 (openjdk/jdk#7796, jdk17u-dev#695); measured on 17.0.15 "
                  "(tests/interop EngineServer, docs/real-stacks.md 4.5)",
        .verified_here = true,
        // SSLSessionContextImpl: DEFAULT_SESSION_TIMEOUT 86400 s; javax.net.ssl.sessionCacheSize
        // default 20480 (JDK-8210985, JDK 12, backported to 8u and 11u).
        .session_timeout_s = 86400,
        .session_cache_size = 20480,
        .behaviour = &kRfc5246,
    },
    ServerProfile{
        .name = "jdk17-sslsocket",
        .aliases = "",
        .emulates = "JDK 17 SSLServerSocket, default properties: EOF is treated as close_notify; "
                    "an RST keeps the session too (17.0.15, JDK-8274736)",
        .source = "SSLSocketImpl.handleEOF (openjdk/jdk@0278846); JDK-8274736 (openjdk/jdk#6197, "
                  "jdk17u#294): fatal() skips invalidate() for a SocketException; measured on "
                  "17.0.15 (docs/real-stacks.md 4.4; docs/tls-semantics.md 1.3, 8 row 8)",
        .verified_here = true,
        // SSLSessionContextImpl: DEFAULT_SESSION_TIMEOUT 86400 s; javax.net.ssl.sessionCacheSize
        // default 20480 (JDK-8210985, JDK 12, backported to 8u and 11u).
        .session_timeout_s = 86400,
        .session_cache_size = 20480,
        .behaviour = &kRfc5246,
    },
    ServerProfile{
        .name = "jdk17-sslsocket-no-tickets",
        .aliases = "",
        .emulates = "JDK 17 SSLServerSocket with "
                    "-Djdk.tls.server.enableSessionTicketExtension=false: no TLS 1.2 tickets, "
                    "stateful TLS 1.3 tickets; every close still keeps the session",
        .source = "SSLSessionContextImpl@0dd19ef (the property); JDK-8274736; measured on "
                  "17.0.15 (docs/real-stacks.md 4.4)",
        .verified_here = true,
        // SSLSessionContextImpl: DEFAULT_SESSION_TIMEOUT 86400 s; javax.net.ssl.sessionCacheSize
        // default 20480 (JDK-8210985, JDK 12, backported to 8u and 11u).
        .session_timeout_s = 86400,
        .session_cache_size = 20480,
        .behaviour = &kRfc5246NoTickets,
    },
    ServerProfile{
        .name = "jdk17-sslsocket-require-close-notify",
        .aliases = "",
        .emulates = "JDK 17 SSLServerSocket with -Dcom.sun.net.ssl.requireCloseNotify=true: a "
                    "FIN without close_notify is fatal ('Remote host terminated the connection')",
        .source = "SSLSocketImpl.handleEOF -> SSLProtocolException -> fatal (openjdk/jdk@0278846); "
                  "BaseSSLSocketImpl requireCloseNotify; measured on 17.0.15 "
                  "(docs/real-stacks.md 4.4)",
        .verified_here = true,
        // SSLSessionContextImpl: DEFAULT_SESSION_TIMEOUT 86400 s; javax.net.ssl.sessionCacheSize
        // default 20480 (JDK-8210985, JDK 12, backported to 8u and 11u).
        .session_timeout_s = 86400,
        .session_cache_size = 20480,
        .behaviour = &kFinFatal,
    },
    ServerProfile{
        .name = "jdk17-sslsocket-require-close-notify-no-tickets",
        .aliases = "",
        .emulates = "JDK 17 SSLServerSocket with requireCloseNotify=true and "
                    "enableSessionTicketExtension=false: TLS 1.3 tickets are stateful children "
                    "of the session and die with it on a FIN",
        .source = "as jdk17-sslsocket-require-close-notify; NewSessionTicket addChild "
                  "(docs/tls-semantics.md 1.5); measured on 17.0.15 (docs/real-stacks.md 4.4)",
        .verified_here = true,
        // SSLSessionContextImpl: DEFAULT_SESSION_TIMEOUT 86400 s; javax.net.ssl.sessionCacheSize
        // default 20480 (JDK-8210985, JDK 12, backported to 8u and 11u).
        .session_timeout_s = 86400,
        .session_cache_size = 20480,
        .behaviour = &kFinFatalNoTickets,
    },
    ServerProfile{
        .name = "jetty94",
        .aliases = "",
        .emulates = "Jetty 9.4.6 and newer (and 9.3.20+) on any JDK: no closeInbound() on a "
                    "server connection after the handshake",
        .source = "Jetty d53af5d (#523, jetty-9.3.20 / 9.4.6); measured with Jetty 9.4.57 on "
                  "17.0.15, JDK debug log without 'Closing inbound' (docs/real-stacks.md 4.6)",
        .verified_here = true,
        // SSLSessionContextImpl: DEFAULT_SESSION_TIMEOUT 86400 s; javax.net.ssl.sessionCacheSize
        // default 20480 (JDK-8210985, JDK 12, backported to 8u and 11u).
        .session_timeout_s = 86400,
        .session_cache_size = 20480,
        .behaviour = &kRfc5246,
    },
    ServerProfile{
        .name = "openssl3",
        .aliases = "",
        .emulates = "an OpenSSL 3 server application with default options, in SSL_read when the "
                    "FIN arrives, calling SSL_shutdown before SSL_free (like openssl s_server)",
        .source = "OpenSSL 3 ssl3_read_n SSLfatal(SSL_R_UNEXPECTED_EOF_WHILE_READING) -> "
                  "ssl3_send_alert -> SSL_CTX_remove_session (docs/tls-semantics.md 2.1, 2.2, 8 "
                  "row 14); measured with s_server 3.0.19 (docs/real-stacks.md 4.1)",
        .verified_here = true,
        .behaviour = &kFinFatal,
    },
    ServerProfile{
        .name = "openssl3-ignore-eof",
        .aliases = "",
        .emulates = "an OpenSSL 3 server application with SSL_OP_IGNORE_UNEXPECTED_EOF (like "
                    "openssl s_server -ignore_unexpected_eof): the FIN counts as close_notify",
        .source = "OpenSSL 3 ossl_tls_handle_rlayer_return (openssl@0026ef3); "
                  "docs/tls-semantics.md 2.2; measured with s_server 3.0.19 "
                  "(docs/real-stacks.md 4.1)",
        .verified_here = true,
        .behaviour = &kRfc5246,
    },
    ServerProfile{
        .name = "nginx",
        .aliases = "",
        .emulates = "nginx 1.21.2 and newer (OpenSSL 3) with a configured ssl_session_cache "
                    "(shared): SSL_OP_IGNORE_UNEXPECTED_EOF, SSL_SENT_SHUTDOWN before SSL_free",
        .source = "nginx ngx_event_openssl.c (5155845ce, ngx_ssl_shutdown); docs/tls-semantics.md "
                  "2.6, 8 row 15; measured with nginx 1.22.1, shared:SSL:1m "
                  "(docs/real-stacks.md 4.2)",
        .verified_here = true,
        .session_timeout_s = 300,  // ngx_http_ssl_module: ssl_session_timeout 5m
        .session_cache_size = 20480,
        .behaviour = &kRfc5246,
    },
    ServerProfile{
        .name = "haproxy-frontend",
        .aliases = "",
        .emulates = "HAProxy 2.6 as a TLS frontend (bind ... ssl crt): a FIN keeps the session, "
                    "an RST removes it from the cache, and so does a close_notify before the "
                    "first request when the RST came with it",
        .source = "HAProxy v2.6.0 src/ssl_sock.c ha_ssl_ctrl (FIN); src/raw_sock.c, src/mux_h1.c "
                  "h1_shutw_conn and h1_handle_parsing_error (no SSL_shutdown after an RST); "
                  "measured with HAProxy 2.6.12 (docs/real-stacks.md 4.3, 4.8)",
        .verified_here = true,
        // HAProxy tune.ssl.lifetime 300 s and tune.ssl.cachesize 20000 (configuration.txt).
        .session_timeout_s = 300,
        .session_cache_size = 20000,
        .behaviour = &kRstDrops,
    },
    ServerProfile{
        .name = "go",
        .aliases = "",
        .emulates = "Go crypto/tls server: no session-ID cache (never resumes by ID), only "
                    "stateless tickets, so no close can remove a session",
        .source = "Go handshake_server.go checkForResumption (tickets only; docs/tls-semantics.md "
                  "3, 8 row 17); not installed here",
        .verified_here = false,
        .session_timeout_s = 7 * 24 * 3600,  // crypto/tls maxSessionTicketLifetime
        .session_cache_size = 20480,
        .behaviour = &kNoCache,
    },
    ServerProfile{
        .name = "lenient",
        .aliases = "rfc5246",
        .emulates = "RFC 4346 and later: only a fatal alert removes the session",
        .source = "RFC 5246 sections 7.2 and 7.2.1; docs/tls-semantics.md 5",
        .verified_here = false,
        .behaviour = &kRfc5246,
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

SessionFate FateAfterClose(const ServerProfile& profile, Resumption mechanism, CloseKind kind,
                           CloseNotifyContext notify) {
  const Behaviour& b = *profile.behaviour;
  switch (mechanism) {
    case Resumption::kSessionId:
    case Resumption::kPskStateful:
      break;
    case Resumption::kTicket:
    case Resumption::kPskStateless:
      // A stateless ticket (RFC 5077, RFC 8446 section 4.6.1) carries the session inside the
      // ticket: there is no cache entry to remove, and RFC 8446 section 6 asks to discard
      // tickets only "if possible". Every stack keeps them (docs/tls-semantics.md 1.5, 2.5).
      return SessionFate::kKept;
  }
  // Without a server-side cache there is nothing to remove (docs/tls-semantics.md 3).
  if (!b.session_cache) return SessionFate::kKept;
  switch (kind) {
    case CloseKind::kCloseNotify:
      // HAProxy 2.6: Behaviour::notify_reset_before_request_drops.
      if (b.notify_reset_before_request_drops && notify.reset_in_same_wakeup &&
          notify.before_first_request) {
        return b.reset;
      }
      // A clean close is the one every stack honours (RFC 5246 section 7.2.1).
      return SessionFate::kKept;
    case CloseKind::kEof:
      return b.eof;
    case CloseKind::kReset:
      return b.reset;
    case CloseKind::kAlert:
      // RFC 5246 section 7.2: after a fatal alert "the session identifier MUST be
      // invalidated"; every stack here does (docs/tls-semantics.md 5).
      return SessionFate::kRemoved;
    case CloseKind::kTimeout:
      // The server ends an idle connection itself: it sees no truncation by the peer, and no
      // stack here treats its own timeout as one.
      return SessionFate::kKept;
    case CloseKind::kHandshakeFailed:
      return SessionFate::kKept;  // no session was established: nothing to remove
  }
  return SessionFate::kKept;
}

std::span<const Behaviour* const> Behaviours() { return kBehaviours; }
std::span<const ServerProfile> ServerProfiles() { return kServerProfiles; }

const ServerProfile& FindServerProfile(std::string_view name) {
  for (const auto& p : kServerProfiles) {
    if (NameMatches(p, name)) return p;
  }
  throw UsageError("unknown server profile '" + std::string(name) +
                   "'; known: " + JoinNames(kServerProfiles, true));
}

}  // namespace tlslab
