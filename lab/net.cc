#include "lab/net.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "lab/errors.h"
#include "lab/text.h"

namespace tlslab {

int Endpoint::port() const {
  if (addr.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_port);
  }
  return ntohs(reinterpret_cast<const sockaddr_in*>(&addr)->sin_port);
}

Endpoint MakeEndpoint(const std::string& host, int port) {
  Endpoint ep;
  ep.text =
      (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  std::string service = std::to_string(port);
  if (getaddrinfo(host.c_str(), service.c_str(), &hints, &res) != 0 || res == nullptr) {
    throw UsageError("cannot resolve host '" + host + "'; give an address such as 127.0.0.1");
  }
  std::memcpy(&ep.addr, res->ai_addr, res->ai_addrlen);
  ep.len = res->ai_addrlen;
  freeaddrinfo(res);
  return ep;
}

Endpoint ParseHostPort(std::string_view text) {
  // Before anything quotes it: a NUL would truncate the host silently (getaddrinfo reads a C
  // string) and invalid UTF-8 would break the JSON result.
  RequireText("target", text);
  // Built by appending: GCC 12 at -O3 reports a false -Wrestrict for "literal" + std::string
  // (GCC bug 105329).
  const std::string want =
      std::string("'").append(text).append("' is not HOST:PORT (e.g. 127.0.0.1:8443)");
  std::string host;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      throw UsageError(want);
    }
    host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos || colon == 0) throw UsageError(want);
    host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
  }
  int port = 0;
  for (char ch : port_text) {
    if (ch < '0' || ch > '9' || port > 65535) throw UsageError(want);
    port = port * 10 + (ch - '0');
  }
  if (port_text.empty() || port < 1 || port > 65535) throw UsageError(want);
  Endpoint ep = MakeEndpoint(host, port);
  ep.text = std::string(text);
  return ep;
}

bool IsLoopback(const Endpoint& at) {
  if (at.addr.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&at.addr);
    return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
  }
  const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&at.addr);
  return at.addr.ss_family == AF_INET6 && IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
}

int Listen(const Endpoint& at, int backlog) {
  int fd = socket(at.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw RuntimeError("cannot open a socket: " + std::string(std::strerror(errno)));
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, reinterpret_cast<const sockaddr*>(&at.addr), at.len) != 0 ||
      listen(fd, backlog) != 0) {
    int err = errno;
    close(fd);
    throw RuntimeError("cannot listen on " + at.text + ": " + std::strerror(err));
  }
  return fd;
}

int LocalPort(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
}

int ConnectNonBlocking(const Endpoint& to, bool first_ack_with_data) {
  int fd = socket(to.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (first_ack_with_data) {
    int zero = 0;
    setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &zero, sizeof zero);
  }
  if (connect(fd, reinterpret_cast<const sockaddr*>(&to.addr), to.len) != 0 &&
      errno != EINPROGRESS) {
    int err = errno;
    close(fd);
    errno = err;
    return -1;
  }
  return fd;
}

int ConnectError(int fd) {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
  return err;
}

void SetLingerZero(int fd) {
  linger lg{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
}

TransportEnd ReadInto(int fd, TlsStream& stream, size_t& bytes) {
  char buf[16384];
  bytes = 0;
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      stream.Feed(buf, static_cast<size_t>(n));
      bytes += static_cast<size_t>(n);
      continue;
    }
    if (n == 0) {
      stream.RecordPeerClose(false);
      return TransportEnd::kEof;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return TransportEnd::kOpen;
    // ECONNRESET, and anything else that kills the connection, ends it as a reset. Data queued
    // before an RST is still read first: the kernel returns it before the error.
    stream.RecordPeerClose(true);
    return TransportEnd::kReset;
  }
}

bool Flush(int fd, TlsStream& stream, std::string& pending) {
  stream.TakeOutput(pending);
  while (!pending.empty()) {
    ssize_t n = send(fd, pending.data(), pending.size(), MSG_NOSIGNAL);
    if (n > 0) {
      stream.RecordSent(pending.data(), static_cast<size_t>(n));
      pending.erase(0, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    const int err = errno;  // for the caller (a refused connect shows here first)
    stream.RecordPeerClose(true);
    errno = err;
    return false;
  }
  return true;
}

DescriptorNeed ServeDescriptors(size_t backends) {
  return {"serve", backends, backends, std::min(backends, kServerInFlightReserve)};
}

DescriptorNeed CheckDescriptors(size_t backends) { return {"check", backends, 0, backends}; }

DescriptorNeed RunDescriptors(size_t backends) { return {"run", backends, backends, 2 * backends}; }

void EnsureFileLimit(const DescriptorNeed& need) {
  const size_t needed = need.total();
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  if (lim.rlim_cur >= needed) return;
  if (lim.rlim_max < needed) {
    std::string parts;
    if (need.listeners > 0) parts += std::to_string(need.listeners) + " listeners + ";
    parts += std::to_string(need.in_flight) + " connections in flight + " +
             std::to_string(kDescriptorMargin) + " for the process";
    throw UsageError(need.who + " with " + std::to_string(need.backends) + " backends needs " +
                     std::to_string(needed) + " descriptors (" + parts +
                     "), but the hard limit (ulimit -Hn) is " + std::to_string(lim.rlim_max) +
                     "; use fewer backends or raise the hard limit");
  }
  lim.rlim_cur = lim.rlim_max;
  setrlimit(RLIMIT_NOFILE, &lim);
}

long CountTimeWaitSockets() {
  long count = 0;
  bool any = false;
  for (const char* path : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(path);
    if (!in) continue;
    any = true;
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      // "  sl  local_address rem_address   st ...": the 4th column is the state; 06 = TIME_WAIT.
      char local[64], remote[64];
      unsigned state = 0;
      if (std::sscanf(line.c_str(), "%*d: %63s %63s %x", local, remote, &state) == 3 &&
          state == 6) {
        ++count;
      }
    }
  }
  return any ? count : -1;
}

}  // namespace tlslab
