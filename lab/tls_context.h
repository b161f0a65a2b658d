// SSL_CTX construction from TlsConfig: one place where each TLS knob becomes OpenSSL calls.
#pragma once

#include <cstddef>
#include <cstdio>
#include <mutex>

#include "lab/config.h"
#include "lab/ossl.h"

namespace tlslab {

// A certificate and its key, shared by many backends (generating an RSA key per backend
// would cost seconds at 5,000 backends and changes nothing this lab measures).
struct Credentials {
  X509Ptr cert;
  EvpPkeyPtr key;
};

// From tls.cert_file/key_file, or a fresh in-memory self-signed certificate of tls.key.
// Throws UsageError for unreadable files, RuntimeError for OpenSSL failures.
Credentials LoadOrMakeCredentials(const TlsConfig& tls);

// A server context: its own session cache (SSL_SESS_CACHE_SERVER), the version range of
// tls.version, tickets per tls.tickets (and the profile), session cache per tls.session_cache.
SslCtxPtr MakeServerContext(const TlsConfig& tls, const Credentials& creds, bool tickets_supported);

// --session-timeout on a server context shared by many backends (unset: OpenSSL's default
// stays), whose cache is left unbounded; returns the entries one backend may hold: --cache-size,
// else OpenSSL's default for a context of its own (servers/backend_sessions.h bounds them).
size_t ApplySessionLimits(SSL_CTX* ctx, const ServerConfig& server);

// A client context: no verification (HAProxy checks ran with `verify none`), client-side
// session caching so that the new-session callback fires, tickets offered per tls.tickets.
SslCtxPtr MakeClientContext(const TlsConfig& tls);

// A file of TLS secrets in the SSLKEYLOGFILE format (NSS key log), so that a capture opens
// decrypted in Wireshark. Shared by every context of a process; writes are serialised.
class KeylogFile {
 public:
  explicit KeylogFile(const std::string& path);  // throws UsageError if it cannot be opened
  ~KeylogFile();
  KeylogFile(const KeylogFile&) = delete;
  KeylogFile& operator=(const KeylogFile&) = delete;
  void Attach(SSL_CTX* ctx);  // every connection of ctx writes its secrets here
  void Write(const char* line);

 private:
  std::FILE* file_;
  std::mutex mutex_;
};

}  // namespace tlslab
