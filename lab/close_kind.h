// Close classification: the one function that says how a connection ended, as the server
// (or any endpoint) saw it. Every layer reports the CloseKind this computes.
#pragma once

#include <openssl/ssl.h>

#include <string>

#include "lab/vocabulary.h"

namespace tlslab {

// How the transport under TLS ended, as the socket reported it.
enum class TransportEnd { kOpen, kEof, kReset };

// What one endpoint observed over a connection's life. Filled by ObserveSslResult (TLS layer)
// and by the socket pump (transport), then classified once at the end.
struct CloseObservation {
  bool handshake_done = false;
  bool close_notify_received = false;  // SSL_ERROR_ZERO_RETURN: the peer's close_notify
  bool fatal_error = false;            // SSL_ERROR_SSL: a fatal alert or a protocol error
  std::string error_detail;            // OpenSSL's reason, when fatal_error
  TransportEnd transport = TransportEnd::kOpen;
  bool timed_out = false;
  // The wake-up that delivered the close_notify also reported the transport's reset (epoll's
  // EPOLLERR/EPOLLHUP with it, or recv() returning the bytes and then ECONNRESET): the RST was
  // already in the kernel when the close_notify was read. Set by servers/server_conn.cc; it
  // does not change the close kind, only a behaviour that looks at it
  // (Behaviour::notify_reset_before_request_drops, lab/profiles.h).
  bool reset_with_close_notify = false;
};

// Records what SSL_get_error says about `ret` (the return value of an SSL_* I/O call).
// Drains the OpenSSL error queue.
void ObserveSslResult(CloseObservation& obs, SSL* ssl, int ret);

// Precedence, and why:
// 1. No completed handshake: handshake_failed (no session exists to keep or remove).
// 2. close_notify received: close_notify, even if an RST followed. The alert reached the TLS
//    layer first, which is what HAProxy 1.7.4's "close_notify then RST" relies on
//    (docs/tls-semantics.md 4.1; JDK's recvCN is set before the RST is seen).
// 3. A fatal alert or protocol error: alert (RFC 5246 7.2: the session MUST be invalidated).
// 4. RST: reset. 5. FIN: eof. 6. Our own idle timeout: timeout.
// A connection still open with none of these is a timeout (it was closed for us).
CloseKind ClassifyClose(const CloseObservation& obs);

}  // namespace tlslab
