#include "lab/tls_stream.h"

namespace tlslab {

TlsStream::TlsStream(SslPtr ssl) : ssl_(std::move(ssl)) {
  in_ = BIO_new(BIO_s_mem());
  out_ = BIO_new(BIO_s_mem());
  // An empty input BIO means "no data yet" (retry), never EOF: only the socket knows the end.
  BIO_set_mem_eof_return(in_, -1);
  BIO_set_mem_eof_return(out_, -1);
  SSL_set_bio(ssl_.get(), in_, out_);
}

void TlsStream::Feed(const char* data, size_t size) {
  if (size == 0) return;
  if (tap_) tap_->Received({data, size});
  BIO_write(in_, data, static_cast<int>(size));
}

size_t TlsStream::TakeOutput(std::string& out) {
  char* data = nullptr;
  long size = BIO_get_mem_data(out_, &data);
  if (size <= 0) return 0;
  out.append(data, static_cast<size_t>(size));
  (void)BIO_reset(out_);
  return static_cast<size_t>(size);
}

}  // namespace tlslab
