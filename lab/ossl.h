// RAII for OpenSSL objects and the habit of draining the error queue after every failed call.
#pragma once

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <memory>
#include <string>

namespace tlslab {

template <auto Free>
struct OsslDeleter {
  template <typename T>
  void operator()(T* p) const {
    Free(p);
  }
};

using SslCtxPtr = std::unique_ptr<SSL_CTX, OsslDeleter<SSL_CTX_free>>;
using SslPtr = std::unique_ptr<SSL, OsslDeleter<SSL_free>>;
using SslSessionPtr = std::unique_ptr<SSL_SESSION, OsslDeleter<SSL_SESSION_free>>;
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, OsslDeleter<EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, OsslDeleter<X509_free>>;
using BioPtr = std::unique_ptr<BIO, OsslDeleter<BIO_free_all>>;

// Empties OpenSSL's error queue into one line ("" when it was empty).
std::string DrainOpensslErrors();

// The OpenSSL library version string, stamped into results.
std::string OpensslVersion();

// A copy of a client session without the server's certificate, or nullptr when it has none
// (or cannot be re-encoded). A client that does not verify needs only what resumes the session
// (version, cipher, secret, ticket, lifetime); the parsed certificate costs about 4 KB a
// session, and a checker keeps one session per backend. The copy goes through the
// session's DER encoding (ssl/ssl_asn1.c SSL_SESSION_ASN1) with its `peer [3]` element taken
// out; the chain (peer_chain) is never encoded. Resumption with the copy sends the same
// session ID or ticket; only SSL_get_peer_certificate on the resumed connection is empty.
SslSessionPtr CopyWithoutPeerCertificate(SSL_SESSION* session);

}  // namespace tlslab
