// The lab's vocabulary (docs/design.md 2) as enums, with the one place where each value
// gets its name. Names are part of the interface: flags, JSON keys, plots and docs use them.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace tlslab {

// What the checker does at the end of a check.
enum class CloseMode {
  kCloseNotify,  // send close_notify, then close (FIN)
  kQuiet,        // SSL_set_quiet_shutdown: no alert on the wire, then FIN
  kQuietReset,   // no alert, then RST (SO_LINGER 0): HAProxy <= 1.7.3
  kNotifyReset,  // close_notify, then RST: HAProxy 1.7.4 for checks that read a response
  kKeep,         // keep the connection open and reuse it for the next check
};
inline constexpr std::array kAllCloseModes = {CloseMode::kCloseNotify, CloseMode::kQuiet,
                                              CloseMode::kQuietReset, CloseMode::kNotifyReset,
                                              CloseMode::kKeep};

// What the server saw at the end of a connection. ClassifyClose computes it.
enum class CloseKind {
  kCloseNotify,      // the peer's close_notify arrived (whatever followed on TCP)
  kEof,              // FIN without close_notify
  kReset,            // RST (ECONNRESET) without close_notify
  kAlert,            // a fatal alert or a protocol error on an established connection
  kTimeout,          // our own idle timeout ended it
  kHandshakeFailed,  // it ended before the handshake completed
};
inline constexpr std::array kAllCloseKinds = {CloseKind::kCloseNotify, CloseKind::kEof,
                                              CloseKind::kReset,       CloseKind::kAlert,
                                              CloseKind::kTimeout,     CloseKind::kHandshakeFailed};

// How a session would be resumed.
enum class Resumption {
  kSessionId,     // TLS 1.2 session ID, server-side cache
  kTicket,        // TLS 1.2 RFC 5077 ticket: the session travels inside the ticket
  kPskStateless,  // TLS 1.3 ticket carrying the session (OpenSSL's default)
  kPskStateful,   // TLS 1.3 ticket naming a cache entry (OpenSSL with SSL_OP_NO_TICKET)
};
inline constexpr std::array kAllResumptions = {Resumption::kSessionId, Resumption::kTicket,
                                               Resumption::kPskStateless, Resumption::kPskStateful};

enum class SessionFate { kKept, kRemoved };
enum class CheckKind { kConnect, kHttp };
enum class TlsVersion { kAuto, kTls12, kTls13 };
enum class KeyType { kRsa2048, kP256 };

std::string_view Name(CloseMode v);
std::string_view Name(CloseKind v);
std::string_view Name(Resumption v);
std::string_view Name(SessionFate v);
std::string_view Name(CheckKind v);
std::string_view Name(TlsVersion v);
std::string_view Name(KeyType v);

// Parse a name; nullopt when unknown. KnownNames lists the accepted names, for error messages.
template <typename E>
std::optional<E> ParseName(std::string_view text);
template <typename E>
std::string KnownNames();

}  // namespace tlslab
