// One backend as the checker sees it: an interval timer, and at most one check at a time,
// each with its own deadline (checks as actors, after the Asio timeout examples).
//
//   timer --> connect --> handshake --+--(http)----> request --> response --+--> close(mode)
//     ^          |            |       +--(connect)-- [await TLS 1.3 ticket] +      |
//     |          +------------+--------- failure (reason) --------------------+    |
//     +---------------------- next check at start + interval (skipping missed slots) <-+
//
// With close mode `keep` the connection survives the check and the next check reuses it.
// One session per backend is saved from the new-session callback (HAProxy's reused_sess)
// and offered on the next check unless reuse is off (HAProxy's no-ssl-reuse).
#pragma once

#include <array>
#include <deque>
#include <string>

#include "clients/health.h"
#include "lab/close_kind.h"
#include "lab/config.h"
#include "lab/counters.h"
#include "lab/event_loop.h"
#include "lab/http_response.h"
#include "lab/latency.h"
#include "lab/net.h"
#include "lab/ossl.h"
#include "lab/tls_client.h"
#include "lab/trace.h"

namespace tlslab {

class CheckActor;

// What the actors of one checker thread share. Owned by the engine.
struct CheckerThreadContext {
  EventLoop* loop = nullptr;
  SSL_CTX* ctx = nullptr;
  const CheckerConfig* config = nullptr;
  CheckPlan plan;
  CheckerCounters* counters = nullptr;
  LatencyHistogram* latency = nullptr;              // checks started after the first round
  LatencyHistogram* first_round_latency = nullptr;  // checks started before it completed
  FirstRound* first_round = nullptr;                // shared by all threads
  std::array<std::string, kAllCheckFailures.size()>* failure_examples = nullptr;
  Trace* trace = nullptr;
  PcapWriter* pcap = nullptr;                       // --pcap
  std::atomic<uint64_t>* checks_started = nullptr;  // shared by all threads: max_checks budget
  uint64_t max_checks = 0;                          // 0 = unbounded (the duration bounds it)
  uint64_t next_conn_id = 1;
  bool draining = false;            // the run is over: start no new check
  size_t in_flight = 0;             // checks started and not yet ended
  std::deque<CheckActor*> waiting;  // due while kMaxChecksInFlight were in flight, oldest first
};

// Checks in flight per checker thread; a check due beyond it waits for one to end (HAProxy's
// tune.max-checks-per-thread). It bounds the descriptors and memory of a first round the
// servers cannot keep up with (at 10,000 backends every first check was in flight
// and timed out, and the checker held 750 MB); a queued check's timeout starts when it starts,
// and its lateness makes its next check due an interval after it ends (ScheduleNext).
inline constexpr size_t kMaxChecksInFlight = 256;

class CheckActor : public IoHandler {
 public:
  CheckActor(CheckerThreadContext& ctx, Endpoint target);
  ~CheckActor() override;
  CheckActor(const CheckActor&) = delete;
  CheckActor& operator=(const CheckActor&) = delete;

  // Schedules the first check at `first`.
  void Begin(Clock::time_point first);
  void OnIo(uint32_t events) override;
  void OnNewSession(SSL_SESSION* session);  // from the new-session callback

  const Health& health() const { return health_; }
  const ServerCheckCounters& counters() const { return counters_; }
  const Endpoint& target() const { return target_; }

 private:
  enum class State { kIdle, kConnecting, kHandshaking, kRequest, kAwaitTicket, kKeepIdle };

  void StartCheck();
  void SendRequest();
  void Connect();
  bool StartTls();  // false: the check failed and ended
  void Drive();
  void OnHandshakeDone();
  void ReadResponse();
  void Succeed();
  void Fail(CheckFailure reason, const std::string& detail);
  void EndCheck(bool ok);
  void CloseConnection(CloseMode mode);
  void OnDeadline();
  void ScheduleNext();
  void UpdateInterest();
  void Trace(std::string_view event);

  CheckerThreadContext& ctx_;
  Endpoint target_;
  Health health_;
  ServerCheckCounters counters_;
  State state_ = State::kIdle;
  TlsClient client_;             // the connection (lab/tls_client.h)
  HttpResponseReader response_;  // the http check's response, bounded (lab/http_response.h)
  std::string request_;          // the http check's request, built once
  SslSessionPtr saved_;          // the one saved session (HAProxy: reused_sess)
  bool got_session_ = false;     // a session arrived on this connection
  bool want_write_ = false;
  bool first_done_ = false;    // this backend's first check has ended
  bool steady_check_ = false;  // the check in flight started after the first round completed
  uint64_t conn_id_ = 0;
  Clock::time_point due_{};          // when this check was due (drives the fixed-rate schedule)
  Clock::time_point check_start_{};  // when it actually started (latency)
  EventLoop::TimerId interval_timer_ = 0;
  EventLoop::TimerId deadline_timer_ = 0;
  EventLoop::TimerId ticket_timer_ = 0;
};

// Installs the client callbacks that route new sessions to the actor (SSL app data).
void InstallCheckerCallbacks(SSL_CTX* ctx);

}  // namespace tlslab
