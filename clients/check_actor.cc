#include "clients/check_actor.h"

#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace tlslab {
namespace {

// A TLS 1.3 ticket arrives one round trip after the handshake (RFC 8446 4.6.1: the server
// sends NewSessionTicket after the client's Finished). Wait this long for it, at most.
constexpr Millis kTicketWait{200};

CheckActor* ActorOf(SSL* ssl) { return static_cast<CheckActor*>(SSL_get_app_data(ssl)); }

std::string HostOf(const std::string& host_port) {
  size_t colon = host_port.rfind(':');
  return colon == std::string::npos ? host_port : host_port.substr(0, colon);
}

// Parses an HTTP/1.x response in `buf`. Returns 0 while incomplete, else the status code
// (-1 when what arrived is not HTTP).
int ParseResponse(const std::string& buf) {
  size_t header_end = buf.find("\r\n\r\n");
  if (header_end == std::string::npos) {
    return buf.size() > 16384 ? -1 : 0;
  }
  if (buf.compare(0, 5, "HTTP/") != 0 || buf.size() < 12) return -1;
  int status = std::atoi(buf.c_str() + 9);
  if (status < 100 || status > 999) return -1;
  std::string headers = buf.substr(0, header_end);
  std::transform(headers.begin(), headers.end(), headers.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  size_t cl = headers.find("\r\ncontent-length:");
  if (cl != std::string::npos) {
    size_t length = std::strtoul(headers.c_str() + cl + 17, nullptr, 10);
    if (buf.size() < header_end + 4 + length) return 0;
  }
  return status;
}

}  // namespace

void InstallCheckerCallbacks(SSL_CTX* ctx) {
  SSL_CTX_sess_set_new_cb(ctx, [](SSL* ssl, SSL_SESSION* session) {
    if (CheckActor* actor = ActorOf(ssl)) {
      actor->OnNewSession(session);
      return 1;  // the actor keeps the reference
    }
    return 0;
  });
}

CheckActor::CheckActor(CheckerThreadContext& ctx, Endpoint target)
    : ctx_(ctx), target_(std::move(target)), health_(ctx.config->rise, ctx.config->fall) {}

CheckActor::~CheckActor() {
  ctx_.loop->Cancel(interval_timer_);
  ctx_.loop->Cancel(deadline_timer_);
  ctx_.loop->Cancel(ticket_timer_);
  if (fd_ >= 0) CloseConnection(CloseMode::kQuietReset);
}

void CheckActor::Trace(std::string_view event) {
  if (ctx_.trace != nullptr) ctx_.trace->Line("checker", conn_id_, target_.text, event);
}

void CheckActor::Begin(Clock::time_point first) {
  due_ = first;
  interval_timer_ = ctx_.loop->At(due_, [this] { StartCheck(); });
}

void CheckActor::OnNewSession(SSL_SESSION* session) {
  // Called from inside an SSL_* call: only record; Drive() acts after the call returns.
  saved_.reset(session);
  got_session_ = true;
  Trace(SSL_version(stream_->ssl()) == TLS1_3_VERSION ? "NewSessionTicket received: session saved"
                                                      : "session saved");
}

void CheckActor::StartCheck() {
  interval_timer_ = 0;
  if (ctx_.draining) return;
  if (ctx_.max_checks != 0 &&
      ctx_.checks_started->fetch_add(1, std::memory_order_relaxed) >= ctx_.max_checks) {
    return;  // budget spent: this backend is not checked again
  }
  check_start_ = Clock::now();
  ++ctx_.in_flight;
  deadline_timer_ = ctx_.loop->After(EffectiveCheckTimeout(*ctx_.config), [this] { OnDeadline(); });
  if (state_ == State::kKeepIdle) {
    // A persistent connection: the check is a request on it (or, for connect checks, the
    // fact that it is still open).
    if (ctx_.plan.check == CheckKind::kConnect) {
      Succeed();
      return;
    }
    state_ = State::kRequest;
    response_.clear();
    std::string request = "GET " + ctx_.config->http_path +
                          " HTTP/1.1\r\nHost: " + HostOf(target_.text) +
                          "\r\nUser-Agent: tlslab-check\r\n\r\n";
    SSL_write(stream_->ssl(), request.data(), static_cast<int>(request.size()));
    Drive();
    return;
  }
  Connect();
}

void CheckActor::Connect() {
  conn_id_ = ctx_.next_conn_id++;
  obs_ = CloseObservation{};
  response_.clear();
  outbox_.clear();
  got_session_ = false;
  fd_ = ConnectNonBlocking(target_);
  if (fd_ < 0) {
    Fail(CheckFailure::kConnect, std::strerror(errno));
    return;
  }
  state_ = State::kConnecting;
  want_write_ = true;
  if (!ctx_.loop->Add(fd_, EPOLLOUT | EPOLLIN | EPOLLRDHUP, this)) {
    int err = errno;
    close(fd_);
    fd_ = -1;
    Fail(CheckFailure::kConnect, std::strerror(err));
  }
}

void CheckActor::OnConnected() {
  if (int err = ConnectError(fd_); err != 0) {
    Fail(CheckFailure::kConnect, std::strerror(err));
    return;
  }
  SslPtr ssl(SSL_new(ctx_.ctx));
  if (!ssl) {
    Fail(CheckFailure::kHandshake, DrainOpensslErrors());
    return;
  }
  SSL_set_app_data(ssl.get(), this);
  SSL_set_connect_state(ssl.get());
  if (!ctx_.config->sni.empty()) {
    // SSL_set_tlsext_host_name without its C cast.
    SSL_ctrl(ssl.get(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
             const_cast<char*>(ctx_.config->sni.c_str()));
  }
  const bool offer = ctx_.plan.reuse && saved_ != nullptr;
  if (offer && SSL_set_session(ssl.get(), saved_.get()) == 1) {
    ctx_.counters->sessions_offered.Add();
    Trace("connected; ClientHello offers the saved session");
  } else {
    Trace(ctx_.plan.reuse ? "connected; ClientHello offers no session (none saved)"
                          : "connected; ClientHello offers no session (reuse off)");
  }
  stream_ = std::make_unique<TlsStream>(std::move(ssl));
  state_ = State::kHandshaking;
  Drive();
}

void CheckActor::OnIo(uint32_t events) {
  if (state_ == State::kConnecting) {
    if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) OnConnected();
    return;
  }
  if (stream_ == nullptr) return;
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
    size_t bytes = 0;
    TransportEnd end = ReadInto(fd_, *stream_, bytes);
    if (end != TransportEnd::kOpen && obs_.transport == TransportEnd::kOpen) obs_.transport = end;
  }
  Drive();
}

void CheckActor::Drive() {
  SSL* ssl = stream_->ssl();
  if (state_ == State::kHandshaking) {
    int ret = SSL_do_handshake(ssl);
    if (ret == 1) {
      OnHandshakeDone();
      if (state_ == State::kIdle) return;  // the check ended (connect check, no ticket wait)
    } else {
      ObserveSslResult(obs_, ssl, ret);
      if (obs_.fatal_error) {
        Fail(CheckFailure::kHandshake, obs_.error_detail);
        return;
      }
    }
  }
  if (state_ == State::kRequest || state_ == State::kAwaitTicket || state_ == State::kKeepIdle) {
    ReadResponse();
    if (state_ == State::kIdle || fd_ < 0) return;
  }
  if (!Flush(fd_, *stream_, outbox_) && obs_.transport == TransportEnd::kOpen) {
    obs_.transport = TransportEnd::kReset;
  }
  if (obs_.transport != TransportEnd::kOpen || obs_.close_notify_received || obs_.fatal_error) {
    // The server ended the connection under us.
    if (state_ == State::kKeepIdle) {
      Trace("server closed the kept connection");
      CloseConnection(CloseMode::kQuiet);
      state_ = State::kIdle;
      return;
    }
    if (state_ == State::kHandshaking) {
      Fail(CheckFailure::kHandshake, obs_.transport == TransportEnd::kOpen
                                         ? "connection closed during the handshake"
                                         : "server closed the connection during the handshake "
                                           "(not a TLS server?)");
    } else {
      Fail(CheckFailure::kClosed, "server closed the connection before the check completed");
    }
    return;
  }
  UpdateInterest();
}

void CheckActor::OnHandshakeDone() {
  SSL* ssl = stream_->ssl();
  obs_.handshake_done = true;
  const bool resumed = SSL_session_reused(ssl) == 1;
  (resumed ? ctx_.counters->resumed_handshakes : ctx_.counters->full_handshakes).Add();
  if (ctx_.trace != nullptr) {
    Trace(std::string("handshake: ") + (resumed ? "resumed " : "full ") + SSL_get_version(ssl));
  }
  if (ctx_.plan.check == CheckKind::kHttp) {
    state_ = State::kRequest;
    std::string request = "GET " + ctx_.config->http_path +
                          " HTTP/1.1\r\nHost: " + HostOf(target_.text) +
                          "\r\nUser-Agent: tlslab-check\r\n\r\n";
    SSL_write(ssl, request.data(), static_cast<int>(request.size()));
    return;
  }
  // A connect check is done with the handshake. In TLS 1.3 the session ticket has not arrived
  // yet; a checker that reads after the handshake waits for it, one that closes has nothing
  // to resume next time (tls-semantics.md 7, note 4).
  if (ctx_.plan.read_after_handshake && SSL_version(ssl) == TLS1_3_VERSION && !got_session_) {
    state_ = State::kAwaitTicket;
    ticket_timer_ = ctx_.loop->After(kTicketWait, [this] {
      ticket_timer_ = 0;
      Trace("no NewSessionTicket within the wait");
      Succeed();
    });
    return;
  }
  Succeed();
}

void CheckActor::ReadResponse() {
  SSL* ssl = stream_->ssl();
  char buf[4096];
  for (;;) {
    int n = SSL_read(ssl, buf, sizeof buf);
    if (n <= 0) {
      ObserveSslResult(obs_, ssl, n);
      break;
    }
    if (state_ == State::kRequest) response_.append(buf, static_cast<size_t>(n));
  }
  if (state_ == State::kAwaitTicket && got_session_) {
    Succeed();
    return;
  }
  if (state_ != State::kRequest) return;
  int status = ParseResponse(response_);
  if (status == 0) return;
  if (status < 0) {
    Fail(CheckFailure::kHttpStatus, "the response is not HTTP");
  } else if (status >= 200 && status < 400) {
    Succeed();
  } else {
    Fail(CheckFailure::kHttpStatus, "HTTP status " + std::to_string(status));
  }
}

void CheckActor::Succeed() {
  if (ctx_.plan.close == CloseMode::kKeep) {
    state_ = State::kKeepIdle;
    if (fd_ >= 0) Flush(fd_, *stream_, outbox_);
  } else {
    CloseConnection(ctx_.plan.close);
    state_ = State::kIdle;
  }
  EndCheck(true);
}

void CheckActor::Fail(CheckFailure reason, const std::string& detail) {
  ctx_.counters->failures_by_reason[static_cast<size_t>(reason)].Add();
  std::string& example = (*ctx_.failure_examples)[static_cast<size_t>(reason)];
  if (example.empty()) example = target_.text + ": " + detail;
  Trace("check failed: " + std::string(Name(reason)) + ": " + detail);
  // A failed check closes hard, as HAProxy does (linger_risk): no close_notify, RST.
  if (fd_ >= 0) CloseConnection(CloseMode::kQuietReset);
  state_ = State::kIdle;
  EndCheck(false);
}

void CheckActor::EndCheck(bool ok) {
  ctx_.loop->Cancel(deadline_timer_);
  ctx_.loop->Cancel(ticket_timer_);
  deadline_timer_ = ticket_timer_ = 0;
  --ctx_.in_flight;
  const auto micros =
      std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - check_start_).count();
  ctx_.latency->Record(static_cast<uint64_t>(micros));
  ctx_.counters->checks.Add();
  if (!ok) ctx_.counters->check_failures.Add();
  const bool changed = ok ? health_.OnSuccess() : health_.OnFailure();
  if (changed) Trace(health_.up() ? "backend UP" : "backend DOWN");
  ScheduleNext();
}

void CheckActor::CloseConnection(CloseMode mode) {
  SSL* ssl = stream_ ? stream_->ssl() : nullptr;
  const bool established = ssl != nullptr && obs_.handshake_done;
  switch (mode) {
    case CloseMode::kCloseNotify:
    case CloseMode::kNotifyReset:
      if (established) {
        SSL_shutdown(ssl);  // sends close_notify (RFC 5246 7.2.1, RFC 8446 6.1)
        Flush(fd_, *stream_, outbox_);
        Trace("close_notify sent");
      }
      break;
    case CloseMode::kQuiet:
    case CloseMode::kQuietReset:
    case CloseMode::kKeep:
      if (ssl != nullptr) {
        // HAProxy's ssl_sock_shutw(clean=0): "don't sent notify on SSL_shutdown".
        SSL_set_quiet_shutdown(ssl, 1);
        SSL_shutdown(ssl);
      }
      break;
  }
  // What the TLS layer has already written (the client's Finished, which ends a TLS 1.2
  // resumption and every TLS 1.3 handshake) is on the wire in a real stack before its close:
  // HAProxy's BIO writes to the socket at once. Send it ahead of the FIN or the RST.
  if (ssl != nullptr && fd_ >= 0) Flush(fd_, *stream_, outbox_);
  const bool reset = mode == CloseMode::kQuietReset || mode == CloseMode::kNotifyReset;
  if (reset) SetLingerZero(fd_);
  Trace(reset ? "RST sent" : "FIN sent");
  if (ssl != nullptr) {
    // Mark the shutdown done locally so SSL_free does not flag our saved session
    // not_resumable (ssl_clear_bad_session, tls-semantics.md 4.4): the lab measures the
    // server's choice, not an accident of the client library.
    SSL_set_shutdown(ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    SSL_set_app_data(ssl, nullptr);
  }
  DrainOpensslErrors();
  stream_.reset();
  ctx_.loop->Remove(fd_);
  close(fd_);
  fd_ = -1;
  want_write_ = false;
}

void CheckActor::OnDeadline() {
  deadline_timer_ = 0;
  Fail(CheckFailure::kTimeout,
       "no answer within " + FormatDuration(EffectiveCheckTimeout(*ctx_.config)));
}

void CheckActor::ScheduleNext() {
  // HAProxy process_chk_conn: `while (tick_is_expired(t->expire, now_ms)) t->expire +=
  // inter`. A fixed rate; slots missed while a slow check ran are skipped, not queued.
  const Millis interval = health_.Interval(*ctx_.config);
  const Clock::time_point now = Clock::now();
  do {
    due_ += interval;
  } while (due_ <= now);
  interval_timer_ = ctx_.loop->At(due_, [this] { StartCheck(); });
}

void CheckActor::UpdateInterest() {
  if (fd_ < 0) return;
  const bool want_write = !outbox_.empty();
  if (want_write == want_write_) return;
  want_write_ = want_write;
  ctx_.loop->Modify(fd_, EPOLLIN | EPOLLRDHUP | (want_write ? EPOLLOUT : 0u), this);
}

}  // namespace tlslab
