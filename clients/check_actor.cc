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

// A check may start up to this much before its slot when the thread is awake anyway (the
// event loop's timer slack, lab/event_loop.h): 1% of the interval, at most 10 ms. Checks
// spread evenly over the interval otherwise each wake the thread from epoll_wait, and a
// check that starts while the server works on another's handshake overlaps with it instead
// of sleeping twice; HAProxy's checks bunch up the same way, their next one due an interval
// after the end of the last (src/check.c, process_chk_conn). docs/performance.md measures it.
Clock::duration StartSlack(Millis interval) {
  return std::min<Clock::duration>(Millis(10), interval / 100);
}

CheckActor* ActorOf(SSL* ssl) { return static_cast<CheckActor*>(SSL_get_app_data(ssl)); }

// A check reads at most this much per readiness event: a backend that sends without a pause
// cannot hold the thread, and the timers of every other check run between slices (reading
// until EAGAIN once delayed a timeout by 1.3 s).
constexpr size_t kReadSlice = 64 * 1024;

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
    : ctx_(ctx), target_(std::move(target)), health_(ctx.config->rise, ctx.config->fall) {
  client_.SetPcap(ctx_.pcap);
}

CheckActor::~CheckActor() {
  ctx_.loop->Cancel(interval_timer_);
  ctx_.loop->Cancel(deadline_timer_);
  ctx_.loop->Cancel(ticket_timer_);
  if (client_.connected()) CloseConnection(CloseMode::kQuietReset);
}

void CheckActor::Trace(std::string_view event) {
  if (ctx_.trace != nullptr) ctx_.trace->Line("checker", conn_id_, target_.text, event);
}

void CheckActor::Begin(Clock::time_point first) {
  due_ = first;
  interval_timer_ = ctx_.loop->At(
      due_, [this] { StartCheck(); }, StartSlack(health_.Interval(*ctx_.config)));
}

void CheckActor::OnNewSession(SSL_SESSION* session) {
  // Called from inside an SSL_* call: only record; Drive() acts after the call returns.
  got_session_ = true;
  if (!ctx_.plan.reuse) {
    // Never offered (HAProxy's no-ssl-reuse): not worth the copy below, which is about 4% of
    // a full check's CPU (i2d and d2i of the session; docs/performance.md).
    SSL_SESSION_free(session);
    Trace("session received: not saved (reuse off)");
    return;
  }
  // Kept without the server's certificate when it has one (a full handshake; sessions from
  // resumed ones are copies of the offered one, without it already): lab/ossl.h.
  if (SslSessionPtr light = CopyWithoutPeerCertificate(session)) {
    SSL_SESSION_free(session);
    saved_ = std::move(light);
  } else {
    saved_.reset(session);
  }
  Trace(SSL_version(client_.ssl()) == TLS1_3_VERSION ? "NewSessionTicket received: session saved"
                                                     : "session saved");
}

void CheckActor::StartCheck() {
  interval_timer_ = 0;
  if (ctx_.draining) return;
  if (ctx_.in_flight >= kMaxChecksInFlight) {
    // A full thread queues the check until one ends (HAProxy's tune.max-checks-per-thread,
    // src/check.c process_chk_conn: th_ctx->queued_checks, woken when running_checks drops).
    ctx_.waiting.push_back(this);
    return;
  }
  if (ctx_.max_checks != 0 &&
      ctx_.checks_started->fetch_add(1, std::memory_order_relaxed) >= ctx_.max_checks) {
    return;  // budget spent: this backend is not checked again
  }
  check_start_ = Clock::now();
  steady_check_ = ctx_.first_round->complete();
  ++ctx_.in_flight;
  deadline_timer_ = ctx_.loop->After(EffectiveCheckTimeout(*ctx_.config), [this] { OnDeadline(); });
  if (state_ == State::kKeepIdle) {
    // A persistent connection: the check is a request on it (or, for connect checks, the
    // fact that it is still open).
    if (ctx_.plan.check == CheckKind::kConnect) {
      Succeed();
      return;
    }
    SendRequest();
    Drive();
    return;
  }
  Connect();
}

void CheckActor::SendRequest() {
  state_ = State::kRequest;
  response_ = HttpResponseReader();
  // The same request every time: built on the first check, not on each.
  if (request_.empty()) {
    request_ =
        HttpGetRequest(ctx_.config->http_path, HostHeader(target_.text, true), "tlslab-check");
  }
  SSL_write(client_.ssl(), request_.data(), static_cast<int>(request_.size()));
}

void CheckActor::Connect() {
  conn_id_ = ctx_.next_conn_id++;
  got_session_ = false;
  // The ClientHello follows at once: the TCP handshake's last ACK may travel with it.
  if (const int err = client_.Connect(target_, /*first_ack_with_data=*/true); err != 0) {
    Fail(CheckFailure::kConnect, std::strerror(err));
    return;
  }
  // On loopback (and wherever the TCP handshake completes inside connect()) the connection is
  // up when connect() returns EINPROGRESS: start TLS and send the ClientHello now, rather than
  // after an epoll wake-up for a writable socket (one wake-up, a getsockopt and an epoll_ctl
  // less per check). TCP takes bytes only on an established connection: a send that says
  // EAGAIN means the connect is under way, and the socket is watched for it as before
  // (kConnecting); a refused connect fails the send with its errno.
  if (!StartTls()) return;
  const int ret = SSL_do_handshake(client_.ssl());
  ObserveSslResult(client_.obs(), client_.ssl(), ret);
  if (client_.obs().fatal_error) {
    Fail(CheckFailure::kHandshake, client_.obs().error_detail);
    return;
  }
  if (!client_.Flush()) {
    Fail(CheckFailure::kConnect, std::strerror(errno));
    return;
  }
  want_write_ = !client_.outbox().empty();
  state_ = want_write_ ? State::kConnecting : State::kHandshaking;
  if (!ctx_.loop->Add(client_.fd(), EPOLLIN | EPOLLRDHUP | (want_write_ ? EPOLLOUT : 0u), this)) {
    Fail(CheckFailure::kConnect, std::strerror(errno));
  }
}

bool CheckActor::StartTls() {
  SSL_SESSION* offer = ctx_.plan.reuse ? saved_.get() : nullptr;
  bool offered = false;
  if (!client_.StartTls(ctx_.ctx, ctx_.config->sni, offer, this, offered)) {
    Fail(CheckFailure::kHandshake, DrainOpensslErrors());
    return false;
  }
  if (offered) {
    ctx_.counters->sessions_offered.Add();
    Trace("connected; ClientHello offers the saved session");
  } else {
    Trace(ctx_.plan.reuse ? "connected; ClientHello offers no session (none saved)"
                          : "connected; ClientHello offers no session (reuse off)");
  }
  state_ = State::kHandshaking;
  return true;
}

void CheckActor::OnIo(uint32_t events) {
  if (state_ == State::kConnecting) {
    // The ClientHello waits in the outbox for the connect to complete.
    if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    if (const int err = client_.ConnectResult(); err != 0) {
      Fail(CheckFailure::kConnect, std::strerror(err));
      return;
    }
    state_ = State::kHandshaking;
  }
  if (client_.ssl() == nullptr) return;
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
    // The peer closing (RDHUP, HUP, ERR): read its EOF or RST now, with the data before it.
    client_.ReadSlice(kReadSlice, (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) == 0);
  }
  Drive();
}

void CheckActor::Drive() {
  SSL* ssl = client_.ssl();
  CloseObservation& obs = client_.obs();
  if (state_ == State::kHandshaking) {
    int ret = SSL_do_handshake(ssl);
    if (ret == 1) {
      OnHandshakeDone();
      if (state_ == State::kIdle) return;  // the check ended (connect check, no ticket wait)
    } else {
      ObserveSslResult(obs, ssl, ret);
      if (obs.fatal_error) {
        Fail(CheckFailure::kHandshake, obs.error_detail);
        return;
      }
    }
  }
  if (state_ == State::kRequest || state_ == State::kAwaitTicket || state_ == State::kKeepIdle) {
    ReadResponse();
    if (state_ == State::kIdle || !client_.connected()) return;
  }
  client_.Flush();
  if (obs.transport != TransportEnd::kOpen || obs.close_notify_received || obs.fatal_error) {
    // The server ended the connection under us.
    if (state_ == State::kKeepIdle) {
      Trace("server closed the kept connection");
      CloseConnection(CloseMode::kQuiet);
      state_ = State::kIdle;
      return;
    }
    if (state_ == State::kHandshaking) {
      Fail(CheckFailure::kHandshake, obs.transport == TransportEnd::kOpen
                                         ? "connection closed during the handshake"
                                         : "server closed the connection during the handshake "
                                           "(not a TLS server?)");
    } else if (obs.fatal_error) {
      // A record that does not decrypt (or any TLS error after the handshake) ends the
      // connection on our side: say so, not that the server closed it.
      Fail(CheckFailure::kClosed, "TLS error after the handshake: " + obs.error_detail);
    } else {
      Fail(CheckFailure::kClosed, "server closed the connection before the check completed");
    }
    return;
  }
  UpdateInterest();
}

void CheckActor::OnHandshakeDone() {
  SSL* ssl = client_.ssl();
  client_.obs().handshake_done = true;
  const bool resumed = SSL_session_reused(ssl) == 1;
  (resumed ? ctx_.counters->resumed_handshakes : ctx_.counters->full_handshakes).Add();
  if (ctx_.trace != nullptr) {
    Trace(std::string("handshake: ") + (resumed ? "resumed " : "full ") + SSL_get_version(ssl));
  }
  if (ctx_.plan.check == CheckKind::kHttp) {
    SendRequest();
    return;
  }
  // A connect check is done with the handshake. In TLS 1.3 the session ticket has not arrived
  // yet; a checker that reads after the handshake waits for it, one that closes has nothing
  // to resume next time (docs/tls-semantics.md 7, note 4).
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
  SSL* ssl = client_.ssl();
  // The socket read at most one slice into the BIO, so this loop is bounded too; the reader
  // keeps at most its header cap and only counts the body.
  char buf[4096];
  for (;;) {
    const int n = SSL_read(ssl, buf, sizeof buf);
    if (n <= 0) {
      ObserveSslResult(client_.obs(), ssl, n);
      break;
    }
    if (state_ == State::kRequest) response_.Feed(std::string_view(buf, static_cast<size_t>(n)));
  }
  if (state_ == State::kAwaitTicket && got_session_) {
    Succeed();
    return;
  }
  if (state_ != State::kRequest) return;
  if (client_.obs().transport != TransportEnd::kOpen || client_.obs().close_notify_received) {
    response_.OnEof();
  }
  // HAProxy's httpchk judges the status line; a response with neither a length nor chunked
  // framing is taken as complete with its header, as before (the kept connection then carries
  // whatever follows, and a close is not waited for).
  const bool complete = response_.state() == HttpState::kComplete ||
                        (response_.state() == HttpState::kIncomplete &&
                         response_.framing() == HttpFraming::kUntilClose);
  switch (response_.state()) {
    case HttpState::kTooLarge:
      Fail(CheckFailure::kResponseTooLarge, response_.detail());
      return;
    case HttpState::kNotHttp:
    case HttpState::kMalformed:
      Fail(CheckFailure::kHttpStatus, response_.detail());
      return;
    case HttpState::kIncomplete:
    case HttpState::kComplete:
      break;
  }
  if (!complete) return;
  const int status = response_.status();
  if (status >= 200 && status < 400) {
    Succeed();
  } else {
    Fail(CheckFailure::kHttpStatus, "HTTP status " + std::to_string(status));
  }
}

void CheckActor::Succeed() {
  if (ctx_.plan.close == CloseMode::kKeep) {
    state_ = State::kKeepIdle;
    client_.Flush();
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
  if (client_.connected()) CloseConnection(CloseMode::kQuietReset);
  state_ = State::kIdle;
  EndCheck(false);
}

void CheckActor::EndCheck(bool ok) {
  ctx_.loop->Cancel(deadline_timer_);
  ctx_.loop->Cancel(ticket_timer_);
  deadline_timer_ = ticket_timer_ = 0;
  --ctx_.in_flight;
  if (!ctx_.waiting.empty()) {
    // The oldest queued check starts from the loop, not from inside this one's end.
    CheckActor* next = ctx_.waiting.front();
    ctx_.waiting.pop_front();
    next->interval_timer_ = ctx_.loop->At(Clock::now(), [next] { next->StartCheck(); });
  }
  const Clock::time_point now = Clock::now();
  const auto micros =
      std::chrono::duration_cast<std::chrono::microseconds>(now - check_start_).count();
  (steady_check_ ? ctx_.latency : ctx_.first_round_latency)->Record(static_cast<uint64_t>(micros));
  if (!first_done_) {
    first_done_ = true;
    ctx_.first_round->OnFirstCheckEnd(
        std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count());
  }
  ctx_.counters->checks.Add();
  if (!ok) ctx_.counters->check_failures.Add();
  const bool changed = ok ? health_.OnSuccess() : health_.OnFailure();
  counters_.checks.Add();
  if (!ok) counters_.failures.Add();
  if (changed && !health_.up()) counters_.up_down.Add();
  counters_.up.store(health_.up(), std::memory_order_relaxed);
  if (changed) Trace(health_.up() ? "backend UP" : "backend DOWN");
  ScheduleNext();
}

void CheckActor::CloseConnection(CloseMode mode) {
  if (!client_.connected()) return;
  ctx_.loop->Remove(client_.fd());
  // The one close (lab/tls_client.h): close_notify or quiet, what OpenSSL wrote flushed, then
  // FIN or RST, and the shutdown marked done so our saved session stays resumable.
  const CloseReport done = client_.Close(mode);
  if (done.close_notify_sent) Trace("close_notify sent");
  Trace(done.reset ? "RST sent" : "FIN sent");
  want_write_ = false;
}

void CheckActor::OnDeadline() {
  deadline_timer_ = 0;
  Fail(CheckFailure::kTimeout,
       "no answer within " + FormatDuration(EffectiveCheckTimeout(*ctx_.config)));
}

void CheckActor::ScheduleNext() {
  const Millis interval = health_.Interval(*ctx_.config);
  const Clock::time_point now = Clock::now();
  // Slots that passed after this check's own (while it waited to start or ran) get no check:
  // they are counted, never queued.
  if (now > due_) ctx_.counters->skipped_slots.Add(static_cast<uint64_t>((now - due_) / interval));
  if (check_start_ - due_ > interval / kLateShare) {
    // Late: the loop started this check well after its slot (a first round of full handshakes
    // that outlasts the interval). The next is due one interval from now, as HAProxy computes
    // it when a check ends (src/check.c, process_chk_conn: `t->expire = tick_add(now_ms,
    // MS_TO_TICKS(srv_getinter(check) + rv))`), so no backend is checked twice within an
    // interval to catch up and the late round does not turn into a burst.
    due_ = now + interval;
  } else {
    // On time: a fixed rate that keeps the first round's spread (HAProxy's reschedule loop:
    // `while (tick_is_expired(t->expire, now_ms)) t->expire += inter`).
    do {
      due_ += interval;
    } while (due_ <= now);
  }
  interval_timer_ = ctx_.loop->At(
      due_, [this] { StartCheck(); }, StartSlack(interval));
}

void CheckActor::UpdateInterest() {
  if (!client_.connected()) return;
  const bool want_write = !client_.outbox().empty();
  if (want_write == want_write_) return;
  want_write_ = want_write;
  ctx_.loop->Modify(client_.fd(), EPOLLIN | EPOLLRDHUP | (want_write ? EPOLLOUT : 0u), this);
}

}  // namespace tlslab
