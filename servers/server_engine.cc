#include "servers/server_engine.h"

#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>

#include "lab/errors.h"
#include "servers/server_conn.h"

namespace tlslab {

void InstallServerCallbacks(SSL_CTX* ctx);  // server_conn.cc

struct ServerEngine::Worker {
  EventLoop loop;
  ServerCounters counters;
  uint64_t next_conn_id = 1;
  std::unordered_set<IoHandler*> live;  // connections open on this loop
};

namespace {

// Accepts every pending connection of one backend's listener.
class Acceptor : public IoHandler {
 public:
  explicit Acceptor(Backend& backend) : backend_(backend) {}
  // Out of descriptors: a level-triggered listener would wake us forever. Stop watching it for
  // a moment; the connection waits in the backlog (the checker may count a timeout).
  void PauseForDescriptors() {
    backend_.loop->Remove(backend_.listen_fd);
    backend_.loop->After(Millis(100),
                         [this] { backend_.loop->Add(backend_.listen_fd, EPOLLIN, this); });
  }
  void OnIo(uint32_t) override {
    for (;;) {
      int fd = accept4(backend_.listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EMFILE || errno == ENFILE) PauseForDescriptors();
        // EAGAIN: drained. Others (ECONNABORTED...): that connection is gone; the next waits.
        return;
      }
      ServerConn::Start(backend_, fd, (*backend_.next_conn_id)++);
    }
  }

 private:
  Backend& backend_;
};

}  // namespace

ServerEngine::ServerEngine(const Config& config, Trace* trace)
    : config_(config), profile_(&FindServerProfile(config.server.profile)) {
  // Each backend holds a listener; each connection a socket (lab/net.h ServeDescriptors).
  // `tlslab run` reserved for its checker too before building this engine (app/lab_run.cc).
  EnsureFileLimit(ServeDescriptors(static_cast<size_t>(config_.server.backends)));
  creds_ = LoadOrMakeCredentials(config_.tls);
  if (!config_.tls.keylog_file.empty())
    keylog_ = std::make_unique<KeylogFile>(config_.tls.keylog_file);
  if (!config_.output.pcap_file.empty())
    pcap_ = std::make_unique<PcapWriter>(config_.output.pcap_file);
  for (int t = 0; t < config_.server.threads; ++t) workers_.push_back(std::make_unique<Worker>());
  // One context for every backend (servers/backend_sessions.h says what keeps them apart).
  // The profile can only take a cache away (Go has none), never add one --session-cache off
  // removed.
  TlsConfig tls = config_.tls;
  tls.session_cache = tls.session_cache && profile_->behaviour->session_cache;
  ctx_ = MakeServerContext(tls, creds_, profile_->behaviour->tickets_supported);
  const size_t cache_per_backend = ApplySessionLimits(ctx_.get(), config_.server);
  InstallServerCallbacks(ctx_.get());
  if (keylog_) keylog_->Attach(ctx_.get());
  for (int i = 0; i < config_.server.backends; ++i) {
    auto backend = std::make_unique<Backend>();
    Worker& worker = *workers_[static_cast<size_t>(i % config_.server.threads)];
    backend->index = i;
    backend->ctx = ctx_.get();
    backend->session_id_context = "tlslab-backend-" + std::to_string(i);
    backend->sessions = BackendSessions(cache_per_backend);
    const int port = config_.server.port == 0 ? 0 : config_.server.port + i;
    Endpoint at = MakeEndpoint(config_.server.listen, port);
    backend->listen_fd = Listen(at, 1024);
    at = MakeEndpoint(config_.server.listen, LocalPort(backend->listen_fd));
    backend->name = at.text;
    backend->profile = profile_;
    backend->config = &config_.server;
    backend->loop = &worker.loop;
    backend->counters = &worker.counters;
    backend->trace = trace;
    backend->pcap = pcap_.get();
    backend->next_conn_id = &worker.next_conn_id;
    backend->live = &worker.live;
    endpoints_.push_back(at);
    backends_.push_back(std::move(backend));
  }
  for (auto& backend : backends_) {
    auto acceptor = std::make_unique<Acceptor>(*backend);
    if (!backend->loop->Add(backend->listen_fd, EPOLLIN, acceptor.get())) {
      throw RuntimeError("cannot watch the listener of " + backend->name);
    }
    acceptors_.push_back(std::move(acceptor));
  }
}

ServerEngine::~ServerEngine() {
  Stop();
  Join();
  for (auto& worker : workers_) {
    // Connections still open when the run ends: close them without a verdict.
    std::vector<IoHandler*> open(worker->live.begin(), worker->live.end());
    for (IoHandler* conn : open) delete conn;
  }
  for (auto& backend : backends_) {
    if (backend->listen_fd >= 0) close(backend->listen_fd);
  }
}

void ServerEngine::Start() {
  for (auto& worker : workers_) {
    threads_.emplace_back([this, w = worker.get()] {
      size_t slot = cpu_.RegisterCurrentThread();
      w->loop.Run(Clock::time_point::max());
      cpu_.FinishCurrentThread(slot);
    });
  }
}

void ServerEngine::Stop() {
  for (auto& worker : workers_) worker->loop.Stop();
}

void ServerEngine::Join() {
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

ServerTotals ServerEngine::Totals() const {
  ServerTotals totals;
  for (const auto& worker : workers_) totals.Accumulate(worker->counters);
  return totals;
}

std::vector<BackendFigures> ServerEngine::PerBackend() const {
  std::vector<BackendFigures> out;
  out.reserve(backends_.size());
  for (const auto& b : backends_) out.push_back({b->name, b->sessions_removed.Get()});
  return out;
}

}  // namespace tlslab
