#include "lab/http_response.h"

#include <algorithm>

namespace tlslab {
namespace {

// A chunk-size line is a hex number and optional extensions (RFC 9112 7.1.1); none of ours
// needs more than this, and a peer that sends more is sending something else.
constexpr size_t kMaxChunkLine = 1024;
// 16 hex digits is the most a uint64_t holds.
constexpr size_t kMaxChunkDigits = 16;
// Content-Length above 10^18 would overflow the arithmetic; it is too large anyway.
constexpr size_t kMaxLengthDigits = 18;

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool EqualsNoCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

int HexValue(char c) {
  if (IsDigit(c)) return c - '0';
  c = Lower(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// Whether a comma-separated header value names `token` (case-insensitive), e.g.
// "keep-alive, close" names "close".
bool HasToken(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    const size_t comma = value.find(',');
    if (EqualsNoCase(Trim(value.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

// The last coding of a Transfer-Encoding value ("gzip, chunked" -> "chunked").
std::string_view LastCoding(std::string_view value) {
  const size_t comma = value.rfind(',');
  return Trim(comma == std::string_view::npos ? value : value.substr(comma + 1));
}

}  // namespace

std::string_view Name(HttpState s) {
  switch (s) {
    case HttpState::kIncomplete:
      return "incomplete";
    case HttpState::kComplete:
      return "complete";
    case HttpState::kNotHttp:
      return "not-http";
    case HttpState::kMalformed:
      return "malformed";
    case HttpState::kTooLarge:
      return "too-large";
  }
  return "?";
}

HttpState HttpResponseReader::Fail(HttpState s, std::string why) {
  state_ = s;
  detail_ = std::move(why);
  return state_;
}

std::string HttpResponseReader::FirstBytes(size_t n) const {
  std::string out;
  for (char c : std::string_view(head_).substr(0, n)) out += (c >= 0x20 && c < 0x7f) ? c : '.';
  return out;
}

HttpState HttpResponseReader::Feed(std::string_view bytes) {
  if (state_ != HttpState::kIncomplete) return state_;
  if (headers_done()) return BodyBytes(bytes);
  const size_t old = head_.size();
  const size_t take = std::min(bytes.size(), limits_.max_header_bytes - old);
  head_.append(bytes.substr(0, take));
  constexpr std::string_view kHttp = "HTTP/";
  const size_t prefix = std::min(head_.size(), kHttp.size());
  if (std::string_view(head_).substr(0, prefix) != kHttp.substr(0, prefix)) {
    return Fail(HttpState::kNotHttp, "the response is not HTTP");
  }
  const size_t end = head_.find("\r\n\r\n", old >= 3 ? old - 3 : 0);
  if (end == std::string::npos) {
    if (head_.size() >= limits_.max_header_bytes) {
      return Fail(HttpState::kTooLarge, "the response header exceeds " +
                                            std::to_string(limits_.max_header_bytes) + " bytes");
    }
    return state_;
  }
  const size_t used = end + 4 - old;  // bytes of this call that belong to the header
  head_.resize(end + 4);
  if (ParseHead(end) != HttpState::kIncomplete) return state_;
  return BodyBytes(bytes.substr(used));
}

HttpState HttpResponseReader::ParseHead(size_t head_end) {
  std::string_view head = std::string_view(head_).substr(0, head_end);
  const size_t line_end = std::min(head.find("\r\n"), head.size());
  const std::string_view status_line = head.substr(0, line_end);
  // RFC 9112 4: HTTP-version SP 3DIGIT SP [reason-phrase]; HTTP-version is "HTTP/" DIGIT "."
  // DIGIT. A missing reason and its space are tolerated, as most clients do.
  if (status_line.size() < 12 || !IsDigit(status_line[5]) || status_line[6] != '.' ||
      !IsDigit(status_line[7]) || status_line[8] != ' ' || !IsDigit(status_line[9]) ||
      !IsDigit(status_line[10]) || !IsDigit(status_line[11]) ||
      (status_line.size() > 12 && status_line[12] != ' ') || status_line[9] == '0') {
    return Fail(HttpState::kMalformed, "bad status line '" + FirstBytes(32) + "'");
  }
  status_ = (status_line[9] - '0') * 100 + (status_line[10] - '0') * 10 + (status_line[11] - '0');
  bool chunked = false;
  bool has_length = false;
  bool other_coding = false;
  std::string_view rest = line_end < head.size() ? head.substr(line_end + 2) : std::string_view{};
  while (!rest.empty()) {
    const size_t eol = std::min(rest.find("\r\n"), rest.size());
    const std::string_view line = rest.substr(0, eol);
    rest = eol < rest.size() ? rest.substr(eol + 2) : std::string_view{};
    if (line.empty() || line.front() == ' ' || line.front() == '\t')
      continue;  // obs-fold (9112 5.2)
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      return Fail(HttpState::kMalformed, "a header line without a field name");
    }
    const std::string_view name = line.substr(0, colon);
    const std::string_view value = Trim(line.substr(colon + 1));
    if (EqualsNoCase(name, "content-length")) {
      uint64_t n = 0;
      if (value.empty() || value.size() > kMaxLengthDigits ||
          !std::all_of(value.begin(), value.end(), IsDigit)) {
        return Fail(HttpState::kMalformed, "bad Content-Length");
      }
      for (char c : value) n = n * 10 + static_cast<uint64_t>(c - '0');
      // RFC 9112 6.3 rule 5: differing lengths make the framing unknowable.
      if (has_length && n != content_length_) {
        return Fail(HttpState::kMalformed, "conflicting Content-Length");
      }
      has_length = true;
      content_length_ = n;
    } else if (EqualsNoCase(name, "transfer-encoding")) {
      chunked = EqualsNoCase(LastCoding(value), "chunked");
      other_coding = !chunked;
    } else if (EqualsNoCase(name, "connection")) {
      connection_close_ = connection_close_ || HasToken(value, "close");
    }
  }
  // RFC 9112 6.3: no body after 1xx, 204 and 304 (rule 1); chunked wins over a length
  // (rule 3); another coding means "until close" (rule 4); then the length (rule 6); then
  // the close (rule 8).
  if (status_ < 200 || status_ == 204 || status_ == 304) {
    framing_ = HttpFraming::kNone;
    state_ = HttpState::kComplete;
  } else if (chunked) {
    framing_ = HttpFraming::kChunked;
  } else if (other_coding) {
    framing_ = HttpFraming::kUntilClose;
  } else if (has_length) {
    framing_ = HttpFraming::kLength;
    if (content_length_ > limits_.max_body_bytes) {
      return Fail(HttpState::kTooLarge, "Content-Length " + std::to_string(content_length_) +
                                            " exceeds " + std::to_string(limits_.max_body_bytes) +
                                            " bytes");
    }
    if (content_length_ == 0) state_ = HttpState::kComplete;
  } else {
    framing_ = HttpFraming::kUntilClose;
  }
  return state_;
}

HttpState HttpResponseReader::CountBody(uint64_t n) {
  body_bytes_ += n;
  if (body_bytes_ > limits_.max_body_bytes) {
    return Fail(HttpState::kTooLarge,
                "the response body exceeds " + std::to_string(limits_.max_body_bytes) + " bytes");
  }
  return state_;
}

HttpState HttpResponseReader::BodyBytes(std::string_view bytes) {
  if (state_ != HttpState::kIncomplete) return state_;
  switch (framing_) {
    case HttpFraming::kLength: {
      const uint64_t n = std::min<uint64_t>(bytes.size(), content_length_ - body_bytes_);
      body_bytes_ += n;
      if (body_bytes_ == content_length_) state_ = HttpState::kComplete;
      return state_;
    }
    case HttpFraming::kUntilClose:
      return CountBody(bytes.size());
    case HttpFraming::kChunked:
      return Chunked(bytes);
    case HttpFraming::kNone:
    case HttpFraming::kUnknown:
      break;
  }
  return state_;
}

// RFC 9112 7.1: chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF; last-chunk is a size of
// 0, then trailer fields and an empty line.
HttpState HttpResponseReader::Chunked(std::string_view bytes) {
  size_t i = 0;
  while (i < bytes.size() && state_ == HttpState::kIncomplete) {
    switch (chunk_step_) {
      case ChunkStep::kData: {
        const uint64_t n = std::min<uint64_t>(chunk_left_, bytes.size() - i);
        i += static_cast<size_t>(n);
        chunk_left_ -= n;
        if (chunk_left_ == 0) chunk_step_ = ChunkStep::kDataEnd;
        break;
      }
      case ChunkStep::kDataEnd:
        line_ += bytes[i++];
        if (line_.size() == 2) {
          if (line_ != "\r\n") return Fail(HttpState::kMalformed, "chunk data without CRLF");
          line_.clear();
          chunk_step_ = ChunkStep::kSize;
        }
        break;
      case ChunkStep::kSize:
      case ChunkStep::kTrailer: {
        const size_t nl = bytes.find('\n', i);
        const size_t stop = nl == std::string_view::npos ? bytes.size() : nl + 1;
        line_.append(bytes.substr(i, stop - i));
        i = stop;
        if (line_.size() > kMaxChunkLine) {
          return Fail(HttpState::kTooLarge,
                      "a chunk line exceeds " + std::to_string(kMaxChunkLine) + " bytes");
        }
        if (nl == std::string_view::npos) break;
        if (line_.size() < 2 || line_[line_.size() - 2] != '\r') {
          return Fail(HttpState::kMalformed, "a chunk line without CRLF");
        }
        const std::string_view line(line_.data(), line_.size() - 2);
        if (chunk_step_ == ChunkStep::kTrailer) {
          trailer_bytes_ += line_.size();
          if (trailer_bytes_ > limits_.max_header_bytes) {
            return Fail(
                HttpState::kTooLarge,
                "the trailer exceeds " + std::to_string(limits_.max_header_bytes) + " bytes");
          }
          if (line.empty()) state_ = HttpState::kComplete;
          line_.clear();
          break;
        }
        uint64_t size = 0;
        size_t digits = 0;
        while (digits < line.size() && HexValue(line[digits]) >= 0) {
          if (digits == kMaxChunkDigits) {
            return Fail(HttpState::kTooLarge, "a chunk size over 16 hex digits");
          }
          size = size * 16 + static_cast<uint64_t>(HexValue(line[digits]));
          ++digits;
        }
        const char after = digits < line.size() ? line[digits] : ';';
        if (digits == 0 || (after != ';' && after != ' ' && after != '\t')) {
          return Fail(HttpState::kMalformed, "bad chunk size");
        }
        line_.clear();
        if (size == 0) {
          chunk_step_ = ChunkStep::kTrailer;
          break;
        }
        // Counted before the data arrives: a peer announcing a huge chunk is refused at once.
        if (CountBody(size) != HttpState::kIncomplete) return state_;
        chunk_left_ = size;
        chunk_step_ = ChunkStep::kData;
        break;
      }
    }
  }
  return state_;
}

HttpState HttpResponseReader::OnEof() {
  if (state_ == HttpState::kIncomplete && framing_ == HttpFraming::kUntilClose) {
    state_ = HttpState::kComplete;
  }
  return state_;
}

std::string HostHeader(std::string_view text, bool has_port) {
  std::string_view host = text;
  if (has_port) {
    if (!text.empty() && text.front() == '[') {
      const size_t close = text.find(']');
      host = close == std::string_view::npos ? text : text.substr(0, close + 1);
    } else if (const size_t colon = text.rfind(':'); colon != std::string_view::npos) {
      host = text.substr(0, colon);
    }
  }
  // A bare IPv6 literal (it has a colon) gets its brackets.
  if (!host.empty() && host.find(':') != std::string_view::npos && host.front() != '[') {
    return std::string("[").append(host).append("]");  // GCC 12 -Wrestrict (bug 105329)
  }
  return std::string(host);
}

std::string HttpGetRequest(std::string_view path, std::string_view host,
                           std::string_view user_agent) {
  std::string out = "GET ";
  out.append(path).append(" HTTP/1.1\r\nHost: ").append(host);
  out.append("\r\nUser-Agent: ").append(user_agent).append("\r\n\r\n");
  return out;
}

}  // namespace tlslab
