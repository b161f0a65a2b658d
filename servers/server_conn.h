// One accepted connection on a virtual backend: handshake, answer http checks, wait for the
// peer to close, then classify the close and apply the profile (docs/design.md 5).
//
//   accept -> handshaking --(Finished)--> established --(close_notify | FIN | RST | alert
//                 |                           |            | idle timeout)--> Finish()
//                 +--(handshake timeout, error, peer gone)----------------------^
//
// Finish() is where the profile acts: ClassifyClose, FateAfterClose, and an explicit, counted
// SSL_CTX_remove_session for every session this connection created or resumed.
#pragma once

#include <string>
#include <vector>

#include "lab/close_kind.h"
#include "lab/event_loop.h"
#include "lab/ossl.h"
#include "lab/tls_stream.h"
#include "servers/backend.h"

namespace tlslab {

class ServerConn : public IoHandler {
 public:
  // Takes ownership of fd. Deletes itself when the connection ends.
  static void Start(Backend& backend, int fd, uint64_t id);

  ~ServerConn() override;
  void OnIo(uint32_t events) override;

  // OpenSSL callbacks reach the connection through SSL app data.
  void OnClientHello(SSL* ssl);
  void OnNewSession(SSL* ssl, SSL_SESSION* session);

 private:
  ServerConn(Backend& backend, int fd, uint64_t id, SslPtr ssl);
  void Drive();
  void OnHandshakeDone();
  void ServeRequests();
  void Finish();
  void ApplyProfile(CloseKind kind);
  void Arm(Millis timeout);
  void OnTimer();
  void Trace(std::string_view event);
  void UpdateInterest();
  size_t PendingOutput() const;  // replies not yet taken by the socket
  bool Backpressed() const;      // too many of them: stop reading this peer

  Backend& backend_;
  int fd_;
  uint64_t id_;
  TlsStream stream_;
  std::string outbox_;
  std::string request_;
  CloseObservation obs_;
  bool offered_ticket_ext_ = false;
  std::vector<SslSessionPtr> created_sessions_;
  EventLoop::TimerId timer_ = 0;
  Clock::time_point deadline_{};
  Clock::time_point timer_at_{};  // when timer_ fires (it may be before deadline_)
  bool want_write_ = false;
  bool want_read_ = true;
  bool paused_once_ = false;
  bool answered_ = false;      // at least one request answered
  bool wakeup_reset_ = false;  // the current wake-up reported the transport's reset
};

}  // namespace tlslab
