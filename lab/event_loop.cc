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

EventLoop::TimerId EventLoop::At(Clock::time_point when, TimerFn fn, Clock::duration early) {
  TimerId id = next_id_++;
  if (early > max_early_) max_early_ = early;
  heap_.push({when, id, early});
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
  // Due timers run, and so do up to kMaxEarlyPerWake of those within their slack of now (see
  // At): a wake-up takes a few along, never a burst (each would add its work to the wait of
  // the others). The rest of the slack window goes back to the heap.
  constexpr int kMaxEarlyPerWake = 4;
  int early_runs = 0;
  not_yet_.clear();
  while (!heap_.empty() && heap_.top().when <= now + max_early_) {
    const Entry top = heap_.top();
    heap_.pop();
    if (top.when > now) {
      // The due ones come first (the heap is ordered by `when`): with the early share taken,
      // nothing further down can run now, so stop instead of sifting the rest of the window.
      if (early_runs == kMaxEarlyPerWake) {
        heap_.push(top);
        break;
      }
      if (top.when - top.early > now || !timers_.contains(top.id)) {
        if (timers_.contains(top.id)) not_yet_.push_back(top);
        continue;
      }
      ++early_runs;
    }
    TimerId id = top.id;
    auto it = timers_.find(id);
    if (it == timers_.end()) continue;  // cancelled
    TimerFn fn = std::move(it->second);
    timers_.erase(it);
    fn();
  }
  for (const Entry& e : not_yet_) heap_.push(e);
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
