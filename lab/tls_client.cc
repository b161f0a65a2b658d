#include "lab/tls_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "lab/ossl.h"

namespace tlslab {

void ShutdownTls(SSL* ssl, TlsGoodbye how) {
  if (ssl == nullptr) return;
  if (how == TlsGoodbye::kQuiet) SSL_set_quiet_shutdown(ssl, 1);
  SSL_shutdown(ssl);
}

void MarkTlsShutdownDone(SSL* ssl) {
  if (ssl != nullptr) SSL_set_shutdown(ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
}

TlsClient::~TlsClient() {
  if (fd_ >= 0) Close(CloseMode::kQuietReset);
}

int TlsClient::Connect(const Endpoint& to, bool first_ack_with_data) {
  Close(CloseMode::kQuietReset);  // a client is reused for the next connection
  obs_ = CloseObservation{};
  outbox_.clear();
  received_ = 0;
  fd_ = ConnectNonBlocking(to, first_ack_with_data);
  return fd_ < 0 ? errno : 0;
}

bool TlsClient::StartTls(SSL_CTX* ctx, const std::string& sni, SSL_SESSION* offer, void* app_data,
                         bool& offered) {
  offered = false;
  SslPtr ssl(SSL_new(ctx));
  if (!ssl) return false;
  SSL_set_app_data(ssl.get(), app_data);
  SSL_set_connect_state(ssl.get());
  if (!sni.empty()) {
    // SSL_set_tlsext_host_name without its C cast.
    SSL_ctrl(ssl.get(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
             const_cast<char*>(sni.c_str()));
  }
  offered = offer != nullptr && SSL_set_session(ssl.get(), offer) == 1;
  stream_ = std::make_unique<TlsStream>(std::move(ssl));
  stream_->SetTap(OpenPcapConn(pcap_, fd_, /*we_connected=*/true));
  return true;
}

size_t TlsClient::ReadSlice(size_t max_bytes, bool until_short_read) {
  char buf[16384];
  size_t total = 0;
  while (total < max_bytes) {
    const size_t want = std::min(sizeof buf, max_bytes - total);
    const ssize_t n = recv(fd_, buf, want, 0);
    if (n > 0) {
      if (stream_) stream_->Feed(buf, static_cast<size_t>(n));
      total += static_cast<size_t>(n);
      if (until_short_read && static_cast<size_t>(n) < want) break;
      continue;
    }
    TransportEnd end = TransportEnd::kOpen;
    if (n == 0) {
      end = TransportEnd::kEof;
    } else if (errno == EINTR) {
      continue;
    } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
      // ECONNRESET and anything else that kills the connection: the data queued before an
      // RST was read first (the kernel returns it before the error).
      end = TransportEnd::kReset;
    }
    if (end != TransportEnd::kOpen && obs_.transport == TransportEnd::kOpen) obs_.transport = end;
    if (end != TransportEnd::kOpen && stream_)
      stream_->RecordPeerClose(end == TransportEnd::kReset);
    break;
  }
  received_ += total;
  return total;
}

bool TlsClient::Flush() {
  if (!stream_ || fd_ < 0) return true;
  if (tlslab::Flush(fd_, *stream_, outbox_)) return true;
  if (obs_.transport == TransportEnd::kOpen) obs_.transport = TransportEnd::kReset;
  return false;  // errno from the failed send
}

bool TlsClient::FlushUntil(SteadyClock::time_point deadline) {
  for (;;) {
    if (!Flush()) return false;
    if (outbox_.empty()) return true;
    if (!WaitReady(POLLOUT, deadline)) return false;
  }
}

bool TlsClient::WaitReady(short events, SteadyClock::time_point deadline) const {
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
    if (left.count() <= 0) return false;
    pollfd p[2] = {{fd_, events, 0}, {stop_fd_, POLLIN, 0}};
    const nfds_t count = stop_fd_ >= 0 ? 2 : 1;
    const int n = poll(p, count, static_cast<int>(std::min<long long>(left.count(), 60000)));
    if (n > 0 && count == 2 && p[1].revents != 0) return false;  // asked to stop
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return true;  // the next read or write reports the error
  }
}

CloseReport TlsClient::Close(CloseMode mode, const CloseOptions& options) {
  CloseReport report;
  if (fd_ < 0) return report;
  SSL* s = ssl();
  const bool notify = mode == CloseMode::kCloseNotify || mode == CloseMode::kNotifyReset;
  report.reset = mode == CloseMode::kQuietReset || mode == CloseMode::kNotifyReset;
  if (s != nullptr && notify && obs_.handshake_done) {
    ShutdownTls(s, TlsGoodbye::kCloseNotify);
    report.close_notify_sent = true;
  } else if (s != nullptr && !notify) {
    ShutdownTls(s, TlsGoodbye::kQuiet);
  }
  // What the TLS layer has already written (the client's Finished, which ends a TLS 1.2
  // resumption and every TLS 1.3 handshake; the close_notify) is on the wire in a real stack
  // before its close: HAProxy's BIO writes to the socket at once. Send it ahead of the FIN or
  // the RST.
  if (s != nullptr) {
    if (options.wait_until != SteadyClock::time_point{}) {
      FlushUntil(options.wait_until);
    } else {
      Flush();
    }
  }
  if (report.reset) {
    SetLingerZero(fd_);
    if (stream_) stream_->RecordOwnClose(true);
  } else if (options.fin == FinStyle::kHalfCloseAndDrain) {
    shutdown(fd_, SHUT_WR);
    if (stream_) stream_->RecordOwnClose(false);
    // Bounded twice: by the deadline, and per slice (a server that keeps sending is read
    // until the deadline, 64 KiB at a time, and never buffered beyond what on_drained keeps).
    while (s != nullptr && obs_.transport == TransportEnd::kOpen &&
           WaitReady(POLLIN, options.wait_until)) {
      ReadSlice(64 * 1024);
      if (options.on_drained) options.on_drained();
    }
  }
  if (s != nullptr) {
    MarkTlsShutdownDone(s);
    SSL_set_app_data(s, nullptr);
  }
  DrainOpensslErrors();
  stream_.reset();
  ::close(fd_);
  fd_ = -1;
  return report;
}

}  // namespace tlslab
