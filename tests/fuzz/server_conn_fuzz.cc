// libFuzzer: bytes from the network into a real ServerConn (servers/server_conn.cc), the
// connection state machine of `tlslab serve`: ClientHello parsing, the close classification
// and the profile's Finish() path, over a socketpair and the memory-BIO TlsStream.
// The input is written whole, then the write side is shut (EOF), so every input ends.
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <memory>

#include "lab/config.h"
#include "lab/counters.h"
#include "lab/event_loop.h"
#include "lab/profiles.h"
#include "lab/tls_context.h"
#include "servers/backend.h"
#include "servers/server_conn.h"

namespace tlslab {
void InstallServerCallbacks(SSL_CTX* ctx);  // server_conn.cc
}

namespace {

using namespace tlslab;

struct Fixture {
  Config config;
  Credentials creds;
  ServerCounters counters;
  std::unordered_set<IoHandler*> live;
  uint64_t next_id = 1;
  SslCtxPtr ctx;
  Backend backend;
  Fixture() {
    config.tls.key = KeyType::kP256;  // a fast key: generated once per process
    config.server.handshake_timeout = Millis(50);
    config.server.idle_timeout = Millis(50);
    creds = LoadOrMakeCredentials(config.tls);
    ctx = MakeServerContext(config.tls, creds, true);
    InstallServerCallbacks(ctx.get());
    backend.ctx = ctx.get();
    backend.session_id_context = "fuzz";
    backend.name = "fuzz";
    backend.profile = &FindServerProfile("strict");
    backend.config = &config.server;
    backend.counters = &counters;
    backend.next_conn_id = &next_id;
    backend.live = &live;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Fixture* fixture = new Fixture();  // lives for the process, as a server's contexts
  if (size > 60000) return 0;               // within one socket buffer: write never blocks
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) return 0;
  EventLoop loop;
  fixture->backend.loop = &loop;
  size_t done = 0;
  while (done < size) {
    ssize_t n = write(fds[1], data + done, size - done);
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  shutdown(fds[1], SHUT_WR);
  ServerConn::Start(fixture->backend, fds[0], fixture->next_id++);  // owns fds[0]
  loop.Run(Clock::now() + Millis(200), [] { return fixture->live.empty(); });
  std::vector<IoHandler*> open(fixture->live.begin(), fixture->live.end());
  for (IoHandler* conn : open) delete conn;
  close(fds[1]);
  return 0;
}
