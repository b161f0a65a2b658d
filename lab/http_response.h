// The one HTTP/1.x response reader of the lab's clients (the checker's http check and the
// probe's --http): bytes in, state out, no I/O, so that a fuzz target or a unit test can drive
// it with any split of any bytes.
//
// Bounded by construction: the header is kept up to a cap, the body is
// counted and never stored, and a peer that exceeds either cap ends in kTooLarge, which the
// caller counts as its own failure reason (response_too_large). Framing follows RFC 9112
// section 6.3: Transfer-Encoding chunked wins over Content-Length; without either the body
// runs until the server closes (OnEof). Responses without a body (1xx, 204, 304; RFC 9112
// 6.3 rule 1) end with their header.
//
// Also here, so that it is written once: the request line and the Host header of a check.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tlslab {

struct HttpLimits {
  // A header larger than this is not a health-check answer. 16 KiB: HAProxy's default
  // tune.bufsize, the most a check response can hold there.
  size_t max_header_bytes = 16 * 1024;
  // The body is counted, not kept; a check has no use for a large one.
  uint64_t max_body_bytes = 1024 * 1024;
};

enum class HttpState {
  kIncomplete,  // more bytes are needed
  kComplete,    // a whole response (status() says which)
  kNotHttp,     // the bytes do not start with "HTTP/"
  kMalformed,   // HTTP, but a status line, header or chunk that cannot be parsed
  kTooLarge,    // the header or the body exceeded its cap
};
std::string_view Name(HttpState s);

// How the body's end is known (RFC 9112 6.3).
enum class HttpFraming { kUnknown, kNone, kLength, kChunked, kUntilClose };

class HttpResponseReader {
 public:
  explicit HttpResponseReader(HttpLimits limits = {}) : limits_(limits) {}

  // Consumes bytes that arrived; returns the state after them. Once the state is not
  // kIncomplete, further bytes are ignored (the state stays). Bytes after a complete response
  // are ignored too: a check sends one request and reads one response.
  HttpState Feed(std::string_view bytes);
  // The server closed the connection: completes a response delimited by the close; anything
  // else still incomplete stays kIncomplete (the caller tells "closed early" itself).
  HttpState OnEof();

  HttpState state() const { return state_; }
  int status() const { return status_; }  // 0 until the status line is parsed
  bool headers_done() const { return framing_ != HttpFraming::kUnknown; }
  HttpFraming framing() const { return framing_; }
  bool connection_close() const { return connection_close_; }  // "Connection: close"
  uint64_t body_bytes() const { return body_bytes_; }
  // Why the state is kNotHttp, kMalformed or kTooLarge, in a few words.
  const std::string& detail() const { return detail_; }
  // The first bytes that arrived, printable, for messages ("HTTP/1.1 200 OK..." or "SSH-2.0").
  std::string FirstBytes(size_t n = 16) const;

 private:
  HttpState Fail(HttpState s, std::string why);
  HttpState ParseHead(size_t head_end);
  HttpState BodyBytes(std::string_view bytes);
  HttpState Chunked(std::string_view bytes);
  HttpState CountBody(uint64_t n);

  enum class ChunkStep { kSize, kData, kDataEnd, kTrailer };

  HttpLimits limits_;
  HttpState state_ = HttpState::kIncomplete;
  std::string head_;  // the status line and header fields, up to max_header_bytes
  std::string detail_;
  int status_ = 0;
  HttpFraming framing_ = HttpFraming::kUnknown;
  bool connection_close_ = false;
  uint64_t content_length_ = 0;
  uint64_t body_bytes_ = 0;
  ChunkStep chunk_step_ = ChunkStep::kSize;
  std::string line_;          // the chunk-size or trailer line being read
  uint64_t chunk_left_ = 0;   // data bytes left in the current chunk
  size_t trailer_bytes_ = 0;  // counted against max_header_bytes
};

// The Host header value for a target given as HOST:PORT ("[::1]:8443" -> "[::1]",
// "localhost:8443" -> "localhost") or for an SNI name. An IPv6 literal keeps its brackets:
// RFC 9110 7.2 and RFC 3986 3.2.2 make uri-host an IP-literal in brackets.
std::string HostHeader(std::string_view host_port_or_name, bool has_port);

// "GET <path> HTTP/1.1" with Host and User-Agent, no "Connection: close": the server leaves the
// closing to the client, as it does for HAProxy's httpchk over HTTP/1.1.
std::string HttpGetRequest(std::string_view path, std::string_view host,
                           std::string_view user_agent);

}  // namespace tlslab
