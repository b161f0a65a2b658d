// Profiles: named, cited rows of behaviour (docs/design.md 7), in two levels.
//
//   Behaviour  what a server does with the sessions in its cache after a close the peer did not
//              announce (a FIN, an RST), plus its cache and ticket settings. A handful exist.
//   Profile    a named stack (name, aliases, what it emulates, the source, whether tests/interop
//              checks it against the real software here) that points at one behaviour.
//
// What never varies between stacks is not a field: FateAfterClose states those rules once,
// with their citations (a clean close keeps the session, a fatal alert removes it, stateless
// tickets cannot be removed, a stack without a cache has nothing to remove).
// Checker profiles say how a checker version closes each check kind and whether it reuses
// sessions. The rows are data in profiles.cc and checker_profiles.cc; nothing else in the lab
// branches on a name.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "lab/vocabulary.h"

namespace tlslab {

struct Behaviour {
  std::string_view name;  // e.g. "rfc5246", "close-inbound-fatal"
  std::string_view why;   // one line: what happens and why, with its source
  // Fate of a cached session (session ID, TLS 1.3 stateful ticket) after the peer's FIN
  // without close_notify (close kind eof) and after its RST (close kind reset).
  SessionFate eof = SessionFate::kKept;
  SessionFate reset = SessionFate::kKept;
  // Context setup. A stack without server tickets (JDK 8) resumes by session ID only, and its
  // TLS 1.3 tickets are stateful (held in the cache).
  bool tickets_supported = true;
  // A stack with no server-side session cache (Go crypto/tls) never resumes by session ID and
  // has no stateful TLS 1.3 tickets: the context's cache is off (SSL_SESS_CACHE_OFF), so only
  // stateless tickets resume.
  bool session_cache = true;
  // How the server itself closes: answer a received close_notify with its own.
  bool answers_close_notify = true;
  // HAProxy 2.6 as an HTTP frontend (read in its source, docs/real-stacks.md 4.8): a connection
  // that ends before its first request is answered with a 400 (src/mux_h1.c h1_process ->
  // h1_handle_parsing_error; not after a served request, H1C_F_WAIT_NEXT_REQ). If the RST is
  // already in the kernel that send fails (src/raw_sock.c raw_sock_from_buf sets
  // CO_FL_SOCK_WR_SH), so h1_release's h1_shutw_conn skips ssl_sock_shutw's SSL_shutdown
  // (src/ssl_sock.c), and SSL_free's ssl_clear_bad_session removes the session as after an RST.
  // True: a close_notify read before any request was answered, in the wake-up that also
  // reported the reset (CloseNotifyContext), takes the fate of a reset.
  bool notify_reset_before_request_drops = false;
};

// What a server saw around a close_notify beyond its close kind; only a behaviour with
// notify_reset_before_request_drops looks at it.
struct CloseNotifyContext {
  bool reset_in_same_wakeup = false;  // CloseObservation::reset_with_close_notify
  bool before_first_request = false;  // no request had been answered on the connection
};

struct ServerProfile {
  std::string_view name;
  std::string_view aliases;    // comma-separated other names
  std::string_view emulates;   // one line: the stack, version and API
  std::string_view source;     // where the behaviour comes from
  bool verified_here = false;  // true: an interop test checks it against the real software
  // Session lifetime and server cache size, the stack's defaults (the simulator's; the real lab
  // sets them only when --session-timeout / --cache-size ask). OpenSSL 3.0: SSL_CTX_new takes
  // the method's tls1_default_timeout() (ssl/t1_lib.c: 2 hours; measured 7200 s here, although
  // SSL_CTX_set_timeout(3) says 300) and SSL_SESSION_CACHE_MAX_SIZE_DEFAULT (ssl.h: 1024*20).
  // A TLS 1.3 ticket's lifetime hint is the session timeout (RFC 8446 4.6.1 caps it at 7 days).
  int session_timeout_s = 7200;
  int session_cache_size = 20480;
  const Behaviour* behaviour = nullptr;
};

// The one function that turns (profile, mechanism, close kind) into a fate. `notify` matters
// only for a close_notify under a behaviour with notify_reset_before_request_drops.
SessionFate FateAfterClose(const ServerProfile& profile, Resumption mechanism, CloseKind kind,
                           CloseNotifyContext notify = {});

// The named behaviours, each used by at least one profile.
std::span<const Behaviour* const> Behaviours();

struct CheckPreset {
  CloseMode close = CloseMode::kCloseNotify;
  bool read_after_handshake = true;
};

struct CheckerProfile {
  std::string_view name;
  std::string_view emulates;
  std::string_view source;
  bool verified_here = false;
  CheckPreset connect;  // plain check-ssl (L6): handshake only
  CheckPreset http;     // option httpchk: request, status line
  bool reuse = true;    // checks offer the saved session
};

std::span<const ServerProfile> ServerProfiles();
std::span<const CheckerProfile> CheckerProfiles();

// Look a profile up by name or alias; throws UsageError listing the known names.
const ServerProfile& FindServerProfile(std::string_view name);
const CheckerProfile& FindCheckerProfile(std::string_view name);

const CheckPreset& PresetFor(const CheckerProfile& profile, CheckKind kind);

}  // namespace tlslab
