#include "lab/monitor.h"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "lab/errors.h"

namespace tlslab {

StopSignals::StopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, &old_);
  fd_ = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd_ < 0) throw RuntimeError(std::string("signalfd: ") + std::strerror(errno));
}

StopSignals::~StopSignals() {
  // Consume the signal that ended the run: unblocked while still pending, it would kill the
  // process before the summary is printed.
  signalfd_siginfo info{};
  while (read(fd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
  }
  close(fd_);
  pthread_sigmask(SIG_SETMASK, &old_, nullptr);
}

std::optional<std::string> StatsReply(std::string_view received, bool peer_done,
                                      const std::function<InfoLines()>& info) {
  // A command is one line (HAProxy's CLI, management.txt 9.3); a peer that closed its side
  // or sent kStatsCommandMax bytes without a newline gets its answer for what it sent.
  const size_t newline = received.find('\n');
  if (newline == std::string_view::npos && !peer_done && received.size() < kStatsCommandMax) {
    return std::nullopt;
  }
  std::string_view command = received.substr(0, newline);
  while (!command.empty() &&
         (command.back() == '\r' || command.back() == ' ' || command.back() == '\n')) {
    command.remove_suffix(1);
  }
  std::string reply;
  if (command == "show info") {
    for (const auto& [name, value] : info()) reply += name + ": " + value + "\n";
  } else {
    reply = "Unknown command. This tlslab stats socket answers: show info\n";
  }
  reply += "\n";
  return reply;
}

namespace {

// Whatever is at `path` must be a socket no one answers on (a stale one from a run that was
// killed); anything else is refused, by name, and left alone.
void ClearStaleSocket(const std::string& path, const sockaddr_un& addr) {
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return;
    throw UsageError("--stats-socket: cannot inspect '" + path + "': " + std::strerror(errno));
  }
  if (!S_ISSOCK(st.st_mode)) {
    throw UsageError("--stats-socket: '" + path +
                     "' exists and is not a socket; refusing to replace it");
  }
  int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (probe < 0) throw UsageError(std::string("--stats-socket: socket: ") + std::strerror(errno));
  const bool live = connect(probe, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0 ||
                    errno == EAGAIN;  // a full backlog: someone is listening
  close(probe);
  if (live) {
    throw UsageError("--stats-socket: '" + path +
                     "' is in use by a running process; choose another path");
  }
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    throw UsageError("--stats-socket: cannot remove the stale socket '" + path +
                     "': " + std::strerror(errno));
  }
}

}  // namespace

StatsSocket::StatsSocket(const std::string& path, unsigned mode) : path_(path) {
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path) {
    throw UsageError("--stats-socket: path too long (at most " +
                     std::to_string(sizeof addr.sun_path - 1) + " bytes): " + path);
  }
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  ClearStaleSocket(path, addr);
  fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  bool bound = false;
  // chmod between bind and listen: nobody can connect before listen, so the umask's mode is
  // never usable by anyone.
  if (fd_ < 0 || !(bound = bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) ||
      chmod(path.c_str(), mode) != 0 || listen(fd_, 64) != 0) {
    int err = errno;
    if (fd_ >= 0) close(fd_);
    if (bound) unlink(path.c_str());
    fd_ = -1;
    throw UsageError("--stats-socket: cannot listen on '" + path + "': " + std::strerror(err));
  }
}

StatsSocket::~StatsSocket() {
  for (Client& c : clients_) close(c.fd);
  if (fd_ >= 0) {
    close(fd_);
    unlink(path_.c_str());
  }
}

void StatsSocket::Expire(Clock::time_point now, const std::function<InfoLines()>& info) {
  for (size_t i = clients_.size(); i-- > 0;) {
    Client& c = clients_[i];
    if (now < c.deadline) continue;
    // Out of time: one that never finished its command is told what the socket answers
    // (best effort, never waited on); one too slow to read its answer just loses it.
    if (!c.replied) {
      const std::string reply = *StatsReply(c.in, true, info);
      ssize_t ignored = send(c.fd, reply.data(), reply.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      (void)ignored;
    }
    Drop(i);
  }
}

size_t StatsSocket::AddPollFds(std::vector<pollfd>& fds) {
  fds.push_back({fd_, POLLIN, 0});
  for (const Client& c : clients_) {
    fds.push_back({c.fd, static_cast<short>(c.replied ? POLLOUT : POLLIN), 0});
  }
  return 1 + clients_.size();
}

void StatsSocket::Drop(size_t i) {
  close(clients_[i].fd);
  clients_.erase(clients_.begin() + static_cast<std::ptrdiff_t>(i));
}

void StatsSocket::Accept(Clock::time_point now) {
  // A few per wake, so that a flood of connects cannot keep the monitor here.
  for (int k = 0; k < 4; ++k) {
    int fd = accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    if (clients_.size() >= kStatsMaxClients) Drop(0);  // the oldest, the likeliest silent
    clients_.push_back({fd, now + kStatsClientTime, {}, {}, false});
  }
}

void StatsSocket::OnPoll(const std::vector<pollfd>& fds, size_t first, Clock::time_point now,
                         const std::function<InfoLines()>& info) {
  const size_t known = clients_.size();  // clients AddPollFds listed, in order
  std::vector<bool> drop(known, false);
  for (size_t i = 0; i < known; ++i) {
    Client& c = clients_[i];
    const short revents = fds[first + 1 + i].revents;
    if (revents == 0) continue;
    if (!c.replied) {
      char buf[256];
      ssize_t n = recv(c.fd, buf, sizeof buf, 0);
      const bool peer_done = n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR);
      if (n > 0) c.in.append(buf, std::min(static_cast<size_t>(n), kStatsCommandMax - c.in.size()));
      if (auto reply = StatsReply(c.in, peer_done, info)) {
        c.out = std::move(*reply);
        c.replied = true;
      } else if (peer_done) {
        drop[i] = true;
        continue;
      }
    }
    if (c.replied) {
      ssize_t n = send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) c.out.erase(0, static_cast<size_t>(n));
      if (c.out.empty() || (n < 0 && errno != EAGAIN && errno != EINTR)) drop[i] = true;
    }
  }
  for (size_t i = known; i-- > 0;) {
    if (drop[i]) Drop(i);
  }
  if (fds[first].revents & POLLIN) Accept(now);
}

MonitorResult RunMonitor(Clock::time_point start, Clock::time_point deadline, bool live,
                         int stop_fd, StatsSocket* stats, const MonitorHooks& hooks) {
  MonitorResult result;
  auto seconds_since_start = [start] {
    return std::chrono::duration<double>(Clock::now() - start).count();
  };
  Sample first = hooks.sample();
  first.t_s = seconds_since_start();
  result.samples.push_back(first);
  if (hooks.sampled) hooks.sampled(result.samples);
  Clock::time_point next_tick = start + std::chrono::seconds(1);
  std::vector<pollfd> fds;
  for (;;) {
    const Clock::time_point now = Clock::now();
    const Clock::time_point wake = std::min(next_tick, deadline);
    if (now >= deadline) break;
    // Wake at the tick, or every 50 ms to notice that the work is done.
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(wake - now).count();
    fds.assign(1, pollfd{stop_fd, POLLIN, 0});
    if (stats != nullptr) {
      stats->Expire(now, [&] { return hooks.info(result.samples); });
      stats->AddPollFds(fds);
    }
    int ready = poll(fds.data(), fds.size(), static_cast<int>(std::clamp<long long>(wait, 0, 50)));
    if (ready > 0 && (fds[0].revents & POLLIN)) {
      result.interrupted = true;
      break;
    }
    if (ready > 0 && stats != nullptr) {
      stats->OnPoll(fds, 1, Clock::now(), [&] { return hooks.info(result.samples); });
    }
    if (hooks.done && hooks.done()) break;
    if (Clock::now() >= next_tick) {
      Sample s = hooks.sample();
      s.t_s = seconds_since_start();
      if (live && hooks.live_line) {
        std::fprintf(stderr, "%s\n", hooks.live_line(s, result.samples.back()).c_str());
      }
      result.samples.push_back(s);
      if (hooks.sampled) hooks.sampled(result.samples);
      next_tick += std::chrono::seconds(1);
    }
  }
  Sample last = hooks.sample();
  last.t_s = seconds_since_start();
  if (last.t_s - result.samples.back().t_s > 0.05) {
    result.samples.push_back(last);
    if (hooks.sampled) hooks.sampled(result.samples);
  }
  return result;
}

}  // namespace tlslab
