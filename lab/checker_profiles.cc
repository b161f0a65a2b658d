// The checker profiles: how each HAProxy version (and other checkers) closes a check, per
// check kind, and whether it reuses sessions (lab/profiles.h; docs/real-stacks.md). The server
// profiles and their behaviours are in lab/profiles.cc.
#include <array>
#include <string>

#include "lab/errors.h"
#include "lab/profiles.h"

namespace tlslab {
namespace {

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
    // HAProxy 2.2-dev9 (commit 3d5e12184) deleted the cs_shutw(CS_SHW_NORMAL) block of the
    // check I/O callback; a connect check now closes silently (sc_conn_drain_and_shut,
    // CO_SHW_SILENT: no close_notify), drains the NewSessionTicket unread (recv MSG_TRUNC)
    // and fd_delete() sends the RST. Measured on 2.6.12 (strace, test_haproxy_checker.py):
    // that holds for connect checks, but an httpchk check, which ends through mux-h1, sends a
    // close_notify before the SO_LINGER 0 close, unlike the reading of the source in
    // docs/tls-semantics.md 4.1.
    // Sessions are reused per thread (shared across threads since 2.9, 52b260bae).
    CheckerProfile{
        .name = "haproxy-2.6",
        .emulates = "HAProxy 2.2-3.3 checks: check-ssl closes quietly (no close_notify), then "
                    "RST; httpchk sends close_notify, then RST; checks reuse sessions",
        .source =
            "HAProxy commit 3d5e12184 (2.2-dev9); v2.6 src/check.c sc_conn_drain_and_shut "
            "(CO_SHW_SILENT); docs/tls-semantics.md 4.1, 7 table; measured with HAProxy 2.6.12 "
            "(tests/interop/test_haproxy_checker.py: the http close is close_notify)",
        .verified_here = true,
        .connect = {CloseMode::kQuietReset, false},
        .http = {CloseMode::kNotifyReset, true},
        .reuse = true,
    },
    // HAProxy 3.4-dev1 (commits dcce93691 and 420b42df1, "Don't resume session for check
    // connections"): CO_FL_SSL_NO_CACHED_INFO, so checks neither store nor offer a session.
    // The close paths are taken from 2.6 as measured (se_shutdown SE_SHW_SILENT for connect
    // checks; the http close through mux-h1 is assumed unchanged, not read).
    CheckerProfile{
        .name = "haproxy-3.4",
        .emulates = "HAProxy 3.4 checks: closes as 2.6; checks never reuse sessions (every "
                    "check is a full handshake whatever the server does)",
        .source = "HAProxy commits dcce93691, 420b42df1 (3.4-dev1, CO_FL_SSL_NO_CACHED_INFO); "
                  "docs/tls-semantics.md 4.2, 7 table; close modes as measured on 2.6",
        .verified_here = false,
        .connect = {CloseMode::kQuietReset, false},
        .http = {CloseMode::kNotifyReset, true},
        .reuse = false,
    },
    // No check closes: one long-lived connection per backend, each check runs on it (the
    // HAProxy issue #1613 proposal, or an application's own keep-alive health probe).
    CheckerProfile{
        .name = "persistent",
        .emulates = "one long-lived connection per backend, reused by every check: no close, "
                    "so no session is ever at stake",
        .source = "a design point, not a product: HAProxy issue #1613 (checks reusing "
                  "connections); docs/tls-semantics.md 4.5",
        .verified_here = false,
        .connect = {CloseMode::kKeep, true},
        .http = {CloseMode::kKeep, true},
        .reuse = true,
    },
};

}  // namespace

std::span<const CheckerProfile> CheckerProfiles() { return kCheckerProfiles; }

const CheckerProfile& FindCheckerProfile(std::string_view name) {
  for (const auto& p : kCheckerProfiles) {
    if (p.name == name) return p;
  }
  std::string known;
  for (const auto& p : kCheckerProfiles) known += (known.empty() ? "" : ", ") + std::string(p.name);
  throw UsageError("unknown checker profile '" + std::string(name) + "'; known: " + known);
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
