#include "servers/backend_sessions.h"

#include <algorithm>

namespace tlslab {

void BackendSessions::Added(SSL_CTX* ctx, SSL_SESSION* session) {
  SSL_SESSION_up_ref(session);
  held_.emplace_back(session);
  // The strict profiles remove a session at nearly every close: drop such entries from the
  // front at once, and all of them when the deque has doubled since the last compaction, so
  // that it holds at most about twice what the cache has of this backend.
  while (!held_.empty() && !SSL_SESSION_is_resumable(held_.front().get())) held_.pop_front();
  if (held_.size() > limit_ || held_.size() >= 2 * std::max<size_t>(compacted_at_, 8)) Compact();
  while (held_.size() > limit_) {
    SSL_CTX_remove_session(ctx, held_.front().get());
    held_.pop_front();
  }
}

void BackendSessions::Compact() {
  // SSL_CTX_remove_session, the timeout flush and a full cache's eviction all mark the entry
  // they take out not resumable (ssl/ssl_sess.c remove_session_lock).
  std::erase_if(held_, [](const SslSessionPtr& s) { return !SSL_SESSION_is_resumable(s.get()); });
  compacted_at_ = held_.size();
}

bool CachedByServer(SSL* ssl) {
  SSL_CTX* ctx = SSL_get_SSL_CTX(ssl);
  if ((SSL_CTX_get_session_cache_mode(ctx) & SSL_SESS_CACHE_SERVER) == 0) return false;
  // A TLS 1.2 session sent as an RFC 5077 ticket has no session ID, and an entry needs one.
  unsigned int id_length = 0;
  SSL_SESSION* session = SSL_get_session(ssl);
  if (session == nullptr || SSL_SESSION_get_id(session, &id_length) == nullptr || id_length == 0) {
    return false;
  }
  if (SSL_version(ssl) != TLS1_3_VERSION) return true;
  return (SSL_get_options(ssl) & SSL_OP_NO_TICKET) != 0;
}

}  // namespace tlslab
