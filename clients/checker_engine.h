// The checker side: one actor per backend, spread over event-loop threads (one by default,
// as HAProxy 1.7 was single-threaded), each thread with its own client SSL_CTX.
#pragma once

#include <array>
#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "clients/check_actor.h"
#include "lab/config.h"
#include "lab/counters.h"
#include "lab/cpu.h"
#include "lab/latency.h"
#include "lab/metrics.h"
#include "lab/net.h"
#include "lab/pcap.h"
#include "lab/tls_context.h"

namespace tlslab {

// Targets from --target flags and --targets-file, in order. Throws UsageError for a bad
// address, an unreadable file, or no target at all.
std::vector<Endpoint> LoadTargets(const CheckerConfig& config);

class CheckerEngine {
 public:
  CheckerEngine(const Config& config, std::vector<Endpoint> targets, Trace* trace);
  ~CheckerEngine();

  // Starts the threads; the first check of backend i is due at start + i * inter / N.
  void Start(Clock::time_point deadline);
  void Stop();
  void Join();
  // True once max_checks checks have been started and all of them have completed.
  bool BudgetSpent() const;

  CheckerTotals Totals() const;
  uint64_t CpuNs() const { return cpu_.TotalNs(); }
  size_t backends() const { return targets_.size(); }

  // When every backend's first check had ended; nullopt while (or if never) so. Thread-safe.
  std::optional<Clock::time_point> FirstRoundEnd() const;

  // After Join(): merged latency of the checks started after the first round completed, and of
  // those started before (the first round and what overlapped it), one example message per
  // failure reason, backends up.
  LatencyHistogram Latency() const;
  LatencyHistogram FirstRoundLatency() const;
  std::array<std::string, kAllCheckFailures.size()> FailureExamples() const;
  size_t BackendsUp() const;
  // Thread-safe, at any time: each target's own counters, in target order (--metrics).
  std::vector<ServerCheckFigures> PerServer() const;

 private:
  struct Worker;
  Config config_;
  CheckPlan plan_;
  std::vector<Endpoint> targets_;
  std::unique_ptr<KeylogFile> keylog_;
  std::unique_ptr<PcapWriter> pcap_;  // outlives the actors in workers_
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::thread> threads_;
  std::atomic<uint64_t> checks_started_{0};
  FirstRound first_round_;
  CpuMeter cpu_;
};

}  // namespace tlslab
