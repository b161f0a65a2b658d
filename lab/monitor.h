// The main thread of a run: samples the counters once a second, prints a live line, answers
// the stats socket, and ends the run at its deadline, when the work is done, or on
// SIGINT/SIGTERM (blocked in every thread and read here from a signalfd, so no handler runs
// inside the event loops).
#pragma once

#include <poll.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lab/duration.h"
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

using InfoLines = std::vector<std::pair<std::string, std::string>>;

// The reply to what a stats client sent so far (`received`, at most kStatsCommandMax bytes
// kept), or nullopt while its command line is incomplete. Pure, for the fuzz target.
inline constexpr size_t kStatsCommandMax = 1024;
std::optional<std::string> StatsReply(std::string_view received, bool peer_done,
                                      const std::function<InfoLines()>& info);

// HAProxy's "show info" subset over a unix socket (SslBackendKeyRate, SslBackendMaxKeyRate,
// ...), so `socat ./stats.sock stdio <<< "show info"` works as in the incident write-up.
// Clients are served without blocking: each has a bounded buffer and kStatsClientTime to send
// its command and take its reply; at most kStatsMaxClients are open, the oldest is dropped for
// a newcomer, so silent clients neither delay the run nor fill the backlog.
class StatsSocket {
 public:
  // Refuses to replace anything but a stale socket (a live one answers a connect); the socket
  // gets `mode` (0600 by default: the counters are nobody else's business). Throws UsageError.
  StatsSocket(const std::string& path, unsigned mode = 0600);
  ~StatsSocket();
  StatsSocket(const StatsSocket&) = delete;
  StatsSocket& operator=(const StatsSocket&) = delete;

  // Ends the clients whose kStatsClientTime is over.
  void Expire(Clock::time_point now, const std::function<InfoLines()>& info);
  // Appends the descriptors to poll (listener, then clients) and returns how many.
  size_t AddPollFds(std::vector<pollfd>& fds);
  // Acts on what poll reported for the descriptors AddPollFds added, from `first` on.
  void OnPoll(const std::vector<pollfd>& fds, size_t first, Clock::time_point now,
              const std::function<InfoLines()>& info);
  size_t clients() const { return clients_.size(); }

 private:
  struct Client {
    int fd = -1;
    Clock::time_point deadline;
    std::string in;
    std::string out;
    bool replied = false;
  };
  void Accept(Clock::time_point now);
  void Drop(size_t i);
  std::string path_;
  int fd_ = -1;
  std::vector<Client> clients_;
};

inline constexpr size_t kStatsMaxClients = 16;
inline constexpr Millis kStatsClientTime{1000};

struct MonitorHooks {
  std::function<Sample()> sample;  // cumulative counters now
  std::function<bool()> done;      // the work ended by itself (max-checks)
  std::function<std::string(const Sample& now, const Sample& prev)> live_line;
  std::function<InfoLines(const std::vector<Sample>&)> info;  // "show info", from the samples
  // After each sample is taken, the first and the last included (--metrics publishes here).
  std::function<void(const std::vector<Sample>&)> sampled;
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
