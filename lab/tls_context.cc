#include "lab/tls_context.h"

#include <fcntl.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "lab/errors.h"

namespace tlslab {
namespace {

// The session ID context ties cached sessions to this application (SSL_CTX_set_session_id_context
// is required for server-side caching with client certificates; harmless without).
constexpr unsigned char kSessionIdContext[] = "tlslab";

[[noreturn]] void Fail(const std::string& what) {
  throw RuntimeError(what + ": " + DrainOpensslErrors());
}

EvpPkeyPtr MakeKey(KeyType type) {
  EVP_PKEY* key = nullptr;
  switch (type) {
    case KeyType::kRsa2048:
      key = EVP_RSA_gen(2048);
      break;
    case KeyType::kP256:
      key = EVP_EC_gen("P-256");
      break;
  }
  if (key == nullptr) Fail("key generation");
  return EvpPkeyPtr(key);
}

X509Ptr MakeSelfSigned(EVP_PKEY* key) {
  X509Ptr cert(X509_new());
  if (!cert) Fail("X509_new");
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 365L * 24 * 3600);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("tlslab"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  if (X509_sign(cert.get(), key, EVP_sha256()) == 0) Fail("X509_sign");
  return cert;
}

int MinVersion(TlsVersion v) {
  switch (v) {
    case TlsVersion::kAuto:
      return TLS1_2_VERSION;
    case TlsVersion::kTls12:
      return TLS1_2_VERSION;
    case TlsVersion::kTls13:
      return TLS1_3_VERSION;
  }
  return TLS1_2_VERSION;
}

int MaxVersion(TlsVersion v) {
  switch (v) {
    case TlsVersion::kAuto:
      return TLS1_3_VERSION;
    case TlsVersion::kTls12:
      return TLS1_2_VERSION;
    case TlsVersion::kTls13:
      return TLS1_3_VERSION;
  }
  return TLS1_3_VERSION;
}

void SetVersions(SSL_CTX* ctx, TlsVersion v) {
  if (SSL_CTX_set_min_proto_version(ctx, MinVersion(v)) != 1 ||
      SSL_CTX_set_max_proto_version(ctx, MaxVersion(v)) != 1) {
    Fail("setting the TLS version range");
  }
}

}  // namespace

Credentials LoadOrMakeCredentials(const TlsConfig& tls) {
  Credentials creds;
  if (tls.cert_file.empty()) {
    creds.key = MakeKey(tls.key);
    creds.cert = MakeSelfSigned(creds.key.get());
    return creds;
  }
  BioPtr cert_bio(BIO_new_file(tls.cert_file.c_str(), "r"));
  if (!cert_bio) throw UsageError("--cert: cannot read '" + tls.cert_file + "'");
  creds.cert.reset(PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr));
  BioPtr key_bio(BIO_new_file(tls.key_file.c_str(), "r"));
  if (!key_bio) throw UsageError("--key-file: cannot read '" + tls.key_file + "'");
  // No passphrase callback would make OpenSSL prompt on the terminal (PEM_def_callback), once
  // per read: this one answers "no passphrase" and notes that one was asked for.
  bool encrypted = false;
  creds.key.reset(PEM_read_bio_PrivateKey(
      key_bio.get(), nullptr,
      [](char*, int, int, void* asked) {
        *static_cast<bool*>(asked) = true;
        return -1;
      },
      &encrypted));
  ERR_clear_error();
  if (encrypted) {
    throw UsageError("--key-file: '" + tls.key_file +
                     "' is encrypted; give an unencrypted key (openssl pkey -in KEY -out PLAIN)");
  }
  if (!creds.cert) throw UsageError("--cert: '" + tls.cert_file + "' holds no PEM certificate");
  if (!creds.key) throw UsageError("--key-file: '" + tls.key_file + "' holds no PEM private key");
  if (X509_check_private_key(creds.cert.get(), creds.key.get()) != 1) {
    ERR_clear_error();
    throw UsageError("--key-file: the key does not match the certificate in --cert");
  }
  return creds;
}

SslCtxPtr MakeServerContext(const TlsConfig& tls, const Credentials& creds,
                            bool tickets_supported) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) Fail("SSL_CTX_new");
  SetVersions(ctx.get(), tls.version);
  if (SSL_CTX_use_certificate(ctx.get(), creds.cert.get()) != 1 ||
      SSL_CTX_use_PrivateKey(ctx.get(), creds.key.get()) != 1) {
    Fail("loading the certificate");
  }
  SSL_CTX_set_session_id_context(ctx.get(), kSessionIdContext, sizeof kSessionIdContext - 1);
  // Sessions are only ever removed by the profile, explicitly: SSL_CTX_remove_session in the
  // server engine. The cache keeps the OpenSSL default size (SSL_SESSION_CACHE_MAX_SIZE_DEFAULT).
  SSL_CTX_set_session_cache_mode(ctx.get(),
                                 tls.session_cache ? SSL_SESS_CACHE_SERVER : SSL_SESS_CACHE_OFF);
  // SSL_OP_NO_TICKET: TLS 1.2 resumes by session ID only; TLS 1.3 issues stateful tickets that
  // name a cache entry (OpenSSL commit 7e4d731b1c07).
  if (!tls.tickets || !tickets_supported) SSL_CTX_set_options(ctx.get(), SSL_OP_NO_TICKET);
  return ctx;
}

size_t ApplySessionLimits(SSL_CTX* ctx, const ServerConfig& server) {
  // SSL_CTX_set_timeout(3): sessions older than this are not resumed (TLS 1.2 counts from the
  // full handshake; a TLS 1.3 ticket carries it as its lifetime hint, RFC 8446 4.6.1).
  // SSL_CTX_sess_set_cache_size(3): 0 is no limit; each backend's share is bounded apart, its
  // oldest entries leaving as they would leave a full cache of its own.
  if (server.session_timeout) {
    SSL_CTX_set_timeout(ctx, static_cast<long>(server.session_timeout->count() / 1000));
  }
  SSL_CTX_sess_set_cache_size(ctx, 0);
  return server.cache_size ? static_cast<size_t>(*server.cache_size)
                           : size_t{SSL_SESSION_CACHE_MAX_SIZE_DEFAULT};
}

SslCtxPtr MakeClientContext(const TlsConfig& tls) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) Fail("SSL_CTX_new");
  SetVersions(ctx.get(), tls.version);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  // Client caching on, internal store off: the application keeps one session per backend
  // from the new-session callback, as HAProxy does (reused_sess).
  SSL_CTX_set_session_cache_mode(ctx.get(),
                                 SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  if (!tls.tickets) SSL_CTX_set_options(ctx.get(), SSL_OP_NO_TICKET);
  return ctx;
}

KeylogFile::KeylogFile(const std::string& path) : file_(nullptr) {
  // TLS secrets: a new file is 0600, a planted symlink is not followed (O_NOFOLLOW), and only
  // a regular file is written (O_NONBLOCK: opening a FIFO without a reader fails instead of
  // blocking).
  const int fd =
      open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
  if (fd < 0) {
    throw UsageError("--keylog: cannot open '" + path + "' for writing: " + std::strerror(errno));
  }
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    throw UsageError("--keylog: '" + path + "' is not a regular file");
  }
  // An existing key log readable by others: secrets appended to it would be too.
  if ((st.st_mode & 077) != 0 && st.st_uid == geteuid()) fchmod(fd, st.st_mode & 0700);
  file_ = fdopen(fd, "a");
  if (file_ == nullptr) {
    close(fd);
    throw UsageError("--keylog: cannot open '" + path + "' for writing");
  }
}

KeylogFile::~KeylogFile() { std::fclose(file_); }

namespace {
int KeylogIndex() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}
}  // namespace

void KeylogFile::Attach(SSL_CTX* ctx) {
  SSL_CTX_set_ex_data(ctx, KeylogIndex(), this);
  SSL_CTX_set_keylog_callback(ctx, [](const SSL* ssl, const char* line) {
    auto* self = static_cast<KeylogFile*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), KeylogIndex()));
    if (self != nullptr) self->Write(line);
  });
}

void KeylogFile::Write(const char* line) {
  std::lock_guard lock(mutex_);
  std::fputs(line, file_);
  std::fputc('\n', file_);
  std::fflush(file_);
}

}  // namespace tlslab
