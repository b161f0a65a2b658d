// One Config for every door: command-line flags (flags.h), Python (bindings/), and argv again
// when a process is spawned. Defaults live here and nowhere else.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "lab/duration.h"
#include "lab/vocabulary.h"

namespace tlslab {

struct TlsConfig {
  TlsVersion version = TlsVersion::kAuto;  // highest version offered/accepted; auto = 1.2 and 1.3
  bool tickets = true;        // TLS 1.2 RFC 5077 tickets; for TLS 1.3 off means stateful tickets
  bool session_cache = true;  // server: keep sessions in the per-backend cache (session IDs)
  KeyType key = KeyType::kRsa2048;  // key of the in-memory self-signed certificate
  std::string cert_file;            // PEM certificate instead of the in-memory one
  std::string key_file;             // PEM private key that goes with cert_file
  std::string keylog_file;          // SSLKEYLOGFILE-format key log, for Wireshark
  bool operator==(const TlsConfig&) const = default;
};

struct ServerConfig {
  std::string profile = "lenient";   // server profile: what happens to a session after a close
  int backends = 1;                  // virtual backends, each with listener, SSL_CTX and cache
  std::string listen = "127.0.0.1";  // address to listen on; loopback unless told otherwise
  int port = 0;                      // first port (backend i gets port+i); 0 = ephemeral ports
  std::string ports_file;            // write "HOST:PORT" per backend to this file when ready
  int threads = 1;                   // server event-loop threads (backends shared round robin)
  Millis handshake_timeout{10000};   // drop a connection whose handshake takes longer
  Millis idle_timeout{60000};        // drop an established connection idle for longer
  int max_connections = 1000;        // open connections per backend; more are refused
  // Session lifetime (SSL_CTX_set_timeout) and cache size (SSL_CTX_sess_set_cache_size);
  // unset = the stack's own defaults (the server profile's, in the simulator).
  std::optional<Millis> session_timeout;
  std::optional<int> cache_size;
  bool operator==(const ServerConfig&) const = default;
};

struct CheckerConfig {
  std::string profile;                 // checker profile (presets); empty = plain knobs only
  std::vector<std::string> targets;    // HOST:PORT of each backend
  std::string targets_file;            // one HOST:PORT a line ('#' comments)
  std::string sni;                     // server name sent in the ClientHello; empty = none
  CheckKind check = CheckKind::kHttp;  // connect (handshake only) or http (GET, status line)
  std::optional<CloseMode> close;      // overrides the profile's close mode for this check kind
  std::optional<bool> reuse;           // offer the saved session (HAProxy: !no-ssl-reuse)
  std::optional<bool> read_after_handshake;  // wait for a TLS 1.3 ticket on connect checks
  Millis inter{2000};                        // interval between checks of a healthy backend
  std::optional<Millis> fastinter;         // interval while a backend changes state (default inter)
  std::optional<Millis> downinter;         // interval while a backend is down (default inter)
  std::optional<Millis> timeout;           // connect + handshake + response limit (default inter)
  int rise = 2;                            // consecutive successes to mark a backend up
  int fall = 3;                            // consecutive failures to mark a backend down
  int threads = 1;                         // checker event-loop threads
  std::string stats_socket;                // unix socket answering HAProxy's "show info"
  std::string stats_socket_mode = "0600";  // its file mode (octal): owner only by default
  std::string http_path = "/";             // path of the http check request
  bool operator==(const CheckerConfig&) const = default;
};

struct OutputConfig {
  bool json = false;      // one JSON document at the end instead of the table
  bool live = true;       // a live line on stderr each second
  bool trace = false;     // one line per connection event on stderr
  std::string pcap_file;  // --pcap: the connections as a pcap file (lab/pcap.h); run: checker side
  std::string metrics;    // --metrics: PORT or ADDR:PORT serving /metrics (lab/metrics_server.h)
  bool operator==(const OutputConfig&) const = default;
};

// `tlslab probe`'s own knobs (clients/probe.h reads them through ProbeConfig); the shared ones
// (tls.version, checker.sni, check, http_path, timeout) are the fields above.
struct ProbeOptions {
  std::string target;  // HOST:PORT of the server
  int repeat = 3;      // attempts per close kind; a cell is flaky when they disagree
  Millis pause{100};   // after each close, before the next connection: the server's close runs
  std::string expect;  // strict, lenient, no-resumption or a server profile; empty = none
  bool operator==(const ProbeOptions&) const = default;
};

// What only `tlslab simulate` reads (sim/engine.h): scale, restarts and the cost file.
struct SimulationConfig {
  bool enabled = false;     // set by the simulate command: wider bounds for backends, duration
  int checker_threads = 0;  // HAProxy nbthread (any thread checks, a session per thread);
                            // 0 = the lab's own checker: --threads, each backend on one thread
  int checkers = 1;         // load balancers checking the same backends, each with its sessions
  Millis restart_every{0};  // a deploy wave every D (0 = no restarts): caches and ticket keys lost
  double restart_share = 1.0;  // share of the backends restarted by each wave
  Millis restart_downtime{0};  // a restarted backend refuses connections this long
  int backend_cores = 0;       // cores of each backend machine; 0 = the lab's --server-threads
                               // shared by every backend (as in `tlslab run`)
  std::string costs_file;      // cost file (tlslab calibrate); empty = the shipped default
  uint64_t seed = 1;           // service-time jitter of the queueing model
  Millis resolution{0};        // time-series step; 0 = chosen from the duration
  Millis rtt{0};               // network round trip between checker and backend (sim/streams.h
                               // Model::NetworkUs); 0 = loopback, as the lab measures
  // A real load balancer's checker cost set (calibrate --checker haproxy); empty = the lab's.
  std::string checker_costs_file;
  bool operator==(const SimulationConfig&) const = default;
};

struct Config {
  TlsConfig tls;
  ServerConfig server;
  CheckerConfig checker;
  OutputConfig output;
  ProbeOptions probe;
  SimulationConfig simulation;
  Millis duration{20000};   // run length; serve: 0 = until SIGINT/SIGTERM
  uint64_t max_checks = 0;  // stop after this many checks; 0 = only the duration bounds it
  bool operator==(const Config&) const = default;
};

// Hard bounds that Validate enforces; every load loop stops by itself within them.
inline constexpr int kMaxBackends = 20000;
inline constexpr int kMaxThreads = 64;
inline constexpr Millis kMaxDuration{24LL * 3600 * 1000};
inline constexpr int kMaxSimBackends = 10000000;
inline constexpr int kMaxSimCheckers = 1000;
inline constexpr Millis kMaxSimDuration{31LL * 24 * 3600 * 1000};

// Throws UsageError naming the field and what is accepted.
void Validate(const Config& config);

// Effective interval values (HAProxy: fastinter and downinter default to inter, and the check
// timeout defaults to inter when "timeout check" is unset).
Millis EffectiveFastinter(const CheckerConfig& c);
Millis EffectiveDowninter(const CheckerConfig& c);
Millis EffectiveCheckTimeout(const CheckerConfig& c);
// stats_socket_mode as a number (Validate has checked it).
unsigned StatsSocketMode(const CheckerConfig& c);

}  // namespace tlslab

namespace tlslab {

// The checker's behaviour after presets and explicit knobs are merged: an explicit knob wins,
// then the checker profile's preset for the check kind, then the plain default.
struct CheckPlan {
  CheckKind check = CheckKind::kHttp;
  CloseMode close = CloseMode::kCloseNotify;
  bool reuse = true;
  bool read_after_handshake = true;
};
CheckPlan EffectiveCheckPlan(const CheckerConfig& c);

}  // namespace tlslab
