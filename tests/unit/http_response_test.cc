// The one HTTP response reader (lab/http_response.h): framing by Content-Length, chunked and
// close (RFC 9112 6.3), any split of the bytes across reads, the caps, and malformed input.
#include "lab/http_response.h"

#include <gtest/gtest.h>

#include <string>

namespace tlslab {
namespace {

// Feeds `bytes` in pieces of `step` bytes, as reads of that size would deliver them.
HttpState FeedInSteps(HttpResponseReader& r, std::string_view bytes, size_t step) {
  for (size_t i = 0; i < bytes.size(); i += step) r.Feed(bytes.substr(i, step));
  return r.state();
}

constexpr std::string_view kOk =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nOK\n";
constexpr std::string_view kChunked =
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    "4\r\nWiki\r\n5;ext=1\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-Trailer: 1\r\n\r\n";

TEST(HttpResponse, ContentLengthCompletesOnTheLastBodyByte) {
  HttpResponseReader r;
  EXPECT_EQ(r.Feed(kOk.substr(0, kOk.size() - 1)), HttpState::kIncomplete);
  EXPECT_TRUE(r.headers_done());
  EXPECT_EQ(r.framing(), HttpFraming::kLength);
  EXPECT_EQ(r.Feed(kOk.substr(kOk.size() - 1)), HttpState::kComplete);
  EXPECT_EQ(r.status(), 200);
  EXPECT_EQ(r.body_bytes(), 3u);
}

TEST(HttpResponse, EverySplitGivesTheSameAnswer) {
  for (std::string_view response : {kOk, kChunked}) {
    for (size_t step = 1; step <= response.size(); ++step) {
      HttpResponseReader r;
      ASSERT_EQ(FeedInSteps(r, response, step), HttpState::kComplete)
          << "step " << step << ": " << r.detail();
      EXPECT_EQ(r.status(), 200);
    }
  }
}

TEST(HttpResponse, ChunkedCountsTheDecodedBodyAndNeedsTheLastChunk) {
  HttpResponseReader r;
  const size_t last = kChunked.find("0\r\n");
  EXPECT_EQ(r.Feed(kChunked.substr(0, last)), HttpState::kIncomplete);
  EXPECT_EQ(r.framing(), HttpFraming::kChunked);
  EXPECT_EQ(r.Feed(kChunked.substr(last)), HttpState::kComplete);
  EXPECT_EQ(r.body_bytes(), 23u);  // "Wikipedia in\r\n\r\nchunks."
}

TEST(HttpResponse, ChunkedWinsOverContentLength) {
  HttpResponseReader r;
  r.Feed("HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
  EXPECT_EQ(r.state(), HttpState::kComplete);
}

TEST(HttpResponse, WithoutFramingTheBodyEndsAtTheClose) {
  HttpResponseReader r;
  EXPECT_EQ(r.Feed("HTTP/1.0 200 OK\r\nConnection: close\r\n\r\nhello"), HttpState::kIncomplete);
  EXPECT_EQ(r.framing(), HttpFraming::kUntilClose);
  EXPECT_TRUE(r.connection_close());
  EXPECT_EQ(r.OnEof(), HttpState::kComplete);
  EXPECT_EQ(r.body_bytes(), 5u);
}

TEST(HttpResponse, NoBodyFor204And304AndAnEofBeforeTheLengthIsNotComplete) {
  for (std::string_view head : {"HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n",
                                "HTTP/1.1 304 Not Modified\r\n\r\n"}) {
    HttpResponseReader r;
    EXPECT_EQ(r.Feed(head), HttpState::kComplete) << head;
  }
  HttpResponseReader r;
  r.Feed("HTTP/1.1 503 Busy\r\nContent-Length: 10\r\n\r\nshort");
  EXPECT_EQ(r.OnEof(), HttpState::kIncomplete);
  EXPECT_EQ(r.status(), 503);
}

TEST(HttpResponse, BytesAfterACompleteResponseAreIgnored) {
  HttpResponseReader r;
  r.Feed(std::string(kOk) + "HTTP/1.1 500 Oops\r\n\r\n");
  EXPECT_EQ(r.state(), HttpState::kComplete);
  EXPECT_EQ(r.status(), 200);
}

TEST(HttpResponse, AnEndlessHeaderIsTooLargeAtTheCap) {
  HttpResponseReader r(HttpLimits{.max_header_bytes = 1024, .max_body_bytes = 1024});
  r.Feed("HTTP/1.1 200 OK\r\n");
  const std::string line = "X-Filler: " + std::string(50, 'a') + "\r\n";
  size_t fed = 17;
  while (r.state() == HttpState::kIncomplete && fed < 100000) {
    r.Feed(line);
    fed += line.size();
  }
  EXPECT_EQ(r.state(), HttpState::kTooLarge);
  EXPECT_LE(fed, 1024 + line.size());
  EXPECT_NE(r.detail().find("header"), std::string::npos) << r.detail();
}

TEST(HttpResponse, AnEndlessBodyIsTooLargeWhateverItsFraming) {
  const HttpLimits limits{.max_header_bytes = 1024, .max_body_bytes = 4096};
  {  // announced: refused before a body byte arrives
    HttpResponseReader r(limits);
    EXPECT_EQ(r.Feed("HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n"),
              HttpState::kTooLarge);
  }
  {  // until close
    HttpResponseReader r(limits);
    r.Feed("HTTP/1.1 200 OK\r\n\r\n");
    for (int i = 0; i < 100 && r.state() == HttpState::kIncomplete; ++i) {
      r.Feed(std::string(1000, 'x'));
    }
    EXPECT_EQ(r.state(), HttpState::kTooLarge);
    EXPECT_EQ(r.OnEof(), HttpState::kTooLarge);  // a close does not make it complete
  }
  {  // chunked: a chunk announced over the cap, and many small chunks
    HttpResponseReader r(limits);
    EXPECT_EQ(r.Feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFF\r\n"),
              HttpState::kTooLarge);
    HttpResponseReader small(limits);
    small.Feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 1000 && small.state() == HttpState::kIncomplete; ++i) {
      small.Feed("10\r\n0123456789abcdef\r\n");
    }
    EXPECT_EQ(small.state(), HttpState::kTooLarge);
    EXPECT_LE(small.body_bytes(), 4096u + 16u);
  }
}

TEST(HttpResponse, NotHttpIsToldFromTheFirstBytes) {
  HttpResponseReader r;
  EXPECT_EQ(r.Feed("SSH-2.0-OpenSSH\r\n"), HttpState::kNotHttp);
  EXPECT_EQ(r.FirstBytes(7), "SSH-2.0");
  HttpResponseReader partial;
  EXPECT_EQ(partial.Feed("HT"), HttpState::kIncomplete);  // could still be HTTP
  EXPECT_EQ(partial.Feed("ML"), HttpState::kNotHttp);
}

TEST(HttpResponse, MalformedInputIsMalformedNeverACrash) {
  for (std::string_view bad : {
           "HTTP/1.1 2x0 OK\r\n\r\n",
           "HTTP/1.1 200OK\r\n\r\n",
           "HTTP/1.1 099 Low\r\n\r\n",
           "HTTP/x\r\n\r\n",
           "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
           "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
           "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
           "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
           "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n",
           "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\n",
       }) {
    HttpResponseReader r;
    EXPECT_EQ(r.Feed(bad), HttpState::kMalformed) << bad;
    EXPECT_FALSE(r.detail().empty());
  }
}

TEST(HttpResponse, HostHeaderKeepsIpv6BracketsAndDropsThePort) {
  EXPECT_EQ(HostHeader("[::1]:8443", true), "[::1]");
  EXPECT_EQ(HostHeader("127.0.0.1:8443", true), "127.0.0.1");
  EXPECT_EQ(HostHeader("localhost:8443", true), "localhost");
  EXPECT_EQ(HostHeader("backend.example", false), "backend.example");
  EXPECT_EQ(HostHeader("::1", false), "[::1]");
  EXPECT_EQ(HttpGetRequest("/health", "[::1]", "t"),
            "GET /health HTTP/1.1\r\nHost: [::1]\r\nUser-Agent: t\r\n\r\n");
}

}  // namespace
}  // namespace tlslab
