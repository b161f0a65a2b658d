#include "lab/ossl.h"

#include <openssl/crypto.h>
#include <openssl/err.h>

namespace tlslab {

std::string DrainOpensslErrors() {
  std::string out;
  char buf[256];
  while (unsigned long e = ERR_get_error()) {
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out;
}

std::string OpensslVersion() { return OpenSSL_version(OPENSSL_VERSION); }

namespace {

// One DER element at p (X.690 8.1): its header length and content length, for a one-byte tag
// and definite lengths (DER has no other). False when it does not fit in `avail`.
bool ReadElement(const unsigned char* p, size_t avail, size_t& header, size_t& content) {
  if (avail < 2) return false;
  size_t len = p[1];
  header = 2;
  if (len & 0x80) {
    const size_t bytes = len & 0x7f;
    if (bytes == 0 || bytes > 4 || avail < 2 + bytes) return false;
    len = 0;
    for (size_t i = 0; i < bytes; ++i) len = (len << 8) | p[2 + i];
    header += bytes;
  }
  content = len;
  return header + content <= avail;
}

void AppendLength(std::string& out, size_t len) {
  if (len < 0x80) {
    out.push_back(static_cast<char>(len));
    return;
  }
  std::string bytes;
  for (size_t v = len; v > 0; v >>= 8) bytes.insert(bytes.begin(), static_cast<char>(v & 0xff));
  out.push_back(static_cast<char>(0x80 | bytes.size()));
  out += bytes;
}

}  // namespace

SslSessionPtr CopyWithoutPeerCertificate(SSL_SESSION* session) {
  if (SSL_SESSION_get0_peer(session) == nullptr) return nullptr;
  const int size = i2d_SSL_SESSION(session, nullptr);
  if (size <= 0 || size > 64 * 1024) return nullptr;
  std::string der(static_cast<size_t>(size), '\0');
  auto* at = reinterpret_cast<unsigned char*>(der.data());
  if (i2d_SSL_SESSION(session, &at) != size) return nullptr;
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  size_t header = 0, content = 0;
  if (p[0] != 0x30 || !ReadElement(p, der.size(), header, content)) return nullptr;
  // The SEQUENCE's elements, all but the peer certificate: [3] EXPLICIT, constructed (0xa3).
  std::string body;
  for (size_t off = header; off < header + content;) {
    size_t h = 0, c = 0;
    if (!ReadElement(p + off, header + content - off, h, c)) return nullptr;
    if (p[off] != 0xa3) body.append(der, off, h + c);
    off += h + c;
  }
  std::string out(1, '\x30');
  AppendLength(out, body.size());
  out += body;
  const auto* in = reinterpret_cast<const unsigned char*>(out.data());
  SslSessionPtr copy(d2i_SSL_SESSION(nullptr, &in, static_cast<long>(out.size())));
  if (!copy) DrainOpensslErrors();
  return copy;
}

}  // namespace tlslab
