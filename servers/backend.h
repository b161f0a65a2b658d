// A virtual backend: its own listener, session ID context and share of the session cache, as a
// separate real backend would have (one SSL_CTX serves them all: servers/backend_sessions.h),
// plus what its connections share (profile, loop, counters, trace).
#pragma once

#include <cstdint>
#include <string>
#include <unordered_set>

#include "lab/config.h"
#include "lab/counters.h"
#include "lab/event_loop.h"
#include "lab/ossl.h"
#include "lab/pcap.h"
#include "lab/profiles.h"
#include "lab/trace.h"
#include "servers/backend_sessions.h"

namespace tlslab {

struct Backend {
  int index = 0;
  std::string name;  // "HOST:PORT"
  int listen_fd = -1;
  SSL_CTX* ctx = nullptr;          // the server's one context (ServerEngine owns it)
  std::string session_id_context;  // this backend's: its sessions resume here only
  BackendSessions sessions;        // its entries in ctx's cache, bounded
  const ServerProfile* profile = nullptr;
  const ServerConfig* config = nullptr;
  EventLoop* loop = nullptr;                       // the loop of the thread that owns this backend
  ServerCounters* counters = nullptr;              // that thread's counters
  Trace* trace = nullptr;                          // nullptr unless --trace
  PcapWriter* pcap = nullptr;                      // nullptr unless --pcap (lab/pcap.h)
  uint64_t* next_conn_id = nullptr;                // that thread's connection numbering
  std::unordered_set<IoHandler*>* live = nullptr;  // that thread's open connections
  int open_connections = 0;                        // this backend's, against max_connections
  Counter sessions_removed;                        // this backend's (--metrics, per backend)
};

}  // namespace tlslab
