#include "clients/probe.h"

#include <openssl/err.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <memory>
#include <optional>
#include <thread>

#include "lab/errors.h"
#include "lab/net.h"
#include "lab/ossl.h"
#include "lab/profiles.h"
#include "lab/report.h"
#include "lab/tls_context.h"
#include "lab/tls_stream.h"

namespace tlslab {
namespace {

using Clock = std::chrono::steady_clock;

// RFC 8446 4.6.1: the server sends NewSessionTicket after the client's Finished, so it reaches
// the client one round trip after the client's handshake ends. Wait at least this long for it
// (longer on a slow path: a few connect round trips).
constexpr Millis kTicketWait{200};
// Once a ticket is here, how long the socket must stay quiet before no more are expected.
constexpr Millis kTicketSettle{20};
// After our FIN, how long the server gets to close its side. Reading until then keeps an
// unread byte from turning our close() into an RST, and lets the server finish its close.
constexpr Millis kDrainWait{1000};
// TLS record content types (RFC 8446 5.1): a reply starting with one of these speaks TLS.
constexpr unsigned char kRecordAlert = 21;
constexpr unsigned char kRecordHandshake = 22;

// A step that did not complete: how far the target got, and what happened, in one line.
struct StepFailure {
  Reach reach = Reach::kFailed;
  std::string what;
};
using Step = std::optional<StepFailure>;

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

// Waits until `fd` is ready for `events`, or the deadline passes; true when ready (an error
// counts as ready: the next read or write reports it).
bool WaitFd(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    const auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now()).count();
    pollfd p{fd, events, 0};
    const int n = poll(&p, 1, static_cast<int>(std::max<long long>(left, 0)));
    if (n > 0) return true;
    if (n == 0) return false;
    if (errno != EINTR) return true;
  }
}

std::string Printable(std::string_view bytes) {
  std::string out;
  for (char c : bytes) out += (c >= 0x20 && c < 0x7f) ? c : '.';
  return out;
}

std::string HostOf(const std::string& host_port) {
  const size_t colon = host_port.rfind(':');
  std::string host = colon == std::string::npos ? host_port : host_port.substr(0, colon);
  if (host.size() > 1 && host.front() == '[') host = host.substr(1, host.size() - 2);
  return host;
}

// True when an HTTP/1.x response in `buf` is complete; `status` receives its code (0 until
// the status line is there, -1 when what arrived is not HTTP). A response without length that
// is not chunked ends when the server closes (the caller knows that).
bool HttpResponseComplete(const std::string& buf, int& status) {
  const size_t header_end = buf.find("\r\n\r\n");
  if (header_end == std::string::npos) {
    if (buf.size() >= 5 && buf.compare(0, 5, "HTTP/") != 0) status = -1;
    return status < 0;
  }
  status = buf.compare(0, 5, "HTTP/") == 0 && buf.size() > 12 ? std::atoi(buf.c_str() + 9) : -1;
  if (status < 0) return true;
  std::string headers = buf.substr(0, header_end);
  std::transform(headers.begin(), headers.end(), headers.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const size_t body = header_end + 4;
  if (const size_t cl = headers.find("\r\ncontent-length:"); cl != std::string::npos) {
    return buf.size() >= body + std::strtoul(headers.c_str() + cl + 17, nullptr, 10);
  }
  if (headers.find("\r\ntransfer-encoding: chunked") != std::string::npos) {
    return buf.find("\r\n0\r\n\r\n", header_end) != std::string::npos;
  }
  return false;
}

// One connection of the probe: a non-blocking socket driven with poll() and bounded waits,
// under a TlsStream on memory BIOs (tls_stream.h): the close goes on the wire exactly as
// asked, and what the server does in return is the socket's to tell.
class ProbeConnection {
 public:
  ProbeConnection(const ProbeConfig& config, const Endpoint& target, SSL_CTX* ctx, Trace* trace,
                  uint64_t id, std::string label)
      : config_(config),
        target_(target),
        ctx_(ctx),
        trace_(trace),
        id_(id),
        label_(std::move(label)),
        timeout_(*config.checker.timeout) {}
  ~ProbeConnection() {
    if (fd_ >= 0) Close(CloseMode::kQuietReset);
  }
  ProbeConnection(const ProbeConnection&) = delete;
  ProbeConnection& operator=(const ProbeConnection&) = delete;

  // Connect, handshake offering `offer` (none when null), and with `want_session` in TLS 1.3
  // wait for the NewSessionTickets; with --http, a request and its response. When it returns,
  // the server has finished its handshake too: in a full TLS 1.2 handshake its Finished comes
  // last, and a TLS 1.3 server sends its tickets only after reading ours. So the close that
  // follows lands on an established connection, as a check's does.
  Step Open(SSL_SESSION* offer, bool want_session);

  // Ends the connection as `mode` says (close-notify, quiet or quiet-reset), then, after a
  // FIN, waits (bounded) until the server has closed its side too.
  void Close(CloseMode mode);

  // From the new-session callback, inside an SSL_* call: keep a copy of the latest session
  // (a TLS 1.3 server sends several tickets; HAProxy's ssl_sess_new_srv_cb keeps the latest
  // too, and OpenSSL 3 with stateful tickets removes only the latest one's cache entry after
  // an unexpected EOF, so the choice shows). A copy, so that nothing later on this connection (an
  // alert from the server, SSL_free) can mark the offered session not_resumable on our side
  // (tls-semantics.md 2.1, mechanism 3).
  void OnNewSession(SSL_SESSION* session);

  bool resumed() const { return resumed_; }
  std::string version() const { return stream_ ? SSL_get_version(ssl()) : ""; }
  SslSessionPtr TakeSession() { return std::move(session_); }
  // The server ended the connection before we closed it (e.g. after an HTTP response).
  bool server_closed() const {
    return transport_ != TransportEnd::kOpen || peer_close_notify_ || !peer_error_.empty();
  }

 private:
  SSL* ssl() const { return stream_->ssl(); }
  void Note(std::string_view event) const {
    if (trace_ != nullptr) trace_->Line("probe", id_, label_, event);
  }
  Step Connect(Clock::time_point deadline);
  Step Handshake(SSL_SESSION* offer, Clock::time_point deadline);
  void AwaitTicket();
  Step ExchangeHttp();
  void ReadSocket();
  void ReadTls();
  bool FlushAll(Clock::time_point deadline);
  bool LooksLikeTls() const {
    return !first_bytes_.empty() &&
           (static_cast<unsigned char>(first_bytes_[0]) == kRecordAlert ||
            static_cast<unsigned char>(first_bytes_[0]) == kRecordHandshake);
  }
  StepFailure HandshakeFailure(std::string what) const;

  const ProbeConfig& config_;
  const Endpoint& target_;
  SSL_CTX* ctx_;
  Trace* trace_;
  uint64_t id_;
  std::string label_;
  Millis timeout_;
  int fd_ = -1;
  std::unique_ptr<TlsStream> stream_;
  std::string outbox_;
  std::string first_bytes_;  // the first bytes the server sent, to tell TLS from not TLS
  size_t received_ = 0;
  TransportEnd transport_ = TransportEnd::kOpen;
  Clock::duration connect_time_{};
  bool handshake_done_ = false;
  bool resumed_ = false;
  bool peer_close_notify_ = false;
  std::string peer_error_;
  std::string response_;
  SslSessionPtr session_;
  bool closing_ = false;
};

ProbeConnection* ConnectionOf(SSL* ssl) {
  return static_cast<ProbeConnection*>(SSL_get_app_data(ssl));
}

Step ProbeConnection::Open(SSL_SESSION* offer, bool want_session) {
  const Clock::time_point deadline = Clock::now() + timeout_;
  if (Step failed = Connect(deadline)) return failed;
  if (Step failed = Handshake(offer, Clock::now() + timeout_)) return failed;
  if (want_session && !session_) {
    if (SSL_version(ssl()) == TLS1_3_VERSION) {
      AwaitTicket();
    } else if (SSL_SESSION* s = SSL_get_session(ssl())) {
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
  fd_ = ConnectNonBlocking(target_);
  if (fd_ < 0) {
    return StepFailure{Reach::kDown,
                       "cannot connect to " + target_.text + ": " + std::strerror(errno)};
  }
  if (!WaitFd(fd_, POLLOUT, deadline)) {
    return StepFailure{Reach::kDown, "no answer from " + target_.text + " to connect within " +
                                         FormatDuration(timeout_)};
  }
  if (const int err = ConnectError(fd_); err != 0) {
    return StepFailure{Reach::kDown,
                       "cannot connect to " + target_.text + ": " + std::strerror(err)};
  }
  connect_time_ = Clock::now() - start;
  return std::nullopt;
}

Step ProbeConnection::Handshake(SSL_SESSION* offer, Clock::time_point deadline) {
  SslPtr ssl_owned(SSL_new(ctx_));
  if (!ssl_owned) throw RuntimeError("SSL_new: " + DrainOpensslErrors());
  SSL* s = ssl_owned.get();
  SSL_set_app_data(s, this);
  SSL_set_connect_state(s);
  if (!config_.checker.sni.empty()) {
    // SSL_set_tlsext_host_name without its C cast.
    SSL_ctrl(s, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
             const_cast<char*>(config_.checker.sni.c_str()));
  }
  const bool offered = offer != nullptr && SSL_set_session(s, offer) == 1;
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
  stream_ = std::make_unique<TlsStream>(std::move(ssl_owned));
  for (;;) {
    const int ret = SSL_do_handshake(s);
    const bool sent = FlushAll(deadline);
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
    if (!sent || transport_ != TransportEnd::kOpen) {
      const std::string how = transport_ == TransportEnd::kEof ? "closed" : "reset";
      if (received_ == 0) {
        return StepFailure{Reach::kNotTls, "the server " + how +
                                               " the connection without answering the ClientHello"};
      }
      return HandshakeFailure("the server " + how + " the connection during the handshake");
    }
    if (!WaitFd(fd_, POLLIN, deadline)) {
      if (received_ == 0) {
        return StepFailure{Reach::kNotTls, "no answer to the ClientHello within " +
                                               FormatDuration(timeout_) + " (not a TLS server?)"};
      }
      return HandshakeFailure("the handshake did not complete within " + FormatDuration(timeout_));
    }
    ReadSocket();
  }
  handshake_done_ = true;
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
    if (!WaitFd(fd_, POLLIN, next)) break;
    ReadSocket();
  }
  if (!session_) Note("no NewSessionTicket within " + FormatDuration(wait));
}

Step ProbeConnection::ExchangeHttp() {
  const std::string host = config_.checker.sni.empty() ? HostOf(target_.text) : config_.checker.sni;
  // HTTP/1.1 without "Connection: close": the server leaves the closing to us, as it does for
  // HAProxy's httpchk over HTTP/1.1. A server that closes anyway is counted
  // (server_closed_first): its close, not ours, is what the next cell then measures.
  const std::string request = "GET " + config_.checker.http_path + " HTTP/1.1\r\nHost: " + host +
                              "\r\nUser-Agent: tlslab-probe\r\n\r\n";
  SSL_write(ssl(), request.data(), static_cast<int>(request.size()));
  const Clock::time_point deadline = Clock::now() + timeout_;
  FlushAll(deadline);
  Note("HTTP request sent: GET " + config_.checker.http_path);
  int status = 0;
  for (;;) {
    ReadTls();
    if (HttpResponseComplete(response_, status) || server_closed()) break;
    if (!WaitFd(fd_, POLLIN, deadline)) {
      if (status > 0) break;  // headers without a length on a kept-alive connection
      return StepFailure{Reach::kFailed, "no HTTP response within " + FormatDuration(timeout_) +
                                             " (probe without --http?)"};
    }
    ReadSocket();
  }
  if (response_.empty()) {
    return StepFailure{Reach::kFailed, "the server closed the connection without an HTTP response"};
  }
  Note(status > 0 ? "HTTP response: status " + std::to_string(status)
                  : "HTTP response: not HTTP ('" + Printable(response_.substr(0, 16)) + "')");
  if (server_closed()) Note("the server closed the connection after the response");
  return std::nullopt;
}

void ProbeConnection::Close(CloseMode mode) {
  const bool notify = mode == CloseMode::kCloseNotify || mode == CloseMode::kNotifyReset;
  const bool reset = mode == CloseMode::kQuietReset || mode == CloseMode::kNotifyReset;
  closing_ = true;
  if (server_closed()) Note("the server had already closed its side");
  std::string event;
  if (notify && stream_ && handshake_done_) {
    SSL_shutdown(ssl());  // close_notify (RFC 5246 7.2.1, RFC 8446 6.1)
    FlushAll(Clock::now() + kDrainWait);
    event = "close_notify sent, then ";
  }
  if (reset) {
    SetLingerZero(fd_);  // close() sends an RST (tls-semantics.md 2.3)
    event += "RST";
  } else {
    shutdown(fd_, SHUT_WR);
    event += "FIN";
  }
  Note(event + (notify ? " sent" : " sent (no close_notify)"));
  if (!reset && stream_) {
    const Clock::time_point until = Clock::now() + std::min(kDrainWait, timeout_);
    while (transport_ == TransportEnd::kOpen && WaitFd(fd_, POLLIN, until)) ReadSocket();
    if (handshake_done_) ReadTls();
    if (trace_ != nullptr) {
      std::string reply = "server: ";
      if (peer_close_notify_) reply += "close_notify, ";
      if (!peer_error_.empty()) reply += "error or alert (" + peer_error_ + "), ";
      reply += transport_ == TransportEnd::kEof ? "FIN"
               : transport_ == TransportEnd::kReset
                   ? "RST"
                   : "still open after " + FormatDuration(std::min(kDrainWait, timeout_));
      Note(reply);
    }
  }
  if (stream_) {
    // Done locally, so SSL_free's ssl_clear_bad_session leaves our sessions alone.
    SSL_set_shutdown(ssl(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    SSL_set_app_data(ssl(), nullptr);
  }
  DrainOpensslErrors();
  stream_.reset();
  ::close(fd_);
  fd_ = -1;
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
  if (received_ == 0) {
    char peek[16];
    const ssize_t n = recv(fd_, peek, sizeof peek, MSG_PEEK);
    if (n > 0) first_bytes_.assign(peek, static_cast<size_t>(n));
  }
  size_t bytes = 0;
  const TransportEnd end = ReadInto(fd_, *stream_, bytes);
  received_ += bytes;
  if (end != TransportEnd::kOpen && transport_ == TransportEnd::kOpen) transport_ = end;
}

void ProbeConnection::ReadTls() {
  // SSL_read processes post-handshake messages (NewSessionTicket) and alerts; application
  // data goes to response_.
  char buf[4096];
  for (;;) {
    const int n = SSL_read(ssl(), buf, sizeof buf);
    if (n > 0) {
      response_.append(buf, static_cast<size_t>(n));
      continue;
    }
    switch (SSL_get_error(ssl(), n)) {
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
  FlushAll(Clock::now() + kDrainWait);  // a KeyUpdate answer, if any
}

bool ProbeConnection::FlushAll(Clock::time_point deadline) {
  for (;;) {
    if (!Flush(fd_, *stream_, outbox_)) return false;
    if (outbox_.empty()) return true;
    if (!WaitFd(fd_, POLLOUT, deadline)) return false;
  }
}

void InstallProbeCallbacks(SSL_CTX* ctx) {
  SSL_CTX_sess_set_new_cb(ctx, [](SSL* ssl, SSL_SESSION* session) {
    if (ProbeConnection* conn = ConnectionOf(ssl)) conn->OnNewSession(session);
    return 0;  // the connection keeps a copy, not this reference
  });
}

// Whether `session` can be offered for this row; `why` says what is missing.
bool Resumable(ProbeMechanism mechanism, SSL_SESSION* session, std::string& why) {
  unsigned int id_len = 0;
  if (session != nullptr) SSL_SESSION_get_id(session, &id_len);
  switch (mechanism) {
    case ProbeMechanism::kSessionId:
      why = "the server sends an empty session ID: it keeps no session cache";
      return id_len > 0;
    case ProbeMechanism::kTicket:
      why = "the server issues no TLS 1.2 ticket";
      return session != nullptr && SSL_SESSION_has_ticket(session) == 1;
    case ProbeMechanism::kPsk:
      why = "the server sends no NewSessionTicket after the handshake";
      return session != nullptr && SSL_SESSION_has_ticket(session) == 1;
  }
  return false;
}

// Runs the rows one after the other; owns the client contexts and the counters.
class Prober {
 public:
  Prober(const ProbeConfig& config, Trace* trace)
      : config_(config), target_(ParseHostPort(config.target)), trace_(trace) {
    if (!config.tls.keylog_file.empty()) {
      keylog_ = std::make_unique<KeylogFile>(config.tls.keylog_file);
    }
  }

  ProbeResult Run() {
    const Clock::time_point start = Clock::now();
    result_.target = target_.text;
    std::optional<StepFailure> first_refusal;
    for (ProbeMechanism mechanism : kAllProbeMechanisms) {
      if (!Wanted(mechanism)) continue;
      RowResult& row = result_.rows.emplace_back();
      row.mechanism = mechanism;
      if (mechanism == ProbeMechanism::kTicket && result_.rows.size() > 1 &&
          result_.rows[result_.rows.size() - 2].status == RowStatus::kUnsupported) {
        row.status = RowStatus::kUnsupported;  // same version as session-id: no need to ask again
        row.detail = result_.rows[result_.rows.size() - 2].detail;
        continue;
      }
      bool first_connection = true;
      Step failed = ProbeRow(row, first_connection);
      if (!failed) {
        spoke_tls_ = heard_tls_ = true;
        continue;
      }
      // The row's first connection failed. A server that has spoken TLS (here or in an
      // alert) and refuses this row's version: the row is unsupported. Otherwise the target
      // is down or not TLS; and anything later is the probe failing halfway.
      const bool refused = failed->reach == Reach::kHandshakeFailed ||
                           (heard_tls_ && failed->reach == Reach::kNotTls);
      if (first_connection && refused) {
        row.status = RowStatus::kUnsupported;
        row.detail = failed->what;
        heard_tls_ = heard_tls_ || failed->reach == Reach::kHandshakeFailed;
        if (!first_refusal) first_refusal = failed;
        continue;
      }
      if (first_connection) result_.rows.pop_back();  // nothing was learnt for this row
      result_.reach = first_connection && !spoke_tls_ ? failed->reach : Reach::kFailed;
      result_.failure =
          first_connection ? failed->what : std::string(Name(mechanism)) + ": " + failed->what;
      break;
    }
    if (result_.reach == Reach::kTls && !spoke_tls_ && first_refusal) {
      result_.reach = Reach::kHandshakeFailed;
      result_.failure = first_refusal->what;
    }
    result_.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    return std::move(result_);
  }

 private:
  bool Wanted(ProbeMechanism mechanism) const {
    const bool tls13 = mechanism == ProbeMechanism::kPsk;
    switch (config_.tls.version) {
      case TlsVersion::kAuto:
        return true;
      case TlsVersion::kTls12:
        return !tls13;
      case TlsVersion::kTls13:
        return tls13;
    }
    return true;
  }

  SslCtxPtr RowContext(ProbeMechanism mechanism) const {
    TlsConfig tls = config_.tls;
    switch (mechanism) {
      case ProbeMechanism::kSessionId:
        tls.version = TlsVersion::kTls12;
        tls.tickets = false;  // SSL_OP_NO_TICKET: no SessionTicket extension in the hello
        break;
      case ProbeMechanism::kTicket:
        tls.version = TlsVersion::kTls12;
        tls.tickets = true;
        break;
      case ProbeMechanism::kPsk:
        tls.version = TlsVersion::kTls13;
        tls.tickets = true;
        break;
    }
    SslCtxPtr ctx = MakeClientContext(tls);
    InstallProbeCallbacks(ctx.get());
    if (keylog_) keylog_->Attach(ctx.get());
    return ctx;
  }

  std::unique_ptr<ProbeConnection> NewConnection(const std::string& label) {
    ++result_.connections;
    return std::make_unique<ProbeConnection>(config_, target_, ctx_.get(), trace_,
                                             static_cast<uint64_t>(result_.connections), label);
  }

  void Pause() const {
    if (config_.pause.count() > 0) std::this_thread::sleep_for(config_.pause);
  }

  // The baseline, then the cells. `first_connection` stays true while the row's first
  // connection has not succeeded.
  Step ProbeRow(RowResult& row, bool& first_connection) {
    ctx_ = RowContext(row.mechanism);
    const std::string label = std::string(Name(row.mechanism)) + " baseline";
    auto first = NewConnection(label);
    if (Step failed = first->Open(nullptr, true)) return failed;
    first_connection = false;
    row.version = first->version();
    SslSessionPtr session = first->TakeSession();
    first->Close(CloseMode::kCloseNotify);
    if (!Resumable(row.mechanism, session.get(), row.detail)) {
      row.status = RowStatus::kNoSession;
      return std::nullopt;
    }
    Pause();
    auto second = NewConnection(label);
    if (Step failed = second->Open(session.get(), false)) return failed;
    const bool resumed = second->resumed();
    second->Close(CloseMode::kCloseNotify);
    if (!resumed) {
      row.status = RowStatus::kNoResumption;
      row.detail = "the server keeps no session for this mechanism";
      return std::nullopt;
    }
    row.status = RowStatus::kProbed;
    row.detail.clear();
    // Attempts interleave the close kinds, so that a drift over time (a cache filling up, a
    // ticket key rotating) spreads over every column instead of landing on one.
    for (int attempt = 1; attempt <= config_.repeat; ++attempt) {
      for (size_t k = 0; k < kProbeCloseKinds.size(); ++k) {
        if (Step failed = Attempt(row, k, attempt)) {
          failed->what = std::string(Name(kProbeCloseKinds[k])) + " attempt " +
                         std::to_string(attempt) + ": " + failed->what;
          return failed;
        }
      }
    }
    return std::nullopt;
  }

  // A full handshake closed as kProbeCloseKinds[k], then a connection offering its session.
  Step Attempt(RowResult& row, size_t k, int attempt) {
    const CloseKind kind = kProbeCloseKinds[k];
    const std::string label = std::string(Name(row.mechanism)) + " " + std::string(Name(kind)) +
                              " " + std::to_string(attempt) + "/" + std::to_string(config_.repeat);
    auto fresh = NewConnection(label);
    if (Step failed = fresh->Open(nullptr, true)) return failed;
    SslSessionPtr session = fresh->TakeSession();
    if (fresh->server_closed()) ++row.server_closed_first;
    fresh->Close(CloseModeFor(kind));
    Pause();
    CellResult& cell = row.cells[k];
    ++cell.attempts;
    std::string why;
    if (!Resumable(row.mechanism, session.get(), why)) {
      if (trace_ != nullptr) {
        trace_->Line("probe", static_cast<uint64_t>(result_.connections), label,
                     "nothing to offer: " + why);
      }
      return std::nullopt;
    }
    auto again = NewConnection(label);
    if (Step failed = again->Open(session.get(), false)) return failed;
    const bool resumed = again->resumed();
    again->Close(CloseMode::kCloseNotify);
    if (resumed) ++cell.resumed;
    if (trace_ != nullptr) {
      trace_->Line("probe", static_cast<uint64_t>(result_.connections), label,
                   resumed
                       ? "=> resumed: the server kept the session after " + std::string(Name(kind))
                       : "=> full handshake: the server dropped the session after " +
                             std::string(Name(kind)));
    }
    return std::nullopt;
  }

  const ProbeConfig& config_;
  Endpoint target_;
  Trace* trace_;
  std::unique_ptr<KeylogFile> keylog_;
  SslCtxPtr ctx_;  // the current row's client context
  ProbeResult result_;
  bool spoke_tls_ = false;  // some row completed a handshake
  bool heard_tls_ = false;  // ... or the server at least answered in TLS (an alert)
};

// ---- Judging ----

std::vector<Resumption> CandidateMechanisms(const ServerProfile& profile, ProbeMechanism m) {
  switch (m) {
    case ProbeMechanism::kSessionId:
      return {Resumption::kSessionId};
    case ProbeMechanism::kTicket:
      return {Resumption::kTicket};
    case ProbeMechanism::kPsk:
      // From the client a TLS 1.3 ticket does not say whether it names a cache entry. A
      // profile without server tickets can only issue stateful ones.
      if (!profile.behaviour->tickets_supported) return {Resumption::kPskStateful};
      return {Resumption::kPskStateless, Resumption::kPskStateful};
  }
  return {};
}

ProfileMatch CompareWith(const ServerProfile& profile, const ProbeResult& result) {
  ProfileMatch match;
  match.name = std::string(profile.name);
  for (const RowResult& row : result.rows) {
    // What the server issues and resumes also tells profiles apart: a profile with tickets
    // issues a TLS 1.2 ticket, one with a session cache resumes by session ID (go has none).
    if (row.mechanism == ProbeMechanism::kTicket && row.status == RowStatus::kNoSession &&
        profile.behaviour->tickets_supported) {
      ++match.compared;
      match.differences.push_back("ticket: the server issues no TLS 1.2 ticket, " + match.name +
                                  " issues one");
      continue;
    }
    if (row.mechanism == ProbeMechanism::kSessionId && row.status == RowStatus::kProbed &&
        !profile.behaviour->session_cache) {
      ++match.compared;
      match.differences.push_back("session-id: the server resumes by session ID, " + match.name +
                                  " never does");
      continue;
    }
    if (row.status != RowStatus::kProbed) continue;
    if (row.mechanism == ProbeMechanism::kTicket && !profile.behaviour->tickets_supported) {
      ++match.compared;
      match.differences.push_back("ticket: the server issues TLS 1.2 tickets, " + match.name +
                                  " issues none");
      continue;
    }
    std::vector<std::string> best;
    int best_compared = 0;
    bool first = true;
    for (Resumption mechanism : CandidateMechanisms(profile, row.mechanism)) {
      std::vector<std::string> diffs;
      int compared = 0;
      for (size_t k = 0; k < kProbeCloseKinds.size(); ++k) {
        const CellFate seen = FateOf(row.cells[k]);
        if (seen == CellFate::kFlaky) continue;
        ++compared;
        const SessionFate expected = FateAfterClose(profile, mechanism, kProbeCloseKinds[k]);
        const bool seen_kept = seen == CellFate::kKept;
        if (seen_kept == (expected == SessionFate::kKept)) continue;
        std::string d =
            std::string(Name(row.mechanism)) + " " + std::string(Name(kProbeCloseKinds[k])) + ": " +
            (seen_kept ? "kept, " : "removed, ") + match.name + (seen_kept ? " removes" : " keeps");
        if (row.mechanism == ProbeMechanism::kPsk) {
          d += " (as " + std::string(Name(mechanism)) + ")";
        }
        diffs.push_back(std::move(d));
      }
      if (first || diffs.size() < best.size()) {
        best = std::move(diffs);
        best_compared = compared;
        first = false;
      }
    }
    match.compared += best_compared;
    match.differences.insert(match.differences.end(), best.begin(), best.end());
  }
  return match;
}

// A row that was not probed, in a few words.
std::string ShortStatus(const RowResult& row) {
  switch (row.status) {
    case RowStatus::kUnsupported:
      return "version refused";
    case RowStatus::kNoSession:
      return row.mechanism == ProbeMechanism::kSessionId ? "no session ID" : "no ticket issued";
    case RowStatus::kNoResumption:
      return "not resumed";
    case RowStatus::kProbed:
      break;
  }
  return "probed";
}

// Whether a profile removes some session after a close without close_notify.
bool ProfileRemovesOnTruncation(const ServerProfile& profile) {
  for (Resumption mechanism : kAllResumptions) {
    for (CloseKind kind : {CloseKind::kEof, CloseKind::kReset}) {
      if (FateAfterClose(profile, mechanism, kind) == SessionFate::kRemoved) return true;
    }
  }
  return false;
}

std::string JoinWith(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (const std::string& item : items) {
    if (!out.empty()) out += sep;
    out += item;
  }
  return out;
}

std::string ProfilePart(const Verdict& v) {
  const std::string on = v.any_flaky ? " on the cells that agree" : "";
  if (!v.matching.empty()) {
    return (v.matching.size() == 1 ? "matches profile " : "matches profiles ") +
           JoinWith(v.matching, ", ") + on;
  }
  if (v.closest.empty()) return "no profile to compare";
  const ProfileMatch* best = nullptr;
  for (const ProfileMatch& m : v.profiles) {
    if (m.name == v.closest.front()) best = &m;
  }
  std::string out = (v.closest.size() == 1 ? "closest profile: " : "closest profiles: ") +
                    JoinWith(v.closest, ", ");
  const size_t n = best->differences.size();
  out += " (" + std::to_string(n) + (n == 1 ? " difference" : " differences") +
         (v.closest.size() > 1 ? " each" : "");
  if (n <= 3) out += "; " + best->name + ": " + JoinWith(best->differences, "; ");
  out += ")";
  return out + on;
}

}  // namespace

void ValidateProbe(const ProbeConfig& config) {
  if (config.repeat < 1 || config.repeat > kMaxProbeRepeat) {
    throw UsageError("--repeat: bad value '" + std::to_string(config.repeat) +
                     "'; expected a whole number from 1 to " + std::to_string(kMaxProbeRepeat));
  }
  if (config.pause.count() < 0 || config.pause > kMaxProbePause) {
    throw UsageError("--pause: bad value '" + FormatDuration(config.pause) +
                     "'; expected a duration from 0 to " + FormatDuration(kMaxProbePause));
  }
  if (!config.checker.timeout || config.checker.timeout->count() < 1 ||
      *config.checker.timeout > Millis{60000}) {
    throw UsageError("--timeout: expected a duration from 1ms to 60s");
  }
  if (config.checker.http_path.empty() || config.checker.http_path.front() != '/') {
    throw UsageError("--http-path: bad value '" + config.checker.http_path +
                     "'; expected a path starting with /");
  }
}

std::string_view Name(ProbeMechanism m) {
  switch (m) {
    case ProbeMechanism::kSessionId:
      return "session-id";
    case ProbeMechanism::kTicket:
      return "ticket";
    case ProbeMechanism::kPsk:
      return "psk";
  }
  return "?";
}

CloseMode CloseModeFor(CloseKind kind) {
  switch (kind) {
    case CloseKind::kCloseNotify:
      return CloseMode::kCloseNotify;
    case CloseKind::kEof:
      return CloseMode::kQuiet;
    case CloseKind::kReset:
      return CloseMode::kQuietReset;
    case CloseKind::kAlert:
    case CloseKind::kTimeout:
    case CloseKind::kHandshakeFailed:
      break;  // not something a client's close makes
  }
  return CloseMode::kCloseNotify;
}

std::string_view Name(RowStatus s) {
  switch (s) {
    case RowStatus::kUnsupported:
      return "unsupported";
    case RowStatus::kNoSession:
      return "no-session";
    case RowStatus::kNoResumption:
      return "no-resumption";
    case RowStatus::kProbed:
      return "probed";
  }
  return "?";
}

std::string_view Name(VerdictKind k) {
  switch (k) {
    case VerdictKind::kStrict:
      return "strict";
    case VerdictKind::kLenient:
      return "lenient";
    case VerdictKind::kFlaky:
      return "flaky";
    case VerdictKind::kNoResumption:
      return "no-resumption";
    case VerdictKind::kDown:
      return "down";
    case VerdictKind::kNotTls:
      return "not-tls";
    case VerdictKind::kHandshakeFailed:
      return "handshake-failed";
    case VerdictKind::kFailed:
      return "failed";
  }
  return "?";
}

CellFate FateOf(const CellResult& cell) {
  if (cell.attempts > 0 && cell.resumed == cell.attempts) return CellFate::kKept;
  if (cell.resumed == 0) return CellFate::kRemoved;
  return CellFate::kFlaky;
}

std::string CellText(const CellResult& cell) {
  switch (FateOf(cell)) {
    case CellFate::kKept:
      return "kept";
    case CellFate::kRemoved:
      return "removed";
    case CellFate::kFlaky:
      return "flaky " + std::to_string(cell.resumed) + "/" + std::to_string(cell.attempts);
  }
  return "?";
}

ProbeResult RunProbe(const ProbeConfig& config, Trace* trace) {
  ValidateProbe(config);
  return Prober(config, trace).Run();
}

Verdict Judge(const ProbeResult& result) {
  Verdict v;
  switch (result.reach) {
    case Reach::kTls:
      break;
    case Reach::kDown:
      v.kind = VerdictKind::kDown;
      v.line = "down: " + result.failure;
      return v;
    case Reach::kNotTls:
      v.kind = VerdictKind::kNotTls;
      v.line = "not TLS: " + result.failure;
      return v;
    case Reach::kHandshakeFailed:
      v.kind = VerdictKind::kHandshakeFailed;
      v.line = "handshake failed: " + result.failure;
      return v;
    case Reach::kFailed:
      v.kind = VerdictKind::kFailed;
      v.line = "probe failed: " + result.failure;
      return v;
  }
  std::vector<std::string> removing;  // "session-id: eof, reset"
  std::vector<std::string> keeping;   // rows that keep the session after every close
  std::vector<std::string> flaky;     // "session-id eof 2/3"
  std::vector<std::string> unresumable;
  int closed_first = 0;
  for (const RowResult& row : result.rows) {
    if (row.status != RowStatus::kProbed) {
      unresumable.push_back(std::string(Name(row.mechanism)) + ": " + ShortStatus(row));
      continue;
    }
    closed_first += row.server_closed_first;
    std::vector<std::string> kinds;
    bool row_flaky = false;
    for (size_t k = 0; k < kProbeCloseKinds.size(); ++k) {
      const CloseKind kind = kProbeCloseKinds[k];
      const CellFate fate = FateOf(row.cells[k]);
      // A session lost even after close_notify says nothing about strictness: the same
      // loss after a truncation cannot be blamed on the truncation.
      if (fate == CellFate::kFlaky ||
          (kind == CloseKind::kCloseNotify && fate == CellFate::kRemoved)) {
        flaky.push_back(std::string(Name(row.mechanism)) + " " + std::string(Name(kind)) + " " +
                        std::to_string(row.cells[k].resumed) + "/" +
                        std::to_string(row.cells[k].attempts) + " resumed");
        row_flaky = true;
      } else if (fate == CellFate::kRemoved) {
        kinds.push_back(std::string(Name(kind)));
      }
    }
    if (!kinds.empty()) {
      removing.push_back(std::string(Name(row.mechanism)) + ": " + JoinWith(kinds, ", "));
    } else if (!row_flaky) {
      keeping.push_back(std::string(Name(row.mechanism)));
    }
  }
  v.any_flaky = !flaky.empty();
  if (removing.empty() && keeping.empty() && flaky.empty()) {
    v.kind = VerdictKind::kNoResumption;
    v.line = "no resumption: the server resumes no session, even after a clean close (" +
             JoinWith(unresumable, "; ") + "): no close can cost it one";
    return v;
  }
  for (const ServerProfile& profile : ServerProfiles()) {
    v.profiles.push_back(CompareWith(profile, result));
  }
  // Fewest differences first; among equals, a profile of the verdict's own kind first.
  const bool strict = !removing.empty();
  auto off_kind = [&](const ProfileMatch& m) {
    return ProfileRemovesOnTruncation(FindServerProfile(m.name)) != strict;
  };
  std::stable_sort(v.profiles.begin(), v.profiles.end(),
                   [&](const ProfileMatch& a, const ProfileMatch& b) {
                     if (a.differences.size() != b.differences.size()) {
                       return a.differences.size() < b.differences.size();
                     }
                     return !off_kind(a) && off_kind(b);
                   });
  for (const ProfileMatch& m : v.profiles) {
    if (m.compared == 0) continue;
    if (m.differences.empty()) v.matching.push_back(m.name);
    if (m.differences.size() == v.profiles.front().differences.size()) v.closest.push_back(m.name);
  }
  if (!removing.empty()) {
    v.kind = VerdictKind::kStrict;
    v.line = "strict: removes the session after a close without close_notify (" +
             JoinWith(removing, "; ") + ")";
    if (!keeping.empty()) v.line += "; keeps it with " + JoinWith(keeping, ", ");
  } else if (!flaky.empty()) {
    v.kind = VerdictKind::kFlaky;
    v.line = "flaky: attempts disagree (" + JoinWith(flaky, "; ") +
             "); probe again with a higher --repeat";
  } else {
    v.kind = VerdictKind::kLenient;
    v.line = "lenient: keeps the session after every close (" + JoinWith(keeping, ", ") + ")";
  }
  if (v.kind == VerdictKind::kStrict && !flaky.empty()) {
    v.line += "; flaky: " + JoinWith(flaky, "; ");
  }
  v.line += " \xe2\x80\x94 " + ProfilePart(v);  // an em dash
  if (closed_first > 0) {
    v.line += " (note: the server itself closed " + std::to_string(closed_first) +
              " connections before the probe's close)";
  }
  return v;
}

void ValidateExpectation(std::string_view expect) {
  if (expect == "strict" || expect == "lenient" || expect == "no-resumption") return;
  try {
    FindServerProfile(expect);
  } catch (const UsageError& e) {
    throw UsageError("--expect: bad value '" + std::string(expect) +
                     "'; expected strict, lenient, no-resumption or a server profile (" + e.what() +
                     ")");
  }
}

ExpectOutcome CheckExpectation(const Verdict& verdict, std::string_view expect) {
  ExpectOutcome out;
  if (expect == "strict" || expect == "lenient" || expect == "no-resumption") {
    out.met = Name(verdict.kind) == expect;
    if (!out.met) {
      out.reason = "expected " + std::string(expect) + ", but the verdict is " +
                   std::string(Name(verdict.kind));
    }
    return out;
  }
  const ServerProfile& profile = FindServerProfile(expect);
  const ProfileMatch* match = nullptr;
  for (const ProfileMatch& m : verdict.profiles) {
    if (m.name == profile.name) match = &m;
  }
  const std::string who = "expected profile " + std::string(profile.name);
  if (match == nullptr || match->compared == 0) {
    out.reason = who + ", but no cell could be compared (the verdict is " +
                 std::string(Name(verdict.kind)) + ")";
  } else if (!match->differences.empty()) {
    out.reason = who + ", but " + std::to_string(match->differences.size()) +
                 (match->differences.size() == 1 ? " cell differs: " : " cells differ: ") +
                 JoinWith(match->differences, "; ");
  } else if (verdict.any_flaky) {
    out.reason = who + ", but some cells are flaky, so the match is not certain";
  } else {
    out.met = true;
  }
  return out;
}

nlohmann::json ProbeJson(const ProbeConfig& config, const ProbeResult& result,
                         const Verdict& verdict) {
  nlohmann::json rows = nlohmann::json::object();
  for (const RowResult& row : result.rows) {
    nlohmann::json r = {{"status", Name(row.status)},
                        {"version", row.version},
                        {"detail", row.detail},
                        {"server_closed_first", row.server_closed_first}};
    if (row.mechanism == ProbeMechanism::kPsk) r["matched_as"] = "psk-stateless or psk-stateful";
    switch (row.status) {
      case RowStatus::kProbed:
        r["baseline"] = {{"resumed", true}};
        break;
      case RowStatus::kNoResumption:
        r["baseline"] = {{"resumed", false}};
        break;
      case RowStatus::kUnsupported:
      case RowStatus::kNoSession:
        r["baseline"] = nullptr;
        break;
    }
    nlohmann::json cells = nlohmann::json::object();
    if (row.status == RowStatus::kProbed) {
      for (size_t k = 0; k < kProbeCloseKinds.size(); ++k) {
        const CellResult& c = row.cells[k];
        const CellFate fate = FateOf(c);
        cells[std::string(Name(kProbeCloseKinds[k]))] = {
            {"close_mode", Name(CloseModeFor(kProbeCloseKinds[k]))},
            {"resumed", c.resumed},
            {"attempts", c.attempts},
            {"fate", fate == CellFate::kKept      ? "kept"
                     : fate == CellFate::kRemoved ? "removed"
                                                  : "flaky"}};
      }
    }
    r["close_kinds"] = cells;
    rows[std::string(Name(row.mechanism))] = r;
  }
  nlohmann::json profiles = nlohmann::json::array();
  for (const ProfileMatch& m : verdict.profiles) {
    profiles.push_back(
        {{"name", m.name}, {"cells_compared", m.compared}, {"differences", m.differences}});
  }
  return {{"command", "probe"},
          {"target", result.target},
          {"config",
           {{"tls", Name(config.tls.version)},
            {"sni", config.checker.sni},
            {"check", Name(config.checker.check)},
            {"http_path", config.checker.http_path},
            {"timeout", FormatDuration(*config.checker.timeout)},
            {"repeat", config.repeat},
            {"pause", FormatDuration(config.pause)}}},
          {"reach", result.reach == Reach::kTls ? "tls" : Name(verdict.kind)},
          {"failure", result.failure},
          {"mechanisms", rows},
          {"connections_total", result.connections},
          {"seconds", std::round(result.seconds * 1000) / 1000},
          {"verdict", {{"kind", Name(verdict.kind)}, {"line", verdict.line}}},
          {"matching_profiles", verdict.matching},
          {"closest_profiles", verdict.closest},
          {"profiles", profiles},
          {"versions", Versions()}};
}

}  // namespace tlslab
