// One backend's share of the session cache that all backends of a server process share.
//
// Every backend used to own an SSL_CTX, and so a cache of its own; but an OpenSSL 3 context
// costs about 13 KB before its first connection (ciphers and methods fetched per context),
// 130 MB at 10,000 backends (docs/scale.md). All backends now share one context, and what a
// context of its own gave each backend is kept another way:
//   - isolation: each backend's connections carry their own session ID context
//     (SSL_set_session_id_context), and OpenSSL resumes a session, whether found by session ID
//     or carried in a ticket, only in the context it was made in (ssl/ssl_sess.c,
//     ssl_get_prev_session; TLS 1.3 PSKs in ssl/statem/extensions_srvr.c, tls_parse_ctos_psk),
//     so a session of one backend is refused by every other, as a separate server would;
//   - the cache size per backend (--cache-size, else OpenSSL's SSL_SESSION_CACHE_MAX_SIZE_
//     DEFAULT): the shared cache is unbounded, and this class evicts a backend's oldest entry
//     when that backend holds more, as a full cache of its own would (SSL_CTX_add_session
//     removes the entry nearest expiry; with one timeout for all, the oldest);
//   - the session timeout is one setting for all backends, as before.
// Only the owning backend's event-loop thread calls it.
#pragma once

#include <cstddef>
#include <deque>

#include "lab/ossl.h"

namespace tlslab {

class BackendSessions {
 public:
  explicit BackendSessions(size_t limit = SSL_SESSION_CACHE_MAX_SIZE_DEFAULT) : limit_(limit) {}

  // `session` was just added to `ctx`'s cache for this backend (call it only for sessions the
  // cache keeps: CachedByServer). Evicts this backend's oldest entries over the limit.
  void Added(SSL_CTX* ctx, SSL_SESSION* session);

  // Entries held: the live ones and those the cache dropped since the last compaction.
  size_t held() const { return held_.size(); }

 private:
  void Compact();  // forgets entries the cache no longer has (expired, removed, evicted)

  size_t limit_;
  size_t compacted_at_ = 0;         // held() after the last compaction
  std::deque<SslSessionPtr> held_;  // oldest first
};

// Whether OpenSSL's server cache keeps the session `ssl` just made: a TLS 1.2 session with a
// session ID, or a TLS 1.3 stateful ticket, when the cache is on; never a session that lives
// only in its ticket (TLS 1.2 RFC 5077, TLS 1.3 stateless) (ssl/ssl_lib.c ssl_update_cache).
bool CachedByServer(SSL* ssl);

}  // namespace tlslab
