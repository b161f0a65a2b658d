#include "lab/event_loop.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "lab/errors.h"

namespace tlslab {

EventLoop::EventLoop() {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epoll_fd_ < 0 || wake_fd_ < 0) {
    throw RuntimeError(std::string("cannot create an event loop: ") + std::strerror(errno));
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = nullptr;  // nullptr marks the wake-up eventfd
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
}

EventLoop::~EventLoop() {
  if (wake_fd_ >= 0) close(wake_fd_);
  if (epoll_fd_ >= 0) close(epoll_fd_);
}

bool EventLoop::Add(int fd, uint32_t events, IoHandler* handler) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = handler;
  return epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) == 0;
}

bool EventLoop::Modify(int fd, uint32_t events, IoHandler* handler) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = handler;
  return epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev) == 0;
}

void EventLoop::Remove(int fd) { epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr); }

EventLoop::TimerId EventLoop::At(Clock::time_point when, TimerFn fn) {
  TimerId id = next_id_++;
  heap_.push({when, id});
  timers_.emplace(id, std::move(fn));
  return id;
}

void EventLoop::Cancel(TimerId id) { timers_.erase(id); }

void EventLoop::Stop() {
  stop_.store(true, std::memory_order_relaxed);
  uint64_t one = 1;
  ssize_t ignored = write(wake_fd_, &one, sizeof one);
  (void)ignored;
}

void EventLoop::RunDueTimers() {
  const Clock::time_point now = Clock::now();
  while (!heap_.empty() && heap_.top().when <= now) {
    TimerId id = heap_.top().id;
    heap_.pop();
    auto it = timers_.find(id);
    if (it == timers_.end()) continue;  // cancelled
    TimerFn fn = std::move(it->second);
    timers_.erase(it);
    fn();
  }
  // Drop cancelled entries at the top so the wait below is not cut short by them.
  while (!heap_.empty() && !timers_.contains(heap_.top().id)) heap_.pop();
}

int EventLoop::WaitMillis(Clock::time_point deadline) const {
  Clock::time_point until = deadline;
  if (!heap_.empty() && heap_.top().when < until) until = heap_.top().when;
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(until - Clock::now()).count();
  if (ms < 0) return 0;
  return ms > 1000 ? 1000 : static_cast<int>(ms);
}

void EventLoop::Run(Clock::time_point deadline, const std::function<bool()>& until) {
  constexpr int kMaxEvents = 256;
  epoll_event events[kMaxEvents];
  while (!stopped() && Clock::now() < deadline && !(until && until())) {
    int n = epoll_wait(epoll_fd_, events, kMaxEvents, WaitMillis(deadline));
    if (n < 0 && errno != EINTR) break;
    for (int i = 0; i < n; ++i) {
      auto* handler = static_cast<IoHandler*>(events[i].data.ptr);
      if (handler == nullptr) {
        uint64_t value = 0;
        ssize_t ignored = read(wake_fd_, &value, sizeof value);
        (void)ignored;
        continue;
      }
      handler->OnIo(events[i].events);
    }
    RunDueTimers();
  }
}

}  // namespace tlslab
