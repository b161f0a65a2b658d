#include "lab/close_kind.h"

#include <openssl/err.h>

#include "lab/ossl.h"

namespace tlslab {

void ObserveSslResult(CloseObservation& obs, SSL* ssl, int ret) {
  switch (SSL_get_error(ssl, ret)) {
    case SSL_ERROR_ZERO_RETURN:
      obs.close_notify_received = true;
      break;
    case SSL_ERROR_SSL:
      obs.fatal_error = true;
      obs.error_detail = DrainOpensslErrors();
      break;
    default:
      // WANT_READ / WANT_WRITE: nothing happened yet. SYSCALL cannot occur on memory BIOs.
      break;
  }
  ERR_clear_error();
}

CloseKind ClassifyClose(const CloseObservation& obs) {
  if (!obs.handshake_done) return CloseKind::kHandshakeFailed;
  if (obs.close_notify_received) return CloseKind::kCloseNotify;
  if (obs.fatal_error) return CloseKind::kAlert;
  switch (obs.transport) {
    case TransportEnd::kReset:
      return CloseKind::kReset;
    case TransportEnd::kEof:
      return CloseKind::kEof;
    case TransportEnd::kOpen:
      break;
  }
  return CloseKind::kTimeout;
}

}  // namespace tlslab
