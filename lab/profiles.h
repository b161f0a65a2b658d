// Profiles: named, cited rows of behaviour (DESIGN.md section 7). Server profiles say what a
// stack does with a session after each close kind, per resumption mechanism; checker profiles
// say how a checker version closes each check kind and whether it reuses sessions.
// The rows are data in profiles.cc; nothing else in the lab branches on a profile's name.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "lab/vocabulary.h"

namespace tlslab {

// The fate of the session after each close kind, for one resumption mechanism.
// handshake_failed has no row: no session was established, so there is nothing to remove.
struct FateRow {
  SessionFate close_notify = SessionFate::kKept;
  SessionFate eof = SessionFate::kKept;
  SessionFate reset = SessionFate::kKept;
  SessionFate alert = SessionFate::kRemoved;
  SessionFate timeout = SessionFate::kKept;
};

struct ServerProfile {
  std::string_view name;
  std::string_view aliases;    // comma-separated other names
  std::string_view emulates;   // one line: the stack, version and API
  std::string_view source;     // where the behaviour comes from
  bool verified_here = false;  // true: an interop test checks it against the real software
  // Context setup. A stack without server tickets (JDK 8) resumes by session ID only.
  bool tickets_supported = true;
  // A stack with no server-side session cache (Go crypto/tls) never resumes by session ID and
  // has no stateful TLS 1.3 tickets: the context's cache is off (SSL_SESS_CACHE_OFF), so only
  // stateless tickets resume. The fate rows of the cache mechanisms are then never consulted.
  bool session_cache = true;
  // Session lifetime and server cache size, the stack's defaults (the simulator's; the real lab
  // sets them only when --session-timeout / --cache-size ask). OpenSSL 3.0: SSL_CTX_new takes
  // the method's tls1_default_timeout() (ssl/t1_lib.c: 2 hours; measured 7200 s here, although
  // SSL_CTX_set_timeout(3) says 300) and SSL_SESSION_CACHE_MAX_SIZE_DEFAULT (ssl.h: 1024*20).
  // A TLS 1.3 ticket's lifetime hint is the session timeout (RFC 8446 4.6.1 caps it at 7 days).
  int session_timeout_s = 7200;
  int session_cache_size = 20480;
  // End of connection: fate per mechanism.
  FateRow session_id;
  FateRow ticket;
  FateRow psk_stateless;
  FateRow psk_stateful;
  // How the server itself closes: answer a received close_notify with its own.
  bool answers_close_notify = true;
};

// The one function that turns (profile, mechanism, close kind) into a fate.
SessionFate FateAfterClose(const ServerProfile& profile, Resumption mechanism, CloseKind kind);

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
