// Google Benchmark: the TLS work of one check, in memory. A client and a server TlsStream
// (lab/tls_stream.h) on memory BIOs, with the contexts `tlslab run` builds
// (MakeClientContext / MakeServerContext), exchange flights until both sides are done: no
// sockets, no event loop, no timers. What this costs is the floor under the checker's CPU per
// check in `tlslab run`; tests/bench/harness_overhead.py sets the two side by side.
//
//   BM_Handshake/resumed:R/tls13:V/p256:K   one check's handshake, full (R=0) or resumed (R=1),
//                                           TLS 1.2 (V=0) or 1.3 (V=1), rsa2048 (K=0) or p256
//   BM_CloseNotify/tls13:V/p256:K           the client's close_notify, read and answered by
//                                           the server (the lenient profile answers it)
//   BM_LoopbackCheck/messages:M             no TLS: what a check costs the kernel on loopback
//                                           TCP (connect, accept, M messages in alternation,
//                                           a close_notify-sized goodbye each way, epoll
//                                           registration, close), the socket floor under the
//                                           harness's overhead. M = 3 for a TLS 1.2 resumed
//                                           handshake, 4 for the others, 2 more for http.
//
// Counters, per iteration: client_us and server_us, the thread CPU time of each side's own
// calls (SSL_new, handshake steps, BIO feeding and draining, the close, SSL_free); client_us
// is the reference for the checker's checker_cpu_us_per_check. bytes: both directions.
//
// A handshake here is what a connect check does with TLS (clients/check_actor.cc): the client
// offers the saved session (resumed) or none (full), the handshake runs, and in TLS 1.3 the
// client reads once more to receive the NewSessionTicket, which arrives after the handshake
// (RFC 8446 4.6.1); the new-session callback keeps the latest session, as HAProxy's
// reused_sess. Then both sides mark the shutdown done and free, as the checker and the server
// do, so that SSL_free leaves the session resumable.
#include <benchmark/benchmark.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <exception>
#include <map>
#include <memory>
#include <string>

#include "lab/config.h"
#include "lab/cpu.h"
#include "lab/errors.h"
#include "lab/net.h"
#include "lab/ossl.h"
#include "lab/report.h"
#include "lab/tls_context.h"
#include "lab/tls_stream.h"

namespace tlslab {
namespace {

// A round is one turn of each side; a TLS 1.2 full handshake takes three, TLS 1.3 two and a
// half (the client's last turn reads the NewSessionTicket).
constexpr int kMaxRounds = 16;

// The thread CPU clock is a system call: each timed section pays for part of two readings.
// Its cost, measured once as the smallest empty section, is subtracted from every section.
class CpuClock {
 public:
  CpuClock() {
    uint64_t least = UINT64_MAX;
    for (int i = 0; i < 200; ++i) {
      const uint64_t t0 = ThreadCpuNs();
      least = std::min(least, ThreadCpuNs() - t0);
    }
    overhead_ns_ = least;
  }
  uint64_t Now() const { return ThreadCpuNs(); }
  uint64_t Since(uint64_t t0) const {
    const uint64_t elapsed = ThreadCpuNs() - t0;
    return elapsed > overhead_ns_ ? elapsed - overhead_ns_ : 0;
  }

 private:
  uint64_t overhead_ns_ = 0;
};

// Generating an RSA key takes a good part of a second; each key type is made once.
const Credentials& CredentialsFor(const TlsConfig& tls) {
  static std::map<KeyType, Credentials> made;
  auto it = made.find(tls.key);
  if (it == made.end()) it = made.emplace(tls.key, LoadOrMakeCredentials(tls)).first;
  return it->second;
}

// What the client keeps between checks (HAProxy's reused_sess), filled by the new-session
// callback through the SSL's app data.
struct SessionSlot {
  SslSessionPtr saved;
  int received = 0;  // sessions received on the current connection
};

// One side of a connection.
struct Peer {
  std::unique_ptr<TlsStream> stream;
  std::string inbox;  // bytes the other side wrote, not yet fed
  bool done = false;  // handshake complete
  uint64_t cpu_ns = 0;
};

// A client context and a server context built as `tlslab run` builds them.
struct Contexts {
  explicit Contexts(const TlsConfig& tls)
      : client(MakeClientContext(tls)),
        server(MakeServerContext(tls, CredentialsFor(tls), /*tickets_supported=*/true)) {
    SSL_CTX_sess_set_new_cb(client.get(), [](SSL* ssl, SSL_SESSION* session) {
      auto* slot = static_cast<SessionSlot*>(SSL_get_app_data(ssl));
      if (slot == nullptr) return 0;
      slot->saved.reset(session);
      ++slot->received;
      return 1;  // the slot keeps the reference
    });
  }
  SslCtxPtr client;
  SslCtxPtr server;
};

// "" when the failed call only wants more bytes; otherwise what went wrong.
std::string ErrorOf(SSL* ssl, int ret, const char* call) {
  const int err = SSL_get_error(ssl, ret);
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return "";
  std::string detail = DrainOpensslErrors();
  return std::string(call) + " failed (SSL_get_error " + std::to_string(err) + ")" +
         (detail.empty() ? "" : ": " + detail);
}

// One connection, client and server, moved by hand.
class Connection {
 public:
  Connection(const Contexts& contexts, SessionSlot& slot, bool offer_session, const CpuClock& clock)
      : clock_(clock) {
    uint64_t t0 = clock_.Now();
    SslPtr client_ssl(SSL_new(contexts.client.get()));
    if (client_ssl) {
      SSL_set_app_data(client_ssl.get(), &slot);
      SSL_set_connect_state(client_ssl.get());
      if (offer_session && slot.saved) SSL_set_session(client_ssl.get(), slot.saved.get());
      client_.stream = std::make_unique<TlsStream>(std::move(client_ssl));
    }
    slot.received = 0;
    client_.cpu_ns += clock_.Since(t0);

    t0 = clock_.Now();
    SslPtr server_ssl(SSL_new(contexts.server.get()));
    if (server_ssl) {
      SSL_set_accept_state(server_ssl.get());
      server_.stream = std::make_unique<TlsStream>(std::move(server_ssl));
    }
    server_.cpu_ns += clock_.Since(t0);
  }

  ~Connection() {
    Release(client_);
    Release(server_);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs the handshake to its end, TLS 1.3 tickets included. "" on success.
  std::string Handshake() {
    if (!client_.stream || !server_.stream) return "SSL_new failed: " + DrainOpensslErrors();
    // The client speaks first; after that a side runs only when bytes arrive for it, as in
    // an event loop.
    for (int round = 0; round < kMaxRounds; ++round) {
      if (round == 0 || !client_.inbox.empty()) {
        if (std::string e = Step(client_, server_); !e.empty()) return "client: " + e;
      }
      if (!server_.inbox.empty()) {
        if (std::string e = Step(server_, client_); !e.empty()) return "server: " + e;
      }
      if (client_.inbox.empty() && server_.inbox.empty()) {
        if (client_.done && server_.done) return "";
        return "the handshake stalled with nothing in flight";
      }
    }
    return "the handshake did not finish within " + std::to_string(kMaxRounds) + " rounds";
  }

  // The client sends close_notify (close mode close-notify); the server reads it and answers
  // with its own (RFC 5246 7.2.1, RFC 8446 6.1), which the client never reads: the checker
  // has closed the socket by then. "" on success.
  std::string CloseNotify() {
    uint64_t t0 = clock_.Now();
    SSL* client = client_.stream->ssl();
    const int sent = SSL_shutdown(client);
    Count(client_.stream->TakeOutput(server_.inbox));
    client_.cpu_ns += clock_.Since(t0);
    if (sent < 0) return "client: " + ErrorOf(client, sent, "SSL_shutdown");

    t0 = clock_.Now();
    SSL* server = server_.stream->ssl();
    server_.stream->Feed(server_.inbox.data(), server_.inbox.size());
    server_.inbox.clear();
    char buf[256];
    const int n = SSL_read(server, buf, sizeof buf);
    const bool got_notify = n <= 0 && SSL_get_error(server, n) == SSL_ERROR_ZERO_RETURN;
    if (got_notify) SSL_shutdown(server);
    Count(server_.stream->TakeOutput(client_.inbox));
    server_.cpu_ns += clock_.Since(t0);
    if (!got_notify) return "server: close_notify not seen: " + DrainOpensslErrors();
    return "";
  }

  bool client_resumed() const { return SSL_session_reused(client_.stream->ssl()) == 1; }
  bool server_resumed() const { return SSL_session_reused(server_.stream->ssl()) == 1; }
  bool tls13() const { return SSL_version(client_.stream->ssl()) == TLS1_3_VERSION; }
  uint64_t client_cpu_ns() const { return client_.cpu_ns; }
  uint64_t server_cpu_ns() const { return server_.cpu_ns; }
  uint64_t bytes() const { return bytes_; }

  // Frees both sides as the checker and the server do; adds the cost to each side.
  void ReleaseBoth() {
    Release(client_);
    Release(server_);
  }

 private:
  // One turn of `self`, as its event loop would run it when bytes arrive: feed them, let
  // OpenSSL act, collect what it wrote for `other`.
  std::string Step(Peer& self, Peer& other) {
    const uint64_t t0 = clock_.Now();
    SSL* ssl = self.stream->ssl();
    if (!self.inbox.empty()) {
      self.stream->Feed(self.inbox.data(), self.inbox.size());
      self.inbox.clear();
    }
    std::string error;
    if (!self.done) {
      const int ret = SSL_do_handshake(ssl);
      if (ret == 1) {
        self.done = true;
      } else {
        error = ErrorOf(ssl, ret, "SSL_do_handshake");
      }
    }
    // Post-handshake messages (the TLS 1.3 NewSessionTicket): the checker reads for them.
    if (error.empty() && self.done && BIO_ctrl_pending(SSL_get_rbio(ssl)) > 0) {
      char buf[256];
      const int n = SSL_read(ssl, buf, sizeof buf);
      if (n > 0) {
        error = "unexpected application data after the handshake";
      } else {
        error = ErrorOf(ssl, n, "SSL_read");
      }
    }
    Count(self.stream->TakeOutput(other.inbox));
    self.cpu_ns += clock_.Since(t0);
    return error;
  }

  // The checker's and the server's last act: mark the shutdown done locally so that SSL_free
  // does not mark the session not resumable (ssl_clear_bad_session), then free.
  void Release(Peer& peer) {
    if (!peer.stream) return;
    const uint64_t t0 = clock_.Now();
    SSL_set_shutdown(peer.stream->ssl(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    SSL_set_app_data(peer.stream->ssl(), nullptr);
    DrainOpensslErrors();
    peer.stream.reset();
    peer.cpu_ns += clock_.Since(t0);
  }

  void Count(size_t n) { bytes_ += n; }

  const CpuClock& clock_;
  Peer client_;
  Peer server_;
  uint64_t bytes_ = 0;
};

TlsConfig ConfigFor(bool tls13, bool p256) {
  TlsConfig tls;
  tls.version = tls13 ? TlsVersion::kTls13 : TlsVersion::kTls12;
  tls.key = p256 ? KeyType::kP256 : KeyType::kRsa2048;
  return tls;
}

// Runs one full handshake so that `slot` holds a session to offer. "" on success.
std::string SaveFirstSession(const Contexts& contexts, SessionSlot& slot, const CpuClock& clock) {
  Connection first(contexts, slot, /*offer_session=*/false, clock);
  if (std::string e = first.Handshake(); !e.empty()) return "first handshake: " + e;
  if (!slot.saved) return "the first handshake left no session to resume";
  return "";
}

struct SideTotals {
  uint64_t client_ns = 0;
  uint64_t server_ns = 0;
  uint64_t bytes = 0;
};

void SetCounters(benchmark::State& state, const SideTotals& totals) {
  using benchmark::Counter;
  state.counters["client_us"] =
      Counter(static_cast<double>(totals.client_ns) / 1e3, Counter::kAvgIterations);
  state.counters["server_us"] =
      Counter(static_cast<double>(totals.server_ns) / 1e3, Counter::kAvgIterations);
  state.counters["bytes"] = Counter(static_cast<double>(totals.bytes), Counter::kAvgIterations);
}

// Both sides' contexts and a first session saved for resumption; nullptr (and the benchmark
// skipped with the reason) when either fails.
std::unique_ptr<Contexts> Prepare(benchmark::State& state, const TlsConfig& tls,
                                  const CpuClock& clock, SessionSlot& slot) {
  std::unique_ptr<Contexts> contexts;
  try {
    contexts = std::make_unique<Contexts>(tls);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return nullptr;
  }
  if (std::string e = SaveFirstSession(*contexts, slot, clock); !e.empty()) {
    state.SkipWithError(e.c_str());
    return nullptr;
  }
  return contexts;
}

void BM_Handshake(benchmark::State& state) {
  const bool resumed = state.range(0) != 0;
  const TlsConfig tls = ConfigFor(state.range(1) != 0, state.range(2) != 0);
  const CpuClock clock;
  SessionSlot slot;
  std::unique_ptr<Contexts> contexts = Prepare(state, tls, clock, slot);
  if (!contexts) return;
  SideTotals totals;
  for (auto _ : state) {
    Connection conn(*contexts, slot, resumed, clock);
    std::string error = conn.Handshake();
    if (error.empty() && (conn.client_resumed() != resumed || conn.server_resumed() != resumed)) {
      error = std::string(resumed ? "the offered session was not resumed"
                                  : "a full handshake resumed a session");
    }
    if (error.empty() && conn.tls13() && slot.received == 0) {
      error = "no NewSessionTicket reached the client";
    }
    conn.ReleaseBoth();
    if (!error.empty()) {
      state.SkipWithError(error.c_str());
      break;
    }
    totals.client_ns += conn.client_cpu_ns();
    totals.server_ns += conn.server_cpu_ns();
    totals.bytes += conn.bytes();
  }
  SetCounters(state, totals);
}

// The close alone: each iteration sets up a resumed connection with the timers paused.
void BM_CloseNotify(benchmark::State& state) {
  const TlsConfig tls = ConfigFor(state.range(0) != 0, state.range(1) != 0);
  const CpuClock clock;
  SessionSlot slot;
  std::unique_ptr<Contexts> contexts = Prepare(state, tls, clock, slot);
  if (!contexts) return;
  SideTotals totals;
  for (auto _ : state) {
    state.PauseTiming();
    auto conn = std::make_unique<Connection>(*contexts, slot, /*offer_session=*/true, clock);
    std::string error = conn->Handshake();
    const uint64_t client_before = conn->client_cpu_ns();
    const uint64_t server_before = conn->server_cpu_ns();
    const uint64_t bytes_before = conn->bytes();
    state.ResumeTiming();
    if (error.empty()) error = conn->CloseNotify();
    if (!error.empty()) {
      state.SkipWithError(error.c_str());
      break;
    }
    totals.client_ns += conn->client_cpu_ns() - client_before;
    totals.server_ns += conn->server_cpu_ns() - server_before;
    totals.bytes += conn->bytes() - bytes_before;
    state.PauseTiming();
    conn.reset();
    state.ResumeTiming();
  }
  SetCounters(state, totals);
}

// A TLS alert record on the wire: 5 bytes of header, 2 of alert, the AEAD's tag and more.
constexpr size_t kAlertRecordBytes = 24;

// The socket side of a check without TLS, both ends on this thread: the calls the checker and
// the server make (lab/net.cc, clients/check_actor.cc, servers/server_conn.cc), each timed on
// the side that makes it. On loopback the receiving end's TCP work runs in the sender's
// system call, as it does in `tlslab run`, so the split between sides is the harness's split.
class LoopbackCheck {
 public:
  explicit LoopbackCheck(const CpuClock& clock)
      : clock_(clock), listen_fd_(Listen(MakeEndpoint("127.0.0.1", 0), 1024)) {
    to_ = MakeEndpoint("127.0.0.1", LocalPort(listen_fd_));
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0) throw RuntimeError(std::string("epoll_create1: ") + std::strerror(errno));
  }
  ~LoopbackCheck() {
    close(epoll_fd_);
    close(listen_fd_);
  }
  LoopbackCheck(const LoopbackCheck&) = delete;
  LoopbackCheck& operator=(const LoopbackCheck&) = delete;

  // One check: `messages` messages of `size` bytes, client first, then the goodbyes. Adds
  // each side's CPU to client_ns / server_ns. "" on success.
  std::string Run(int messages, size_t size, uint64_t& client_ns, uint64_t& server_ns) {
    uint64_t t0 = clock_.Now();
    const int client = ConnectNonBlocking(to_);
    const bool client_ok = client >= 0 && Watch(client) && ConnectError(client) == 0;
    client_ns += clock_.Since(t0);
    if (!client_ok) return Fail(client, -1, "connect");

    t0 = clock_.Now();
    const int server = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    const bool server_ok = server >= 0 && Watch(server);
    server_ns += clock_.Since(t0);
    if (!server_ok) return Fail(client, server, "accept4");

    const std::string payload(size, 'x');
    std::string error;
    for (int i = 0; i < messages && error.empty(); ++i) {
      const bool from_client = i % 2 == 0;
      error = Send(from_client ? client : server, payload, from_client ? client_ns : server_ns);
      if (error.empty()) {
        error = Receive(from_client ? server : client, size, from_client ? server_ns : client_ns);
      }
    }
    // The goodbye: the checker's close_notify and close; the server reads it (and the FIN),
    // answers with its own close_notify and closes.
    const std::string alert(kAlertRecordBytes, 'a');
    t0 = clock_.Now();
    if (error.empty()) error = SendTimed(client, alert);
    Forget(client);
    close(client);
    client_ns += clock_.Since(t0);
    t0 = clock_.Now();
    if (error.empty()) error = ReceiveTimed(server, alert.size());
    (void)send(server, alert.data(), alert.size(), MSG_NOSIGNAL);  // the peer is gone: RST
    Forget(server);
    close(server);
    server_ns += clock_.Since(t0);
    return error;
  }

 private:
  bool Watch(int fd) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.fd = fd;
    return epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) == 0;
  }
  void Forget(int fd) { epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr); }

  std::string Fail(int client, int server, const char* call) {
    std::string error = std::string(call) + ": " + std::strerror(errno);
    if (client >= 0) close(client);
    if (server >= 0) close(server);
    return error;
  }

  std::string Send(int fd, const std::string& data, uint64_t& side_ns) {
    const uint64_t t0 = clock_.Now();
    std::string error = SendTimed(fd, data);
    side_ns += clock_.Since(t0);
    return error;
  }
  std::string SendTimed(int fd, const std::string& data) {
    const ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n == static_cast<ssize_t>(data.size())) return "";
    return std::string("send: ") + (n < 0 ? std::strerror(errno) : "short write");
  }

  std::string Receive(int fd, size_t size, uint64_t& side_ns) {
    const uint64_t t0 = clock_.Now();
    std::string error = ReceiveTimed(fd, size);
    side_ns += clock_.Since(t0);
    return error;
  }
  // As the event loops do: learn that the socket is readable, then read until EAGAIN.
  std::string ReceiveTimed(int fd, size_t size) {
    epoll_event events[8];
    if (epoll_wait(epoll_fd_, events, 8, 0) < 1) return "epoll_wait: the message did not arrive";
    char buf[16384];
    size_t got = 0;
    for (;;) {
      const ssize_t n = recv(fd, buf, sizeof buf, 0);
      if (n > 0) {
        got += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      break;  // EAGAIN, or EOF after the goodbye
    }
    return got == size
               ? ""
               : "recv: " + std::to_string(got) + " of " + std::to_string(size) + " bytes arrived";
  }

  const CpuClock& clock_;
  int listen_fd_;
  Endpoint to_;
  int epoll_fd_ = -1;
};

void BM_LoopbackCheck(benchmark::State& state) {
  const int messages = static_cast<int>(state.range(0));
  const CpuClock clock;
  std::unique_ptr<LoopbackCheck> check;
  try {
    check = std::make_unique<LoopbackCheck>(clock);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  constexpr size_t kMessageBytes = 512;
  SideTotals totals;
  for (auto _ : state) {
    if (std::string e = check->Run(messages, kMessageBytes, totals.client_ns, totals.server_ns);
        !e.empty()) {
      state.SkipWithError(e.c_str());
      break;
    }
    totals.bytes += static_cast<uint64_t>(messages) * kMessageBytes + 2 * kAlertRecordBytes;
  }
  SetCounters(state, totals);
}

BENCHMARK(BM_Handshake)
    ->ArgNames({"resumed", "tls13", "p256"})
    ->ArgsProduct({{0, 1}, {0, 1}, {0, 1}})
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CloseNotify)
    ->ArgNames({"tls13", "p256"})
    ->ArgsProduct({{0, 1}, {0, 1}})
    ->Iterations(1000)  // each iteration also pays an untimed handshake
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_LoopbackCheck)
    ->ArgNames({"messages"})
    ->DenseRange(3, 6)
    ->Iterations(3000)  // bounded: every check leaves a socket in TIME_WAIT for a minute
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace tlslab

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  // Every result is stamped with the versions it was measured with.
  const nlohmann::json versions = tlslab::Versions();
  for (auto it = versions.begin(); it != versions.end(); ++it) {
    benchmark::AddCustomContext("tlslab_" + it.key(), it.value().get<std::string>());
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
