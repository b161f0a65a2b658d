#include "clients/probe_transport.h"

#include <openssl/err.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "lab/errors.h"

namespace tlslab {
namespace {

// RFC 8446 4.6.1: the server sends NewSessionTicket after the client's Finished, so it reaches
// the client one round trip after the client's handshake ends. Wait at least this long for it
// (longer on a slow path: a few connect round trips).
constexpr Millis kTicketWait{200};
// Once a ticket is here, how long the socket must stay quiet before no more are expected.
constexpr Millis kTicketSettle{20};
// After our FIN, how long the server gets to close its side (FinStyle::kHalfCloseAndDrain).
constexpr Millis kDrainWait{1000};
// The most read from the socket at once: a server that sends without a pause is read in
// slices, and every wait between them checks its deadline.
constexpr size_t kReadSlice = 64 * 1024;
// TLS record content types (RFC 8446 5.1): a reply starting with one of these speaks TLS.
constexpr unsigned char kRecordAlert = 21;
constexpr unsigned char kRecordHandshake = 22;
constexpr unsigned char kHandshakeClientHello = 1;

// The first queued OpenSSL error as its reason text ("wrong version number"), and whether it
// records an alert the peer sent; drains the queue.
struct SslFailure {
  std::string reason;
  bool peer_alert = false;
};
SslFailure TakeSslFailure() {
  SslFailure f;
  if (const unsigned long e = ERR_peek_error(); e != 0) {
    const int reason = ERR_GET_REASON(e);
    // OpenSSL files a received alert under reason SSL_AD_REASON_OFFSET + the alert number.
    f.peer_alert = reason >= SSL_AD_REASON_OFFSET && reason < SSL_AD_REASON_OFFSET + 256;
    const char* text = ERR_reason_error_string(e);
    f.reason = text != nullptr ? text : "error " + std::to_string(reason);
  }
  DrainOpensslErrors();
  if (f.reason.empty()) f.reason = "TLS error";
  return f;
}

std::string Printable(std::string_view bytes) {
  std::string out;
  for (char c : bytes) out += (c >= 0x20 && c < 0x7f) ? c : '.';
  return out;
}

ProbeConnection* ConnectionOf(SSL* ssl) {
  return static_cast<ProbeConnection*>(SSL_get_app_data(ssl));
}

}  // namespace

ProbeConnection::ProbeConnection(const ProbeConfig& config, const Endpoint& target, SSL_CTX* ctx,
                                 Trace* trace, uint64_t id, std::string label)
    : config_(config),
      target_(target),
      ctx_(ctx),
      trace_(trace),
      id_(id),
      label_(std::move(label)),
      timeout_(*config.checker.timeout) {
  client_.SetStopFd(config.stop_fd);
}

ProbeConnection::~ProbeConnection() {
  if (client_.connected()) Close(CloseMode::kQuietReset);
}

bool ProbeConnection::EchoedClientHello() const {
  // A record header (5 bytes) then the handshake type: 1 is a ClientHello, which no server
  // sends (RFC 8446 section 4: a server answers with a ServerHello, a HelloRetryRequest being
  // one too). Our own ClientHello coming back is a TCP echo, not TLS.
  return first_bytes_.size() >= 6 &&
         static_cast<unsigned char>(first_bytes_[0]) == kRecordHandshake &&
         static_cast<unsigned char>(first_bytes_[5]) == kHandshakeClientHello;
}

bool ProbeConnection::LooksLikeTls() const {
  if (first_bytes_.empty() || EchoedClientHello()) return false;
  return static_cast<unsigned char>(first_bytes_[0]) == kRecordAlert ||
         static_cast<unsigned char>(first_bytes_[0]) == kRecordHandshake;
}

Step ProbeConnection::Open(SSL_SESSION* offer, bool want_session) {
  const Clock::time_point deadline = Clock::now() + timeout_;
  if (Step failed = Connect(deadline)) return failed;
  if (Step failed = Handshake(offer, Clock::now() + timeout_)) return failed;
  if (want_session && !session_) {
    if (SSL_version(client_.ssl()) == TLS1_3_VERSION) {
      AwaitTicket();
    } else if (SSL_SESSION* s = SSL_get_session(client_.ssl())) {
      // TLS 1.2 calls the new-session callback only for a session it could cache; keep the
      // session anyway, to tell "no session ID" from "not resumed".
      session_.reset(SSL_SESSION_dup(s));
    }
  }
  if (config_.checker.check == CheckKind::kHttp) return ExchangeHttp();
  return std::nullopt;
}

Step ProbeConnection::Connect(Clock::time_point deadline) {
  const Clock::time_point start = Clock::now();
  if (const int err = client_.Connect(target_); err != 0) {
    return StepFailure{Reach::kDown,
                       "cannot connect to " + target_.text + ": " + std::strerror(err)};
  }
  if (!client_.WaitReady(POLLOUT, deadline)) {
    return StepFailure{Reach::kDown, "no answer from " + target_.text + " to connect within " +
                                         FormatDuration(timeout_)};
  }
  if (const int err = client_.ConnectResult(); err != 0) {
    return StepFailure{Reach::kDown,
                       "cannot connect to " + target_.text + ": " + std::strerror(err)};
  }
  connect_time_ = Clock::now() - start;
  return std::nullopt;
}

Step ProbeConnection::Handshake(SSL_SESSION* offer, Clock::time_point deadline) {
  bool offered = false;
  if (!client_.StartTls(ctx_, config_.checker.sni, offer, this, offered)) {
    throw RuntimeError("SSL_new: " + DrainOpensslErrors());
  }
  SSL* s = client_.ssl();
  if (trace_ != nullptr) {
    std::string what = "connected; ClientHello offers no session";
    if (offered) {
      what = SSL_SESSION_get_protocol_version(offer) == TLS1_3_VERSION
                 ? "connected; ClientHello offers the session (TLS 1.3 ticket, pre_shared_key)"
             : SSL_SESSION_has_ticket(offer) == 1
                 ? "connected; ClientHello offers the session (TLS 1.2 ticket)"
                 : "connected; ClientHello offers the session (session ID)";
    }
    Note(what);
  }
  for (;;) {
    const int ret = SSL_do_handshake(s);
    const bool sent = client_.FlushUntil(deadline);
    if (ret == 1) break;
    const int err = SSL_get_error(s, ret);
    if (err == SSL_ERROR_SSL) {
      SslFailure f = TakeSslFailure();
      if (f.peer_alert) {
        return StepFailure{Reach::kHandshakeFailed,
                           "the server refused the handshake: " + f.reason};
      }
      return HandshakeFailure(f.reason);
    }
    ERR_clear_error();
    const TransportEnd transport = client_.obs().transport;
    if (!sent || transport != TransportEnd::kOpen) {
      const std::string how = transport == TransportEnd::kEof ? "closed" : "reset";
      if (client_.received() == 0) {
        return StepFailure{Reach::kNotTls, "the server " + how +
                                               " the connection without answering the ClientHello"};
      }
      return HandshakeFailure("the server " + how + " the connection during the handshake");
    }
    if (!client_.WaitReady(POLLIN, deadline)) {
      if (client_.received() == 0) {
        return StepFailure{Reach::kNotTls, "no answer to the ClientHello within " +
                                               FormatDuration(timeout_) + " (not a TLS server?)"};
      }
      return HandshakeFailure("the handshake did not complete within " + FormatDuration(timeout_));
    }
    ReadSocket();
  }
  client_.obs().handshake_done = true;
  resumed_ = SSL_session_reused(s) == 1;
  if (trace_ != nullptr) {
    Note(std::string("handshake: ") + (resumed_ ? "resumed " : "full ") + SSL_get_version(s) + " " +
         SSL_get_cipher_name(s));
  }
  return std::nullopt;
}

StepFailure ProbeConnection::HandshakeFailure(std::string what) const {
  if (LooksLikeTls()) {
    return {Reach::kHandshakeFailed, what + " (the server answers in TLS records)"};
  }
  if (EchoedClientHello()) {
    return {Reach::kNotTls, "the server sent our ClientHello back (a TCP echo?): not a TLS server"};
  }
  std::string answer;
  if (!first_bytes_.empty()) answer = "; it answered '" + Printable(first_bytes_) + "'";
  return {Reach::kNotTls, "the answer is not TLS (" + what + answer + ")"};
}

void ProbeConnection::AwaitTicket() {
  const Millis wait =
      std::min(timeout_, std::max(kTicketWait, std::chrono::ceil<Millis>(connect_time_ * 3)));
  const Clock::time_point until = Clock::now() + wait;
  // Servers send several tickets (OpenSSL: 2) in separate records that may arrive apart;
  // once one is here, take the others that follow within a quiet spell, so that the latest
  // is offered (see OnNewSession) whatever the timing.
  const Millis settle = std::max(kTicketSettle, std::chrono::ceil<Millis>(connect_time_ * 2));
  for (;;) {
    ReadTls();
    if (server_closed()) break;
    const Clock::time_point next = session_ ? std::min(until, Clock::now() + settle) : until;
    if (!client_.WaitReady(POLLIN, next)) break;
    ReadSocket();
  }
  if (!session_) Note("no NewSessionTicket within " + FormatDuration(wait));
}

Step ProbeConnection::ExchangeHttp() {
  const std::string host = config_.checker.sni.empty() ? HostHeader(target_.text, true)
                                                       : HostHeader(config_.checker.sni, false);
  // HTTP/1.1 without "Connection: close": the server leaves the closing to us, as it does for
  // HAProxy's httpchk over HTTP/1.1. A server that closes anyway is counted
  // (server_closed_first): its close, not ours, is what the next cell then measures.
  const std::string request = HttpGetRequest(config_.checker.http_path, host, "tlslab-probe");
  SSL_write(client_.ssl(), request.data(), static_cast<int>(request.size()));
  const Clock::time_point deadline = Clock::now() + timeout_;
  client_.FlushUntil(deadline);
  Note("HTTP request sent: GET " + config_.checker.http_path);
  response_ = HttpResponseReader();
  response_bytes_ = 0;
  reading_response_ = true;
  for (;;) {
    ReadTls();
    if (server_closed()) response_.OnEof();
    if (response_.state() != HttpState::kIncomplete || server_closed()) break;
    if (!client_.WaitReady(POLLIN, deadline)) {
      if (response_.headers_done()) break;  // headers without a length on a kept-alive connection
      reading_response_ = false;
      return StepFailure{Reach::kFailed, "no complete HTTP response within " +
                                             FormatDuration(timeout_) + " (probe without --http?)"};
    }
    ReadSocket();
  }
  reading_response_ = false;
  if (response_bytes_ == 0) {
    return StepFailure{Reach::kFailed, "the server closed the connection without an HTTP response"};
  }
  if (response_.state() == HttpState::kTooLarge) {
    return StepFailure{Reach::kFailed, "response too large: " + response_.detail()};
  }
  Note(response_.status() > 0 ? "HTTP response: status " + std::to_string(response_.status())
                              : "HTTP response: not HTTP ('" + response_.FirstBytes() + "')");
  if (server_closed()) Note("the server closed the connection after the response");
  return std::nullopt;
}

void ProbeConnection::Close(CloseMode mode) {
  closing_ = true;
  if (server_closed()) Note("the server had already closed its side");
  CloseOptions options;
  options.wait_until = Clock::now() + std::min(kDrainWait, timeout_);
  const bool reset = mode == CloseMode::kQuietReset || mode == CloseMode::kNotifyReset;
  if (!reset && client_.obs().handshake_done) {
    options.fin = FinStyle::kHalfCloseAndDrain;
    options.on_drained = [this] { ReadTls(); };
  }
  const CloseReport done = client_.Close(mode, options);
  std::string event = done.close_notify_sent ? "close_notify sent, then " : "";
  event += done.reset ? "RST" : "FIN";
  Note(event + (done.close_notify_sent ? " sent" : " sent (no close_notify)"));
  if (options.fin == FinStyle::kHalfCloseAndDrain && trace_ != nullptr) {
    const TransportEnd transport = client_.obs().transport;
    std::string reply = "server: ";
    if (peer_close_notify_) reply += "close_notify, ";
    if (!peer_error_.empty()) reply += "error or alert (" + peer_error_ + "), ";
    reply += transport == TransportEnd::kEof ? "FIN"
             : transport == TransportEnd::kReset
                 ? "RST"
                 : "still open after " + FormatDuration(std::min(kDrainWait, timeout_));
    Note(reply);
  }
}

void ProbeConnection::OnNewSession(SSL_SESSION* session) {
  const bool tls13 = SSL_SESSION_get_protocol_version(session) == TLS1_3_VERSION;
  if (trace_ != nullptr) {
    const unsigned char* tick = nullptr;
    size_t tick_len = 0;
    SSL_SESSION_get0_ticket(session, &tick, &tick_len);
    unsigned int id_len = 0;
    SSL_SESSION_get_id(session, &id_len);
    Note(tls13          ? "NewSessionTicket received (" + std::to_string(tick_len) + " bytes)"
         : tick_len > 0 ? "session saved: TLS 1.2 ticket (" + std::to_string(tick_len) + " bytes)"
                        : "session saved: session ID (" + std::to_string(id_len) + " bytes)");
  }
  if (closing_) return;  // what arrives after our close is not what a client would offer
  session_.reset(SSL_SESSION_dup(session));
}

void ProbeConnection::ReadSocket() {
  if (client_.received() == 0) {
    char peek[16];
    const ssize_t n = recv(client_.fd(), peek, sizeof peek, MSG_PEEK);
    if (n > 0) first_bytes_.assign(peek, static_cast<size_t>(n));
  }
  client_.ReadSlice(kReadSlice);
}

void ProbeConnection::ReadTls() {
  // SSL_read processes post-handshake messages (NewSessionTicket) and alerts; application
  // data goes to the HTTP reader while a response is expected, and is dropped otherwise. The
  // BIO holds at most one socket slice, so this loop is bounded.
  SSL* s = client_.ssl();
  if (s == nullptr) return;
  char buf[4096];
  for (;;) {
    const int n = SSL_read(s, buf, sizeof buf);
    if (n > 0) {
      response_bytes_ += static_cast<uint64_t>(n);
      if (reading_response_) response_.Feed(std::string_view(buf, static_cast<size_t>(n)));
      continue;
    }
    switch (SSL_get_error(s, n)) {
      case SSL_ERROR_ZERO_RETURN:
        peer_close_notify_ = true;
        break;
      case SSL_ERROR_SSL:
        peer_error_ = TakeSslFailure().reason;
        break;
      default:
        break;
    }
    ERR_clear_error();
    break;
  }
  client_.FlushUntil(Clock::now() + kDrainWait);  // a KeyUpdate answer, if any
}

void InstallProbeCallbacks(SSL_CTX* ctx) {
  SSL_CTX_sess_set_new_cb(ctx, [](SSL* ssl, SSL_SESSION* session) {
    if (ProbeConnection* conn = ConnectionOf(ssl)) conn->OnNewSession(session);
    return 0;  // the connection keeps a copy, not this reference
  });
}

}  // namespace tlslab
