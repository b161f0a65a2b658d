// The probe's transport (internal to the probe: probe_experiment.cc uses it): one blocking
// connection on top of the lab's one TLS client (lab/tls_client.h), every wait bounded by the
// probe's timeout whatever the server sends, and the HTTP response read by the lab's one bounded
// reader (lab/http_response.h).
#pragma once

#include <openssl/ssl.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "clients/probe.h"
#include "lab/http_response.h"
#include "lab/net.h"
#include "lab/ossl.h"
#include "lab/tls_client.h"
#include "lab/trace.h"

namespace tlslab {

// A step that did not complete: how far the target got, and what happened, in one line.
struct StepFailure {
  Reach reach = Reach::kFailed;
  std::string what;
};
using Step = std::optional<StepFailure>;

// One connection of the probe. The close goes on the wire exactly as asked, and what the
// server does in return is the socket's to tell.
class ProbeConnection {
 public:
  ProbeConnection(const ProbeConfig& config, const Endpoint& target, SSL_CTX* ctx, Trace* trace,
                  uint64_t id, std::string label);
  ~ProbeConnection();
  ProbeConnection(const ProbeConnection&) = delete;
  ProbeConnection& operator=(const ProbeConnection&) = delete;

  // Connect, handshake offering `offer` (none when null), and with `want_session` in TLS 1.3
  // wait for the NewSessionTickets; with --http, a request and its response. When it returns,
  // the server has finished its handshake too: in a full TLS 1.2 handshake its Finished comes
  // last, and a TLS 1.3 server sends its tickets only after reading ours. So the close that
  // follows lands on an established connection, as a check's does.
  Step Open(SSL_SESSION* offer, bool want_session);

  // Ends the connection as `mode` says (close-notify, quiet or quiet-reset) through the one
  // close of lab/tls_client.h; after a FIN (FinStyle::kHalfCloseAndDrain, where the reason
  // is written) waits, bounded, until the server has closed its side too.
  void Close(CloseMode mode);

  // --pcap: record this connection in `writer` (lab/pcap.h).
  void SetPcap(PcapWriter* writer) { client_.SetPcap(writer); }

  // From the new-session callback, inside an SSL_* call: keep a copy of the latest session
  // (a TLS 1.3 server sends several tickets; HAProxy's ssl_sess_new_srv_cb keeps the latest
  // too, and OpenSSL 3 with stateful tickets removes only the latest one's cache entry after
  // an unexpected EOF, so the choice shows). A copy, so that nothing later on this connection
  // (an alert from the server, SSL_free) can mark the offered session not_resumable on our
  // side (docs/tls-semantics.md 2.1, mechanism 3).
  void OnNewSession(SSL_SESSION* session);

  bool resumed() const { return resumed_; }
  std::string version() const { return client_.ssl() ? SSL_get_version(client_.ssl()) : ""; }
  SslSessionPtr TakeSession() { return std::move(session_); }
  // The server ended the connection before we closed it (e.g. after an HTTP response).
  bool server_closed() const {
    return client_.obs().transport != TransportEnd::kOpen || peer_close_notify_ ||
           !peer_error_.empty();
  }

 private:
  using Clock = std::chrono::steady_clock;

  void Note(std::string_view event) const {
    if (trace_ != nullptr) trace_->Line("probe", id_, label_, event);
  }
  Step Connect(Clock::time_point deadline);
  Step Handshake(SSL_SESSION* offer, Clock::time_point deadline);
  void AwaitTicket();
  Step ExchangeHttp();
  void ReadSocket();
  void ReadTls();
  bool LooksLikeTls() const;
  bool EchoedClientHello() const;  // the first bytes are our own ClientHello, sent back
  StepFailure HandshakeFailure(std::string what) const;

  const ProbeConfig& config_;
  const Endpoint& target_;
  SSL_CTX* ctx_;
  Trace* trace_;
  uint64_t id_;
  std::string label_;
  Millis timeout_;
  TlsClient client_;
  std::string first_bytes_;  // the first bytes the server sent, to tell TLS from not TLS
  Clock::duration connect_time_{};
  bool resumed_ = false;
  bool peer_close_notify_ = false;
  std::string peer_error_;
  bool reading_response_ = false;  // application data is the HTTP response (else discarded)
  HttpResponseReader response_;
  uint64_t response_bytes_ = 0;
  SslSessionPtr session_;
  bool closing_ = false;
};

// Routes the client context's new sessions to the ProbeConnection in the SSL's app data.
void InstallProbeCallbacks(SSL_CTX* ctx);

}  // namespace tlslab
