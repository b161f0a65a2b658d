#include "servers/server_conn.h"

#include <sys/epoll.h>
#include <unistd.h>

#include "lab/net.h"
#include "lab/tls_client.h"

namespace tlslab {
namespace {

// The whole answer to an http check: a status line HAProxy's httpchk accepts, a tiny body.
constexpr std::string_view kHttpResponse =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nOK\n";
constexpr size_t kMaxRequestBytes = 16 * 1024;
// Replies waiting for a peer that does not read them: past this many bytes the connection is
// not read any further (TCP flow control then stops the peer) until the peer takes its
// replies. 64 KiB holds about 800 check answers, far more than a checker keeps in flight.
constexpr size_t kMaxOutboxBytes = 64 * 1024;
// One read takes at most this much from the socket, so that one busy connection neither
// fills memory faster than it is answered nor holds the loop from its timers.
constexpr size_t kReadSliceBytes = 64 * 1024;

// TLS extension numbers (IANA): session_ticket (RFC 5077), pre_shared_key (RFC 8446).
constexpr unsigned kExtSessionTicket = 35;
constexpr unsigned kExtPreSharedKey = 41;
constexpr unsigned kExtSupportedVersions = 43;

ServerConn* ConnOf(SSL* ssl) { return static_cast<ServerConn*>(SSL_get_app_data(ssl)); }

// ReadInto with a bound: at most kReadSliceBytes now; the rest waits in the kernel (level-
// triggered epoll reports it again). Unless the peer is closing (`to_the_end`: epoll said
// RDHUP, HUP or ERR, so the EOF or the RST is read now, with the data before it), a recv()
// that returns less than it asked for ends the slice, as HAProxy's raw_sock_to_buf does
// (src/raw_sock.c: one recv() per wake-up): a further recv() would only say EAGAIN.
TransportEnd ReadSlice(int fd, TlsStream& stream, size_t& bytes, bool to_the_end) {
  char buf[16384];
  bytes = 0;
  while (bytes < kReadSliceBytes) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      stream.Feed(buf, static_cast<size_t>(n));
      bytes += static_cast<size_t>(n);
      if (!to_the_end && static_cast<size_t>(n) < sizeof buf) return TransportEnd::kOpen;
      continue;
    }
    if (n == 0) return TransportEnd::kEof;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return TransportEnd::kOpen;
    return TransportEnd::kReset;  // as ReadInto (lab/net.cc)
  }
  return TransportEnd::kOpen;
}

// The mechanism by which this connection's session would be resumed next time.
Resumption MechanismOf(SSL* ssl, bool client_offered_ticket_ext) {
  const bool no_ticket = (SSL_get_options(ssl) & SSL_OP_NO_TICKET) != 0;
  if (SSL_version(ssl) == TLS1_3_VERSION) {
    return no_ticket ? Resumption::kPskStateful : Resumption::kPskStateless;
  }
  return (!no_ticket && client_offered_ticket_ext) ? Resumption::kTicket : Resumption::kSessionId;
}

}  // namespace

void InstallServerCallbacks(SSL_CTX* ctx) {
  SSL_CTX_set_client_hello_cb(
      ctx,
      [](SSL* ssl, int*, void*) {
        if (ServerConn* conn = ConnOf(ssl)) conn->OnClientHello(ssl);
        return SSL_CLIENT_HELLO_SUCCESS;
      },
      nullptr);
  SSL_CTX_sess_set_new_cb(ctx, [](SSL* ssl, SSL_SESSION* session) {
    if (ServerConn* conn = ConnOf(ssl)) {
      conn->OnNewSession(ssl, session);
      return 1;  // we keep the reference
    }
    return 0;
  });
}

void ServerConn::Start(Backend& backend, int fd, uint64_t id) {
  if (backend.open_connections >= backend.config->max_connections) {
    // Over the per-backend cap (HAProxy's maxconn): an RST now, counted, rather than one more
    // socket and SSL object for a peer that may be flooding us.
    backend.counters->refused_at_cap.Add();
    SetLingerZero(fd);
    close(fd);
    return;
  }
  SslPtr ssl(SSL_new(backend.ctx));
  // The backend's own session ID context (at most SSL_MAX_SID_CTX_LENGTH, 32 bytes): its
  // sessions resume here and nowhere else (servers/backend_sessions.h).
  const std::string& sid_ctx = backend.session_id_context;
  if (!ssl ||
      SSL_set_session_id_context(ssl.get(), reinterpret_cast<const unsigned char*>(sid_ctx.data()),
                                 static_cast<unsigned int>(sid_ctx.size())) != 1) {
    DrainOpensslErrors();
    close(fd);
    return;
  }
  SSL_set_accept_state(ssl.get());
  auto* conn = new ServerConn(backend, fd, id, std::move(ssl));
  backend.counters->connections.Add();
  if (!backend.loop->Add(fd, EPOLLIN | EPOLLRDHUP, conn)) {
    delete conn;
    return;
  }
  conn->Arm(backend.config->handshake_timeout);
  conn->Trace("accepted");
}

ServerConn::ServerConn(Backend& backend, int fd, uint64_t id, SslPtr ssl)
    : backend_(backend), fd_(fd), id_(id), stream_(std::move(ssl)) {
  SSL_set_app_data(stream_.ssl(), this);
  stream_.SetTap(OpenPcapConn(backend_.pcap, fd_, /*we_connected=*/false));  // --pcap
  backend_.live->insert(this);
  ++backend_.open_connections;
}

ServerConn::~ServerConn() {
  backend_.live->erase(this);
  --backend_.open_connections;
  backend_.loop->Cancel(timer_);
  backend_.loop->Remove(fd_);
  SSL_set_app_data(stream_.ssl(), nullptr);
  close(fd_);
}

void ServerConn::Trace(std::string_view event) {
  if (backend_.trace != nullptr) backend_.trace->Line("server", id_, backend_.name, event);
}

void ServerConn::OnClientHello(SSL* ssl) {
  const unsigned char* data = nullptr;
  size_t len = 0;
  const size_t id_len = SSL_client_hello_get0_session_id(ssl, &data);
  const bool has_ticket = SSL_client_hello_get0_ext(ssl, kExtSessionTicket, &data, &len) == 1;
  const size_t ticket_len = has_ticket ? len : 0;
  const bool has_psk = SSL_client_hello_get0_ext(ssl, kExtPreSharedKey, &data, &len) == 1;
  offered_ticket_ext_ = has_ticket;
  if (backend_.trace == nullptr) return;
  // A TLS 1.3-capable client sends a random 32-byte legacy_session_id for middlebox
  // compatibility (RFC 8446 D.4), so an ID alone says "offers a session" only in a TLS 1.2 hello.
  const bool tls13_capable =
      SSL_client_hello_get0_ext(ssl, kExtSupportedVersions, &data, &len) == 1;
  std::string line = "ClientHello: ";
  if (has_psk) {
    line += "offers a TLS 1.3 ticket (pre_shared_key)";
  } else if (ticket_len > 0) {
    line += "offers a TLS 1.2 ticket (" + std::to_string(ticket_len) + " bytes)";
  } else if (id_len > 0 && !tls13_capable) {
    line += "offers session ID";
  } else if (id_len > 0) {
    line +=
        "offers no ticket; session ID present (a TLS 1.2 session or the TLS 1.3 compatibility ID)";
  } else {
    line += "offers no session";
  }
  Trace(line);
}

void ServerConn::OnNewSession(SSL* ssl, SSL_SESSION* session) {
  created_sessions_.emplace_back(session);
  if (CachedByServer(ssl)) backend_.sessions.Added(backend_.ctx, session);
}

void ServerConn::OnIo(uint32_t events) {
  // Whether this wake-up already carries the peer's RST: epoll reports EPOLLERR|EPOLLHUP with
  // the bytes queued ahead of it (docs/real-stacks.md 4.7), and recv() gives those bytes and
  // then ECONNRESET. A close_notify read now came with the reset (CloseObservation).
  wakeup_reset_ = (events & (EPOLLERR | EPOLLHUP)) != 0;
  // Paused (Backpressed): the peer's bytes stay in the kernel until it reads its replies.
  if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) && !Backpressed()) {
    size_t bytes = 0;
    TransportEnd end =
        ReadSlice(fd_, stream_, bytes, (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0);
    if (end == TransportEnd::kReset) wakeup_reset_ = true;
    if (end != TransportEnd::kOpen && obs_.transport == TransportEnd::kOpen) obs_.transport = end;
    // Bytes alone are not progress (one byte every 10 s would hold a connection forever):
    // the idle deadline moves only when a whole record is decrypted (ServeRequests).
  }
  Drive();
}

void ServerConn::Drive() {
  if (!obs_.handshake_done) {
    int ret = SSL_do_handshake(stream_.ssl());
    if (ret == 1) {
      OnHandshakeDone();
    } else {
      ObserveSslResult(obs_, stream_.ssl(), ret);
    }
  }
  if (obs_.handshake_done && !obs_.fatal_error && !Backpressed()) ServeRequests();
  const bool peer_gone = !Flush(fd_, stream_, outbox_);
  if (peer_gone && obs_.transport == TransportEnd::kOpen) obs_.transport = TransportEnd::kReset;
  if (obs_.close_notify_received || obs_.fatal_error || obs_.transport != TransportEnd::kOpen) {
    Finish();
    return;
  }
  UpdateInterest();
}

void ServerConn::OnHandshakeDone() {
  obs_.handshake_done = true;
  const bool resumed = SSL_session_reused(stream_.ssl()) == 1;
  (resumed ? backend_.counters->resumed_handshakes : backend_.counters->full_handshakes).Add();
  Arm(backend_.config->idle_timeout);
  if (backend_.trace != nullptr) {
    Trace(std::string(resumed ? "handshake: resumed" : "handshake: full") + " " +
          SSL_get_version(stream_.ssl()) + " " + SSL_get_cipher_name(stream_.ssl()));
  }
}

size_t ServerConn::PendingOutput() const {
  return outbox_.size() + BIO_ctrl_pending(SSL_get_wbio(stream_.ssl()));
}

bool ServerConn::Backpressed() const { return PendingOutput() >= kMaxOutboxBytes; }

void ServerConn::ServeRequests() {
  const bool had_close_notify = obs_.close_notify_received;
  char buf[4096];
  while (!Backpressed()) {
    int n = SSL_read(stream_.ssl(), buf, sizeof buf);
    if (n <= 0) {
      ObserveSslResult(obs_, stream_.ssl(), n);
      break;
    }
    // A whole record decrypted: the peer made progress (RFC 8446 5.2: records, not bytes).
    deadline_ = Clock::now() + backend_.config->idle_timeout;
    request_.append(buf, static_cast<size_t>(n));
    size_t end;
    while ((end = request_.find("\r\n\r\n")) != std::string::npos) {
      request_.erase(0, end + 4);
      SSL_write(stream_.ssl(), kHttpResponse.data(), static_cast<int>(kHttpResponse.size()));
      answered_ = true;
      if (Backpressed()) break;  // the rest of request_ waits until the peer reads
    }
    if (Backpressed()) {
      if (!paused_once_) backend_.counters->backpressure_pauses.Add();
      paused_once_ = true;
      Trace("paused: replies not read by the peer");
      break;
    }
    if (request_.size() > kMaxRequestBytes) {  // not an http check: stop listening to it
      obs_.fatal_error = true;
      obs_.error_detail = "request too large";
      break;
    }
  }
  if (obs_.close_notify_received && !had_close_notify) {
    obs_.reset_with_close_notify = wakeup_reset_;
    Trace(wakeup_reset_ ? "close_notify received, with the RST in the same wake-up"
                        : "close_notify received");
  }
}

void ServerConn::Finish() {
  const CloseKind kind = ClassifyClose(obs_);
  backend_.counters->close_kinds[Index(kind)].Add();
  if (backend_.trace != nullptr) {
    std::string line = "closed: " + std::string(Name(kind));
    if (!obs_.error_detail.empty()) line += " (" + obs_.error_detail + ")";
    Trace(line);
  }
  if (obs_.handshake_done) ApplyProfile(kind);
  // How the server closes: RFC 5246 7.2.1 has each party answer close_notify with its own;
  // after our own timeout we close cleanly too. After EOF, RST or an alert there is no one to
  // tell. Sending is best effort: the peer may already have reset the connection.
  const bool say_goodbye =
      (kind == CloseKind::kCloseNotify && backend_.profile->behaviour->answers_close_notify) ||
      kind == CloseKind::kTimeout;
  // A FIN only closes the peer's half: our close_notify can still travel. After an RST it
  // cannot.
  if (say_goodbye && obs_.transport != TransportEnd::kReset) {
    ShutdownTls(stream_.ssl(), TlsGoodbye::kCloseNotify);
    Flush(fd_, stream_, outbox_);
  }
  // Mark the shutdown as done locally so SSL_free's ssl_clear_bad_session leaves the cache
  // alone (docs/tls-semantics.md 2.1, mechanism 2): the profile has already decided.
  MarkTlsShutdownDone(stream_.ssl());
  DrainOpensslErrors();
  delete this;
}

void ServerConn::ApplyProfile(CloseKind kind) {
  const Resumption mechanism = MechanismOf(stream_.ssl(), offered_ticket_ext_);
  const CloseNotifyContext notify{.reset_in_same_wakeup = obs_.reset_with_close_notify,
                                  .before_first_request = !answered_};
  const SessionFate fate = FateAfterClose(*backend_.profile, mechanism, kind, notify);
  if (fate == SessionFate::kKept) {
    Trace("session kept (" + std::string(Name(mechanism)) + ", " + std::string(Name(kind)) + ")");
    return;
  }
  // Remove every session this connection created (TLS 1.3 issues one per ticket) and the one
  // it used, as the JDK invalidates a session with its children (NewSessionTicket addChild).
  int removed = 0;
  for (const auto& session : created_sessions_) {
    removed += SSL_CTX_remove_session(backend_.ctx, session.get());
  }
  if (SSL_SESSION* current = SSL_get_session(stream_.ssl())) {
    removed += SSL_CTX_remove_session(backend_.ctx, current);
  }
  // Counted under the close kind that was read: a removal after close_notify is the
  // notify_reset_before_request_drops rule (docs/real-stacks.md 4.8).
  backend_.counters->sessions_removed[Index(kind)].Add();
  backend_.sessions_removed.Add();
  Trace("session removed (" + std::string(Name(mechanism)) + ", " + std::string(Name(kind)) +
        (kind == CloseKind::kCloseNotify ? " with the RST, before any request" : "") + ", " +
        std::to_string(removed) + " cache entries): profile " +
        std::string(backend_.profile->name));
}

void ServerConn::Arm(Millis timeout) {
  deadline_ = Clock::now() + timeout;
  // A later deadline keeps the armed timer: OnTimer sleeps again until the new one (no
  // cancel and new timer per state change); only an earlier one needs a timer of its own.
  if (timer_ != 0 && deadline_ >= timer_at_) return;
  backend_.loop->Cancel(timer_);
  timer_at_ = deadline_;
  timer_ = backend_.loop->At(deadline_, [this] { OnTimer(); });
}

void ServerConn::OnTimer() {
  timer_ = 0;
  if (Clock::now() < deadline_) {  // activity moved the deadline: sleep again
    timer_at_ = deadline_;
    timer_ = backend_.loop->At(deadline_, [this] { OnTimer(); });
    return;
  }
  obs_.timed_out = true;
  Finish();
}

void ServerConn::UpdateInterest() {
  const bool want_write = !outbox_.empty();
  // Level-triggered epoll: while paused, EPOLLIN/EPOLLRDHUP would wake us for bytes we will
  // not read, so only EPOLLOUT is watched (EPOLLERR and EPOLLHUP are always reported).
  const bool want_read = !Backpressed();
  if (want_write == want_write_ && want_read == want_read_) return;
  want_write_ = want_write;
  want_read_ = want_read;
  backend_.loop->Modify(fd_, (want_read ? EPOLLIN | EPOLLRDHUP : 0u) | (want_write ? EPOLLOUT : 0u),
                        this);
}

}  // namespace tlslab
