// Test-only: a client and a server TlsStream joined in memory, so that TLS behaviour can be shown
// without sockets. The test decides when bytes cross (Transfer), which is how it stages
// "close_notify arrived, then the transport ended" or "garbage arrived instead of a record".
// The transport's end is never seen by OpenSSL (see tls_stream.h); a test states it in the
// CloseObservation, as the socket pump does in the engines.
#pragma once

#include <string>

#include "lab/config.h"
#include "lab/ossl.h"
#include "lab/tls_context.h"
#include "lab/tls_stream.h"

namespace tlslab {

// A server context and a client context made from one TlsConfig, as a backend and a checker
// configured alike would make them.
struct ContextPair {
  SslCtxPtr client;
  SslCtxPtr server;
};
ContextPair MakeContextPair(const TlsConfig& tls, const Credentials& creds,
                            bool tickets_supported = true);

struct BioPair {
  TlsStream client;
  TlsStream server;
};

// New client (connect state) and server (accept state) objects on memory BIOs. `offer`, when
// not null, is the session the client offers (SSL_set_session; the pair takes its own
// reference).
BioPair MakeBioPair(SSL_CTX* client_ctx, SSL_CTX* server_ctx, SSL_SESSION* offer = nullptr);

// Moves everything `from` has written for its peer into `to`'s input. Returns the byte count.
size_t Transfer(TlsStream& from, TlsStream& to);

// Drives both handshakes, moving bytes both ways, until both are complete. Then lets the
// client read what followed the server's Finished (the TLS 1.3 NewSessionTicket), so that the
// client's session (SSL_get1_session) is the resumable one. Returns "" on success, otherwise
// one line saying which side failed and OpenSSL's reason.
std::string CompleteHandshake(BioPair& pair);

// Marks both ends as shut down without sending anything (SSL_set_shutdown), so that freeing
// them leaves the server's cache alone: OpenSSL removes the session of an SSL object freed
// without SSL_SENT_SHUTDOWN (docs/tls-semantics.md 2.1, mechanism 2). The server engine does the
// same in ServerConn::Finish; tests that are about the cache must do it too.
void MarkShutDown(BioPair& pair);

}  // namespace tlslab
