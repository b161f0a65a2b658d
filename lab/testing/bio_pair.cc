#include "lab/testing/bio_pair.h"

#include <openssl/err.h>

#include "lab/errors.h"

namespace tlslab {
namespace {

// A TLS 1.2 or 1.3 handshake needs at most four flights; the margin catches a stuck peer
// without looping forever.
constexpr int kMaxRounds = 16;

SslPtr NewSsl(SSL_CTX* ctx) {
  SslPtr ssl(SSL_new(ctx));
  if (!ssl) throw RuntimeError("SSL_new: " + DrainOpensslErrors());
  return ssl;
}

// One handshake step of one side. Returns "" while all is well (done or waiting for bytes).
std::string Step(const char* side, SSL* ssl, bool& done) {
  if (done) return "";
  const int ret = SSL_do_handshake(ssl);
  if (ret == 1) {
    done = true;
    return "";
  }
  const int error = SSL_get_error(ssl, ret);
  if (error == SSL_ERROR_WANT_READ) return "";
  return std::string(side) + " handshake failed (SSL_get_error " + std::to_string(error) +
         "): " + DrainOpensslErrors();
}

}  // namespace

ContextPair MakeContextPair(const TlsConfig& tls, const Credentials& creds,
                            bool tickets_supported) {
  return {MakeClientContext(tls), MakeServerContext(tls, creds, tickets_supported)};
}

BioPair MakeBioPair(SSL_CTX* client_ctx, SSL_CTX* server_ctx, SSL_SESSION* offer) {
  BioPair pair{TlsStream(NewSsl(client_ctx)), TlsStream(NewSsl(server_ctx))};
  SSL_set_connect_state(pair.client.ssl());
  SSL_set_accept_state(pair.server.ssl());
  if (offer != nullptr && SSL_set_session(pair.client.ssl(), offer) != 1) {
    throw RuntimeError("SSL_set_session: " + DrainOpensslErrors());
  }
  return pair;
}

size_t Transfer(TlsStream& from, TlsStream& to) {
  std::string bytes;
  from.TakeOutput(bytes);
  to.Feed(bytes.data(), bytes.size());
  return bytes.size();
}

std::string CompleteHandshake(BioPair& pair) {
  bool client_done = false;
  bool server_done = false;
  for (int round = 0; round < kMaxRounds && !(client_done && server_done); ++round) {
    if (std::string error = Step("client", pair.client.ssl(), client_done); !error.empty()) {
      return error;
    }
    Transfer(pair.client, pair.server);
    if (std::string error = Step("server", pair.server.ssl(), server_done); !error.empty()) {
      return error;
    }
    Transfer(pair.server, pair.client);
  }
  if (!(client_done && server_done)) {
    return "no handshake after " + std::to_string(kMaxRounds) + " rounds";
  }
  // TLS 1.3 sends NewSessionTicket after the handshake; the client processes it on read. No
  // application data was sent, so the read must want more.
  char byte = 0;
  const int ret = SSL_read(pair.client.ssl(), &byte, 1);
  if (ret > 0) return "client read unexpected application data after the handshake";
  if (SSL_get_error(pair.client.ssl(), ret) != SSL_ERROR_WANT_READ) {
    return "client read after the handshake failed: " + DrainOpensslErrors();
  }
  ERR_clear_error();
  return "";
}

void MarkShutDown(BioPair& pair) {
  SSL_set_shutdown(pair.client.ssl(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  SSL_set_shutdown(pair.server.ssl(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
}

}  // namespace tlslab
