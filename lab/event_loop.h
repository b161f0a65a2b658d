// One event loop per thread: epoll for sockets, a min-heap of timers, an eventfd to be woken
// from another thread. Handlers are objects that outlive their registration.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <queue>
#include <unordered_map>
#include <vector>

namespace tlslab {

using Clock = std::chrono::steady_clock;

class IoHandler {
 public:
  virtual ~IoHandler() = default;
  virtual void OnIo(uint32_t epoll_events) = 0;
};

class EventLoop {
 public:
  using TimerId = uint64_t;
  using TimerFn = std::function<void()>;

  EventLoop();  // throws RuntimeError when epoll or eventfd cannot be created
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Register, change or remove interest in fd. Return false (errno set) on failure.
  bool Add(int fd, uint32_t events, IoHandler* handler);
  bool Modify(int fd, uint32_t events, IoHandler* handler);
  void Remove(int fd);

  // Timers: fn runs once on this loop's thread at or after `when`. Cancel is cheap and safe
  // for ids that already ran. With `early`, fn may also run up to `early` before `when` when
  // the loop is awake anyway (another timer due, an event): timers with slack then share a
  // wake-up instead of each costing one (the kernel's timer slack, prctl(2) PR_SET_TIMERSLACK,
  // does the same for sleeps). The loop never wakes early for them.
  TimerId At(Clock::time_point when, TimerFn fn, Clock::duration early = Clock::duration::zero());
  TimerId After(std::chrono::milliseconds delay, TimerFn fn) {
    return At(Clock::now() + delay, std::move(fn));
  }
  void Cancel(TimerId id);
  size_t PendingTimers() const { return timers_.size(); }

  // Runs until Stop() (from any thread), `deadline`, or `until()` returns true (checked after
  // each batch of events and timers), whichever comes first.
  void Run(Clock::time_point deadline, const std::function<bool()>& until = nullptr);
  void Stop();  // thread-safe
  bool stopped() const { return stop_.load(std::memory_order_relaxed); }

 private:
  struct Entry {
    Clock::time_point when;
    TimerId id;
    Clock::duration early;
    bool operator>(const Entry& o) const { return when != o.when ? when > o.when : id > o.id; }
  };
  void RunDueTimers();
  int WaitMillis(Clock::time_point deadline) const;

  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  std::atomic<bool> stop_{false};
  TimerId next_id_ = 1;
  std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> heap_;
  std::unordered_map<TimerId, TimerFn> timers_;
  Clock::duration max_early_ = Clock::duration::zero();  // the largest `early` given to At
  std::vector<Entry> not_yet_;                           // RunDueTimers' scratch
};

}  // namespace tlslab
