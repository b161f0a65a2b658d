#include "lab/monitor.h"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

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

StatsSocket::StatsSocket(const std::string& path) : path_(path) {
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path) {
    throw UsageError("--stats-socket: path too long (at most " +
                     std::to_string(sizeof addr.sun_path - 1) + " bytes): " + path);
  }
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  unlink(path.c_str());  // a stale socket from an earlier run
  if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(fd_, 16) != 0) {
    int err = errno;
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
    throw UsageError("--stats-socket: cannot listen on '" + path + "': " + std::strerror(err));
  }
}

StatsSocket::~StatsSocket() {
  if (fd_ >= 0) {
    close(fd_);
    unlink(path_.c_str());
  }
}

void StatsSocket::Serve(const std::vector<std::pair<std::string, std::string>>& info) {
  int client = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
  if (client < 0) return;
  // One command line, read with a short bound so a silent client cannot stall the run.
  std::string command;
  pollfd p{client, POLLIN, 0};
  char buf[256];
  while (command.find('\n') == std::string::npos && command.size() < 1024 &&
         poll(&p, 1, 200) == 1) {
    ssize_t n = read(client, buf, sizeof buf);
    if (n <= 0) break;
    command.append(buf, static_cast<size_t>(n));
  }
  while (!command.empty() &&
         (command.back() == '\n' || command.back() == '\r' || command.back() == ' ')) {
    command.pop_back();
  }
  std::string reply;
  if (command == "show info") {
    for (const auto& [name, value] : info) reply += name + ": " + value + "\n";
  } else {
    reply = "Unknown command. This tlslab stats socket answers: show info\n";
  }
  reply += "\n";
  ssize_t ignored = send(client, reply.data(), reply.size(), MSG_NOSIGNAL);
  (void)ignored;
  close(client);
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
  Clock::time_point next_tick = start + std::chrono::seconds(1);
  for (;;) {
    const Clock::time_point now = Clock::now();
    const Clock::time_point wake = std::min(next_tick, deadline);
    if (now >= deadline) break;
    // Wake at the tick, or every 50 ms to notice that the work is done.
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(wake - now).count();
    pollfd fds[2] = {{stop_fd, POLLIN, 0}, {stats ? stats->fd() : -1, POLLIN, 0}};
    int ready = poll(fds, 2, static_cast<int>(std::clamp<long long>(wait, 0, 50)));
    if (ready > 0 && (fds[0].revents & POLLIN)) {
      result.interrupted = true;
      break;
    }
    if (ready > 0 && stats != nullptr && (fds[1].revents & POLLIN)) {
      stats->Serve(hooks.info(result.samples));
    }
    if (hooks.done && hooks.done()) break;
    if (Clock::now() >= next_tick) {
      Sample s = hooks.sample();
      s.t_s = seconds_since_start();
      if (live && hooks.live_line) {
        std::fprintf(stderr, "%s\n", hooks.live_line(s, result.samples.back()).c_str());
      }
      result.samples.push_back(s);
      next_tick += std::chrono::seconds(1);
    }
  }
  Sample last = hooks.sample();
  last.t_s = seconds_since_start();
  if (last.t_s - result.samples.back().t_s > 0.05) result.samples.push_back(last);
  return result;
}

}  // namespace tlslab
