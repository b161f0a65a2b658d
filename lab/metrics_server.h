// `--metrics ADDR:PORT`: the lab's live figures over HTTP at /metrics for Prometheus, from a
// thread of its own (so a slow scraper never delays an event loop or the 1 Hz monitor). It
// serves the families last published by the monitor (lab/metrics.h builds them), under a
// mutex: the monitor publishes once a second, a scrape copies nothing but the rendered text.
//
// Every bound is fixed: at most kMetricsMaxClients connections (the oldest is dropped for a
// newcomer), each with kMetricsClientTime to send its request and take the reply, and at most
// kMetricsRequestMax bytes of request head (then 431). GET /metrics only (405 for other
// methods, 404 for other paths); every reply closes its connection (a lingering close: the
// client's own close is awaited within its time).
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "lab/duration.h"
#include "lab/event_loop.h"
#include "lab/metrics_text.h"
#include "lab/net.h"

namespace tlslab {

inline constexpr size_t kMetricsMaxClients = 8;
inline constexpr size_t kMetricsRequestMax = 8192;
inline constexpr Millis kMetricsClientTime{2000};

// "PORT" (loopback, 127.0.0.1) or "HOST:PORT" / "[V6]:PORT": a non-loopback address only when
// named. Throws UsageError naming --metrics and what is accepted.
Endpoint ParseMetricsAddress(std::string_view text);

// What a client has sent so far, read as an HTTP/1.x request head (RFC 9112 section 2.1).
struct MetricsRequest {
  int status = 0;          // 0 = the head is incomplete; else the status to answer
  MetricsFormat format{};  // from the Accept header, for a 200
};
// Pure, for the unit tests: `received` holds at most kMetricsRequestMax bytes.
MetricsRequest ParseMetricsRequest(std::string_view received);

// The whole reply for a parsed request: status line, headers, body (`body` for a 200).
std::string MetricsReply(const MetricsRequest& request, std::string_view body);

class MetricsServer;
// The server for `--metrics VALUE`, listening; nullptr when VALUE is empty. Warns on stderr when
// the address is not loopback (other machines can read the figures).
// With a `source`, each scrape calls it (on the server's thread) instead of reading what
// Publish() left: for a caller with no 1 Hz monitor (tlslab.Server in Python).
using MetricsSource = std::function<std::vector<MetricFamily>()>;
std::unique_ptr<MetricsServer> StartMetricsServer(const std::string& value,
                                                  MetricsSource source = nullptr);

class MetricsServer {
 public:
  // Listens at once, so that a port in use is refused before the run starts: UsageError
  // ("--metrics: cannot listen on ...").
  explicit MetricsServer(const Endpoint& at, MetricsSource source = nullptr);
  ~MetricsServer();  // stops the thread and closes every connection
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // Thread-safe: replaces what scrapes see.
  void Publish(std::vector<MetricFamily> families);
  int port() const { return port_; }

 private:
  struct Client {
    int fd = -1;
    Clock::time_point deadline;
    std::string in;
    std::string out;
    bool replied = false;  // the reply is in `out`
    bool sent = false;     // and all of it went out: only the client's close is awaited
  };
  void Serve();
  void Accept(Clock::time_point now);
  void OnClient(Client& c, short revents);  // marks c.fd = -1 when done
  std::string Render(MetricsFormat format);

  int listen_fd_ = -1;
  int stop_fd_ = -1;  // an eventfd: the destructor wakes the thread with it
  int port_ = 0;
  std::vector<Client> clients_;  // the server thread's alone
  std::mutex mu_;
  std::vector<MetricFamily> families_;  // guarded by mu_
  MetricsSource source_;
  std::thread thread_;
};

}  // namespace tlslab
