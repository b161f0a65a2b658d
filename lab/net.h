// Sockets: addresses, listeners, non-blocking connects, the two ways a check can end on TCP
// (FIN or RST), and the pump between a socket and a TlsStream.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <string>
#include <string_view>

#include "lab/close_kind.h"
#include "lab/tls_stream.h"

namespace tlslab {

struct Endpoint {
  sockaddr_storage addr{};
  socklen_t len = 0;
  std::string text;  // as given, for messages
  int port() const;
};

// "127.0.0.1:8443", "[::1]:8443", "localhost:8443". Throws UsageError with what is accepted.
Endpoint ParseHostPort(std::string_view text);
// Host (no port) plus port.
Endpoint MakeEndpoint(const std::string& host, int port);

// 127.0.0.0/8 or ::1. A listener anywhere else (a wildcard, a routable address) is reachable
// from other machines.
bool IsLoopback(const Endpoint& at);

// A non-blocking listener bound to `at` (port 0 = ephemeral). Throws RuntimeError naming the
// address ("address in use", "too many open files", ...).
int Listen(const Endpoint& at, int backlog);
int LocalPort(int fd);

// A non-blocking connect; returns the fd (connect in progress) or -1 with errno set.
// `first_ack_with_data`: the caller sends first at once (a TLS client's ClientHello), so the
// last ACK of the TCP handshake may wait and travel with that data (TCP_QUICKACK off before
// connect(), as HAProxy's tcp_connect_server does for its checks, CONNECT_DELACK_ALWAYS set by
// tcpcheck_eval_connect in src/tcpcheck.c): one packet less per connection for both sides.
int ConnectNonBlocking(const Endpoint& to, bool first_ack_with_data = false);
// 0 when a non-blocking connect has completed, else the errno it failed with.
int ConnectError(int fd);

// SO_LINGER {1, 0}: close() then sends an RST instead of a FIN (HAProxy's linger_risk path,
// src/fd.c fd_delete) and leaves no TIME_WAIT behind.
void SetLingerZero(int fd);

// Reads everything the socket has into the stream. Returns how the transport ended, if it did.
// `bytes` receives how many bytes were read.
TransportEnd ReadInto(int fd, TlsStream& stream, size_t& bytes);

// Sends `pending` (moving what OpenSSL wrote into it first); what the socket does not take now
// stays in `pending`. Returns false when the peer is gone (EPIPE, ECONNRESET).
bool Flush(int fd, TlsStream& stream, std::string& pending);

// The descriptors one process holds at most: a listener per served backend, the
// connections open at once, and a margin for the process's own files (stdio, epoll, eventfds,
// signalfd, stats socket, --trace/--pcap/--keylog files, OpenSSL's /dev/urandom).
inline constexpr size_t kDescriptorMargin = 64;
// A standalone server cannot know its clients; it reserves this many accepted connections (or
// one per backend, if fewer) and pauses a listener on EMFILE beyond that
// (servers/server_engine.cc).
inline constexpr size_t kServerInFlightReserve = 1024;
struct DescriptorNeed {
  std::string who;  // "serve", "check", "run": named in the refusal
  size_t backends = 0;
  size_t listeners = 0;  // one per served backend
  size_t in_flight = 0;  // connections open at once
  size_t total() const { return listeners + in_flight + kDescriptorMargin; }
};
// `serve`: a listener per backend plus kServerInFlightReserve accepted connections.
DescriptorNeed ServeDescriptors(size_t backends);
// `check`: at most one connection per backend is open (one check at a time per backend).
DescriptorNeed CheckDescriptors(size_t backends);
// `run`: the listeners, and each check's two ends (the checker's socket, the accepted one).
DescriptorNeed RunDescriptors(size_t backends);

// Raises the soft RLIMIT_NOFILE to the hard limit when the soft one is below need.total().
// Throws UsageError (exit 2), one line naming the need, its parts and the hard limit, when the
// hard limit is too low.
void EnsureFileLimit(const DescriptorNeed& need);

// Sockets in TIME_WAIT on this machine (from /proc/net/tcp{,6}); -1 when unreadable.
long CountTimeWaitSockets();

}  // namespace tlslab
