// The server side: N virtual backends in one process, spread over event-loop threads.
#pragma once

#include <memory>
#include <thread>
#include <vector>

#include "lab/config.h"
#include "lab/counters.h"
#include "lab/cpu.h"
#include "lab/metrics.h"
#include "lab/net.h"
#include "lab/pcap.h"
#include "lab/tls_context.h"
#include "lab/trace.h"
#include "servers/backend.h"

namespace tlslab {

class ServerEngine {
 public:
  // Builds every backend (context, listener) or throws: UsageError for bad input and for a
  // descriptor hard limit below the backends' need (lab/net.h), RuntimeError for "address in
  // use" and the like.
  ServerEngine(const Config& config, Trace* trace);
  ~ServerEngine();

  // HOST:PORT of every backend, in order, once constructed.
  const std::vector<Endpoint>& endpoints() const { return endpoints_; }

  void Start();  // one thread per event loop
  void Stop();   // thread-safe; Join() waits
  void Join();

  ServerTotals Totals() const;
  uint64_t CpuNs() const { return cpu_.TotalNs(); }
  // Thread-safe: each backend's own figures, in order (--metrics).
  std::vector<BackendFigures> PerBackend() const;

 private:
  struct Worker;
  Config config_;
  const ServerProfile* profile_;
  Credentials creds_;
  SslCtxPtr ctx_;  // every backend's; declared before them, so it outlives their connections
  std::unique_ptr<KeylogFile> keylog_;
  std::unique_ptr<PcapWriter> pcap_;  // outlives the connections below
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::unique_ptr<Backend>> backends_;
  std::vector<std::unique_ptr<IoHandler>> acceptors_;
  std::vector<Endpoint> endpoints_;
  std::vector<std::thread> threads_;
  CpuMeter cpu_;
};

}  // namespace tlslab
