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

}  // namespace tlslab
