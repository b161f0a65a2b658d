#include "sim/calibrate.h"

#include <openssl/err.h>

#include <string>

#include "lab/cpu.h"
#include "lab/errors.h"
#include "lab/tls_context.h"
#include "lab/tls_stream.h"

namespace tlslab {
namespace {

constexpr int kMaxRounds = 16;  // a handshake needs at most four flights
constexpr int kMaxIterations = 20000;
constexpr std::string_view kRequest =
    "GET / HTTP/1.1\r\nHost: backend\r\nUser-Agent: tlslab-check\r\n\r\n";
constexpr std::string_view kResponse =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nOK\n";

struct Ns {
  double client = 0, server = 0;
};

template <typename F>
auto Timed(double& acc, F f) {
  const uint64_t t0 = ThreadCpuNs();
  auto r = f();
  acc += static_cast<double>(ThreadCpuNs() - t0);
  return r;
}

void Move(TlsStream& from, TlsStream& to) {
  std::string bytes;
  from.TakeOutput(bytes);
  to.Feed(bytes.data(), bytes.size());
}

struct Pair {
  TlsStream client;
  TlsStream server;
};

Pair NewPair(SSL_CTX* c, SSL_CTX* s, SSL_SESSION* offer) {
  Pair p{TlsStream(SslPtr(SSL_new(c))), TlsStream(SslPtr(SSL_new(s)))};
  if (p.client.ssl() == nullptr || p.server.ssl() == nullptr) {
    throw RuntimeError("SSL_new: " + DrainOpensslErrors());
  }
  SSL_set_connect_state(p.client.ssl());
  SSL_set_accept_state(p.server.ssl());
  if (offer != nullptr) SSL_set_session(p.client.ssl(), offer);
  return p;
}

// Both handshakes, then the client's read of what followed (TLS 1.3 NewSessionTicket).
void Handshake(Pair& p, Ns& ns) {
  bool cd = false, sd = false;
  for (int round = 0; round < kMaxRounds && !(cd && sd); ++round) {
    if (!cd) cd = Timed(ns.client, [&] { return SSL_do_handshake(p.client.ssl()); }) == 1;
    Move(p.client, p.server);
    if (!sd) sd = Timed(ns.server, [&] { return SSL_do_handshake(p.server.ssl()); }) == 1;
    Move(p.server, p.client);
  }
  if (!(cd && sd))
    throw RuntimeError("calibrate: in-memory handshake failed: " + DrainOpensslErrors());
  char byte = 0;
  Timed(ns.client, [&] { return SSL_read(p.client.ssl(), &byte, 1); });
  ERR_clear_error();
}

void Http(Pair& p, Ns& ns) {
  char buf[512];
  Timed(ns.client, [&] {
    return SSL_write(p.client.ssl(), kRequest.data(), static_cast<int>(kRequest.size()));
  });
  Move(p.client, p.server);
  Timed(ns.server, [&] {
    SSL_read(p.server.ssl(), buf, sizeof buf);
    return SSL_write(p.server.ssl(), kResponse.data(), static_cast<int>(kResponse.size()));
  });
  Move(p.server, p.client);
  Timed(ns.client, [&] { return SSL_read(p.client.ssl(), buf, sizeof buf); });
  ERR_clear_error();
}

void CloseNotify(Pair& p, Ns& ns) {
  char buf[64];
  Timed(ns.client, [&] { return SSL_shutdown(p.client.ssl()); });
  Move(p.client, p.server);
  Timed(ns.server, [&] {
    SSL_read(p.server.ssl(), buf, sizeof buf);
    return SSL_shutdown(p.server.ssl());
  });
  ERR_clear_error();
}

void Done(Pair& p) {  // keep the server's cache entry (lab/testing/bio_pair.h MarkShutDown)
  SSL_set_shutdown(p.client.ssl(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  SSL_set_shutdown(p.server.ssl(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
}

enum class Part { kHandshake, kHttp, kClose };

// Mean CPU per side of `part`, over iterations of handshake (+http, +close_notify), offering
// `offer` (or the session of the previous iteration when chain is set).
Ns Measure(SSL_CTX* c, SSL_CTX* s, SSL_SESSION* offer, bool chain, bool expect_resumed, Part part,
           std::chrono::milliseconds budget) {
  SslSessionPtr current(offer != nullptr ? SSL_SESSION_dup(offer) : nullptr);
  Ns total;
  int n = 0;
  const uint64_t start = ThreadCpuNs();
  while (n < kMaxIterations &&
         (n < 10 || ThreadCpuNs() - start < static_cast<uint64_t>(budget.count()) * 1'000'000)) {
    Pair p = NewPair(c, s, current.get());
    Ns hs, http, close;
    Handshake(p, hs);
    if ((SSL_session_reused(p.client.ssl()) == 1) != expect_resumed) {
      throw RuntimeError(std::string("calibrate: expected a ") +
                         (expect_resumed ? "resumed" : "full") + " handshake");
    }
    Http(p, http);
    CloseNotify(p, close);
    if (chain) current.reset(SSL_get1_session(p.client.ssl()));
    Done(p);
    const Ns& pick = part == Part::kHandshake ? hs : part == Part::kHttp ? http : close;
    total.client += pick.client;
    total.server += pick.server;
    ++n;
  }
  return {total.client / n / 1000.0, total.server / n / 1000.0};  // microseconds
}

SslSessionPtr FirstSession(SSL_CTX* c, SSL_CTX* s) {
  Pair p = NewPair(c, s, nullptr);
  Ns ignored;
  Handshake(p, ignored);
  SslSessionPtr session(SSL_get1_session(p.client.ssl()));
  Done(p);
  return session;
}

}  // namespace

VersionCosts MeasureInMemory(KeyType key, TlsVersion version, std::chrono::milliseconds budget) {
  TlsConfig tls;
  tls.key = key;
  tls.version = version;
  const Credentials creds = LoadOrMakeCredentials(tls);
  VersionCosts out;
  auto contexts = [&](bool tickets) {
    TlsConfig t = tls;
    t.tickets = tickets;
    return std::make_pair(MakeClientContext(t), MakeServerContext(t, creds, true));
  };
  const bool v13 = version == TlsVersion::kTls13;
  auto [client, server] = contexts(true);
  const Ns full =
      Measure(client.get(), server.get(), nullptr, false, false, Part::kHandshake, budget);
  out.checker.full = full.client;
  out.server.full = full.server;
  // Offered and refused: a session from another server (another cache, other ticket keys).
  auto [other_client, other_server] = contexts(true);
  SslSessionPtr foreign = FirstSession(other_client.get(), other_server.get());
  const Ns refused =
      Measure(client.get(), server.get(), foreign.get(), false, false, Part::kHandshake, budget);
  out.checker.refused = std::max(0.0, refused.client - full.client);
  out.server.refused = std::max(0.0, refused.server - full.server);
  for (bool tickets : {false, true}) {
    auto [c, s] = contexts(tickets);
    SslSessionPtr first = FirstSession(c.get(), s.get());
    // TLS 1.3 tickets are single use in the stateful case (OpenSSL anti-replay): chain them.
    const Ns resumed = Measure(c.get(), s.get(), first.get(), v13, true, Part::kHandshake, budget);
    const Resumption mech = v13 ? (tickets ? Resumption::kPskStateless : Resumption::kPskStateful)
                                : (tickets ? Resumption::kTicket : Resumption::kSessionId);
    out.checker.resumed[static_cast<size_t>(mech)] = resumed.client;
    out.server.resumed[static_cast<size_t>(mech)] = resumed.server;
    if (tickets) {
      const Ns http = Measure(c.get(), s.get(), first.get(), v13, true, Part::kHttp, budget / 2);
      const Ns close = Measure(c.get(), s.get(), first.get(), v13, true, Part::kClose, budget / 2);
      out.checker.http = http.client;
      out.server.http = http.server;
      out.checker.close_notify = close.client;
      out.server.close_notify = close.server;
    }
  }
  // The other version's mechanisms cannot occur at this version; give them this version's
  // nearest (a stateful/stateless twin), so a cost file is complete for every lookup.
  auto twin = [&](SideCosts& side) {
    auto& r = side.resumed;
    if (v13) {
      r[static_cast<size_t>(Resumption::kSessionId)] =
          r[static_cast<size_t>(Resumption::kPskStateful)];
      r[static_cast<size_t>(Resumption::kTicket)] =
          r[static_cast<size_t>(Resumption::kPskStateless)];
    } else {
      r[static_cast<size_t>(Resumption::kPskStateful)] =
          r[static_cast<size_t>(Resumption::kSessionId)];
      r[static_cast<size_t>(Resumption::kPskStateless)] =
          r[static_cast<size_t>(Resumption::kTicket)];
    }
  };
  twin(out.checker);
  twin(out.server);
  return out;
}

}  // namespace tlslab
