// A TLS endpoint without I/O: an SSL object on two memory BIOs. The socket layer (socket_io.h)
// moves bytes between a socket and the BIOs; tests move them between two streams directly.
//
// Why memory BIOs rather than SSL_set_fd: OpenSSL 3 turns an EOF without close_notify into a
// fatal error that removes the session from the cache (ssl3_send_alert, docs/tls-semantics.md 2.2),
// and SSL_OP_IGNORE_UNEXPECTED_EOF hides the EOF behind a fake close_notify. With memory BIOs
// OpenSSL never sees the transport's end: the lab observes it itself, classifies it, and the
// profile alone decides the session's fate. SSL_shutdown and SSL_set_quiet_shutdown are still
// called directly where the close path needs them.
#pragma once

#include <memory>
#include <string>

#include "lab/ossl.h"
#include "lab/pcap.h"

namespace tlslab {

class TlsStream {
 public:
  explicit TlsStream(SslPtr ssl);
  SSL* ssl() const { return ssl_.get(); }

  // Bytes that arrived from the peer.
  void Feed(const char* data, size_t size);
  // Moves bytes that OpenSSL wrote for the peer to the end of `out`; returns how many.
  size_t TakeOutput(std::string& out);

  // --pcap (lab/pcap.h): the socket layer reports here what crossed the socket; Feed reports
  // what arrived. Without a tap these do nothing.
  void SetTap(std::unique_ptr<PcapConn> tap) { tap_ = std::move(tap); }
  void RecordSent(const char* data, size_t size) {
    if (tap_) tap_->Sent({data, size});
  }
  void RecordOwnClose(bool reset) {
    if (tap_) tap_->OwnClose(reset);
  }
  void RecordPeerClose(bool reset) {
    if (tap_) tap_->PeerClose(reset);
  }

 private:
  std::unique_ptr<PcapConn> tap_;  // destroyed last: its destructor records a FIN
  SslPtr ssl_;
  BIO* in_ = nullptr;   // owned by ssl_
  BIO* out_ = nullptr;  // owned by ssl_
};

}  // namespace tlslab
