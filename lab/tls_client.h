// The one TLS client of the lab: the checker (clients/check_actor.cc, event-driven) and the
// probe (clients/probe_transport.cc, blocking with bounded waits) both connect, start TLS,
// offer a saved session, read and close through this class.
//
// It keeps the memory-BIO design of tls_stream.h: OpenSSL never sees the socket, so an EOF
// or an RST can never make OpenSSL remove a session on its own; only the profile does, on the
// server. The socket side is here: a non-blocking connect, reads in bounded slices, flushes,
// and one Close for every close mode.
//
// Also here, so that one place in the lab calls SSL_shutdown and SSL_set_shutdown: the
// shutdown helpers the server's close (servers/server_conn.cc) uses too.
#pragma once

#include <openssl/ssl.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "lab/close_kind.h"
#include "lab/net.h"
#include "lab/pcap.h"
#include "lab/tls_stream.h"
#include "lab/vocabulary.h"

namespace tlslab {

// ---- The shutdown helpers (client and server) ----

enum class TlsGoodbye {
  kCloseNotify,  // SSL_shutdown: close_notify on the wire (RFC 5246 7.2.1, RFC 8446 6.1)
  kQuiet,        // SSL_set_quiet_shutdown + SSL_shutdown: no alert on the wire, as HAProxy's
                 // ssl_sock_shutw(clean=0) does ("don't sent notify on SSL_shutdown")
};
void ShutdownTls(SSL* ssl, TlsGoodbye how);

// Marks the shutdown as done locally (SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN), so that
// SSL_free's ssl_clear_bad_session neither removes the server's cache entry nor flags the
// client's saved session not_resumable (docs/tls-semantics.md 2.1 and 4.4): the lab measures
// the profile's choice, not an accident of the library. Every close in the lab ends with it.
void MarkTlsShutdownDone(SSL* ssl);

// ---- The client ----

using SteadyClock = std::chrono::steady_clock;

// How the transport ends after the TLS part of a close.
enum class FinStyle {
  // close() at once: FIN (or RST with SO_LINGER 0). What HAProxy's checks do (src/fd.c
  // fd_delete), so the checker does it.
  kClose,
  // The probe's FIN cells: shutdown(SHUT_WR) sends the FIN, then the socket is read until the
  // server closes its side (or the drain deadline). A close() with unread bytes in the receive
  // buffer (a late ticket, the server's own close_notify) sends an RST instead of a FIN
  // (RFC 1122 4.2.2.13), which would turn the probe's eof cell into a reset cell; draining
  // also lets the server finish its close before the next connection offers the session.
  kHalfCloseAndDrain,
};

struct CloseOptions {
  FinStyle fin = FinStyle::kClose;
  // Blocking callers only (the probe): wait until then for the close_notify to be sent and,
  // with kHalfCloseAndDrain, for the server's close. The default never waits.
  SteadyClock::time_point wait_until{};
  // Called after drained bytes were fed to the stream, so the caller can SSL_read them.
  std::function<void()> on_drained;
};

// What a close put on the wire, for traces.
struct CloseReport {
  bool close_notify_sent = false;
  bool reset = false;
};

class TlsClient {
 public:
  TlsClient() = default;
  ~TlsClient();
  TlsClient(const TlsClient&) = delete;
  TlsClient& operator=(const TlsClient&) = delete;

  // Starts a non-blocking connect; returns 0, or the errno it failed with at once.
  // `first_ack_with_data`: see ConnectNonBlocking (lab/net.h).
  int Connect(const Endpoint& to, bool first_ack_with_data = false);
  // After the socket is writable: 0 when the connect completed, else its errno.
  int ConnectResult() const { return ConnectError(fd_); }

  // A client SSL from `ctx` over memory BIOs, with SNI when `sni` is not empty, offering
  // `offer` when not null, with `app_data` for the context's callbacks. Returns false when
  // OpenSSL cannot make one (its error queue says why). `offered` is whether the session was
  // accepted for the ClientHello.
  bool StartTls(SSL_CTX* ctx, const std::string& sni, SSL_SESSION* offer, void* app_data,
                bool& offered);

  // Reads at most `max_bytes` from the socket into the stream: a peer that sends without a
  // pause cannot hold the caller in one call, and an event loop's timers run between slices.
  // Records the transport's end in obs(). Returns the bytes read.
  // `until_short_read`: stop after a recv() that returned less than it asked for, as HAProxy's
  // raw_sock_to_buf (src/raw_sock.c: one recv() per wake-up unless the buffer wraps) rather
  // than read again for EAGAIN; for event loops, whose level-triggered epoll reports what
  // arrives later (an EOF behind the data included). The blocking probe reads until EAGAIN.
  size_t ReadSlice(size_t max_bytes, bool until_short_read = false);
  // Sends what OpenSSL wrote (non-blocking; the rest stays queued). False when the peer is gone;
  // that is recorded in obs() as a reset, and errno says why.
  bool Flush();
  // Flush, waiting for the socket until `deadline` while bytes stay queued.
  bool FlushUntil(SteadyClock::time_point deadline);
  // Waits until the socket is ready for `events` (POLLIN, POLLOUT). False when the deadline has
  // passed, even if the socket is ready: a peer that keeps sending cannot extend a wait; false
  // at once when the stop fd (SetStopFd) is readable.
  bool WaitReady(short events, SteadyClock::time_point deadline) const;
  // A blocking caller (the probe) that must end early on SIGINT/SIGTERM gives the fd that
  // becomes readable then (a signalfd, lab/monitor.h StopSignals); -1 = none.
  void SetStopFd(int fd) { stop_fd_ = fd; }

  // Ends the connection as `mode` says (lab/vocabulary.h): close_notify or none, then FIN or
  // RST. kKeep is not a close; here it is a quiet FIN (used when a kept connection must end).
  // Idempotent; an event loop must stop watching fd() first.
  CloseReport Close(CloseMode mode, const CloseOptions& options = {});

  // --pcap: every connection started after this is recorded in `writer` (may be null).
  void SetPcap(PcapWriter* writer) { pcap_ = writer; }

  int fd() const { return fd_; }
  bool connected() const { return fd_ >= 0; }
  SSL* ssl() const { return stream_ ? stream_->ssl() : nullptr; }
  TlsStream* stream() const { return stream_.get(); }
  const std::string& outbox() const { return outbox_; }
  CloseObservation& obs() { return obs_; }
  const CloseObservation& obs() const { return obs_; }
  uint64_t received() const { return received_; }

 private:
  int fd_ = -1;
  int stop_fd_ = -1;
  PcapWriter* pcap_ = nullptr;
  std::unique_ptr<TlsStream> stream_;
  std::string outbox_;
  CloseObservation obs_;
  uint64_t received_ = 0;
};

}  // namespace tlslab
