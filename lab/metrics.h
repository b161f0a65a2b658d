// The lab's live figures as metric families (lab/metrics_text.h), for `--metrics`.
//
// The checker's figures carry the names HAProxy 2.6's own exporter gives the same things
// (read off the real exporter, `http-request use-service prometheus-exporter`; HAProxy's
// addons/promex/service-prometheus.c; tests/interop/test_metrics_names.py holds them to it):
//   haproxy_process_current_backend_ssl_key_rate  full handshakes in the last second
//                                                 (show info: SslBackendKeyRate)
//   haproxy_process_max_backend_ssl_key_rate      its highest value (SslBackendMaxKeyRate)
//   haproxy_process_nbthread, haproxy_process_uptime_seconds
//   haproxy_server_check_failures_total{proxy,server}, haproxy_server_check_up_down_total
//   {proxy,server}, haproxy_server_status{proxy,server,state}, haproxy_backend_active_servers
// HAProxy has no figure for the rest; they are the lab's own, prefixed tlslab_ (README,
// "Live metrics"). proxy is "tlslab" (the one backend section the checker stands for), server
// the target as given (HOST:PORT).
#pragma once

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "lab/counters.h"
#include "lab/figures.h"
#include "lab/metrics_text.h"

namespace tlslab {

inline constexpr const char* kMetricsProxy = "tlslab";

// One checked server, as HAProxy's exporter has it per server.
struct ServerCheckFigures {
  std::string server;  // HOST:PORT
  uint64_t checks = 0;
  uint64_t failures = 0;
  uint64_t up_down = 0;  // UP -> DOWN transitions (HAProxy's chkdown)
  bool up = true;
};

// One virtual backend of the server side.
struct BackendFigures {
  std::string backend;  // HOST:PORT
  uint64_t sessions_removed = 0;
};

// The key rate as HAProxy's exporter shows it, from the monitor's 1 Hz samples: the last
// second's full handshakes and the highest second so far, by the same rules as the run's
// JSON figures (SecondBetween, lab/figures.h).
class KeyRateTracker {
 public:
  // Takes the samples not seen yet (the vector only grows).
  void Update(const std::vector<Sample>& samples);
  double current_per_s() const { return current_; }
  double max_per_s() const { return max_; }

 private:
  size_t seen_ = 0;
  double current_ = 0;
  double max_ = 0;
};

struct MetricsInput {
  Sample now;
  bool checker = false;  // check and run
  bool server = false;   // serve and run
  int checker_threads = 1;
  double key_rate_per_s = 0;
  double max_key_rate_per_s = 0;
  std::vector<ServerCheckFigures> checked;  // checker: one per target
  std::vector<BackendFigures> backends;     // server: one per backend
};

std::vector<MetricFamily> LabMetricFamilies(const MetricsInput& in);

}  // namespace tlslab
