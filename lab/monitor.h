// The main thread of a run: samples the counters once a second, prints a live line, answers
// the stats socket, and ends the run at its deadline, when the work is done, or on
// SIGINT/SIGTERM (blocked in every thread and read here from a signalfd, so no handler runs
// inside the event loops).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "lab/event_loop.h"
#include "lab/figures.h"

namespace tlslab {

// Blocks SIGINT and SIGTERM for this thread and every thread created after it; construct it
// before starting any engine. Restores the old mask when destroyed.
class StopSignals {
 public:
  StopSignals();
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
  sigset_t old_{};
};

// HAProxy's "show info" subset over a unix socket (SslBackendKeyRate, SslBackendMaxKeyRate,
// ...), so `socat ./stats.sock stdio <<< "show info"` works as in the incident write-up.
class StatsSocket {
 public:
  explicit StatsSocket(const std::string& path);  // throws UsageError/RuntimeError
  ~StatsSocket();
  int fd() const { return fd_; }
  // Accepts one client and answers its command from `info` ("Name: value" lines).
  void Serve(const std::vector<std::pair<std::string, std::string>>& info);

 private:
  std::string path_;
  int fd_ = -1;
};

struct MonitorHooks {
  std::function<Sample()> sample;  // cumulative counters now
  std::function<bool()> done;      // the work ended by itself (max-checks)
  std::function<std::string(const Sample& now, const Sample& prev)> live_line;
  std::function<std::vector<std::pair<std::string, std::string>>(const std::vector<Sample>&)>
      info;  // "show info" lines, from the samples so far
};

struct MonitorResult {
  std::vector<Sample> samples;  // the first at t = 0
  bool interrupted = false;     // stop_fd (SIGINT, SIGTERM, KeyboardInterrupt) ended the run
};

// Runs until `deadline` (Clock::time_point::max() = no deadline), hooks.done(), or `stop_fd`
// becomes readable (StopSignals::fd() on the command line; an eventfd from Python).
MonitorResult RunMonitor(Clock::time_point start, Clock::time_point deadline, bool live,
                         int stop_fd, StatsSocket* stats, const MonitorHooks& hooks);

}  // namespace tlslab
