// EventLoop: timers in time order (ties in scheduling order), Cancel, deadlines, Stop from
// another thread, socket readiness reaching its handler, and timer slack (a few timers run
// early with one that is due; none wakes the loop early).
#include "lab/event_loop.h"

#include <gtest/gtest.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace tlslab {
namespace {

using std::chrono::milliseconds;

// Generous bound for "promptly": far below the loop's 1 s wait cap, far above scheduling noise.
constexpr milliseconds kPrompt{300};

milliseconds Since(Clock::time_point start) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - start);
}

TEST(EventLoopTest, TimersFireInTimeOrder) {
  EventLoop loop;
  std::vector<int> fired;
  const Clock::time_point t0 = Clock::now();
  loop.At(t0 + milliseconds(30), [&] { fired.push_back(3); });
  loop.At(t0 + milliseconds(10), [&] { fired.push_back(1); });
  loop.At(t0 + milliseconds(20), [&] { fired.push_back(2); });
  loop.At(t0 + milliseconds(20), [&] { fired.push_back(22); });  // same time: after its twin
  loop.At(t0 + milliseconds(40), [&] { loop.Stop(); });
  loop.Run(t0 + std::chrono::seconds(5));
  EXPECT_EQ(fired, (std::vector<int>{1, 2, 22, 3}));
  EXPECT_EQ(loop.PendingTimers(), 0u);
}

TEST(EventLoopTest, TimerFiresNoEarlierThanAsked) {
  EventLoop loop;
  const Clock::time_point start = Clock::now();
  Clock::time_point fired_at{};
  loop.After(milliseconds(25), [&] {
    fired_at = Clock::now();
    loop.Stop();
  });
  loop.Run(start + std::chrono::seconds(5));
  ASSERT_NE(fired_at, Clock::time_point{});
  EXPECT_GE(fired_at - start, milliseconds(25));
  EXPECT_LT(Since(start), kPrompt);
}

TEST(EventLoopTest, TimersWithSlackRunWithADueOneAtMostFourAtATime) {
  EventLoop loop;
  const Clock::time_point t0 = Clock::now();
  std::vector<std::pair<int, Clock::time_point>> fired;
  auto mark = [&](int i) { return [&fired, i] { fired.emplace_back(i, Clock::now()); }; };
  loop.At(t0 + milliseconds(20), mark(0));  // due: wakes the loop
  // Six within their 200 ms slack of t0 + 20 ms: four go along; the fifth waits for its own
  // time (150 ms) and takes the sixth (160 ms) along.
  for (int i = 1; i <= 6; ++i) loop.At(t0 + milliseconds(100 + 10 * i), mark(i), milliseconds(200));
  loop.At(t0 + milliseconds(300), [&] { loop.Stop(); });
  loop.Run(t0 + std::chrono::seconds(5));
  ASSERT_EQ(fired.size(), 7u);
  for (int i = 0; i <= 6; ++i) EXPECT_EQ(fired[i].first, i);
  for (int i = 1; i <= 4; ++i) EXPECT_LT(fired[i].second - t0, milliseconds(100)) << i;
  for (int i = 5; i <= 6; ++i) EXPECT_GE(fired[i].second - t0, milliseconds(150)) << i;
  EXPECT_LT(fired[6].second - t0, milliseconds(160));
}

TEST(EventLoopTest, SlackNeverWakesTheLoopEarly) {
  EventLoop loop;
  const Clock::time_point t0 = Clock::now();
  Clock::time_point fired_at{};
  loop.At(
      t0 + milliseconds(60),
      [&] {
        fired_at = Clock::now();
        loop.Stop();
      },
      milliseconds(50));
  loop.Run(t0 + std::chrono::seconds(5));
  EXPECT_GE(fired_at - t0, milliseconds(60));
}

TEST(EventLoopTest, CancelPreventsATimer) {
  EventLoop loop;
  std::vector<int> fired;
  const EventLoop::TimerId cancelled = loop.After(milliseconds(5), [&] { fired.push_back(1); });
  loop.After(milliseconds(10), [&] { fired.push_back(2); });
  loop.After(milliseconds(20), [&] { loop.Stop(); });
  EXPECT_EQ(loop.PendingTimers(), 3u);
  loop.Cancel(cancelled);
  EXPECT_EQ(loop.PendingTimers(), 2u);
  loop.Run(Clock::now() + std::chrono::seconds(5));
  EXPECT_EQ(fired, std::vector<int>{2});
  loop.Cancel(cancelled);  // safe for ids already gone
  loop.Cancel(12345);      // and for ids never issued
}

TEST(EventLoopTest, TimerCanCancelAnotherAndScheduleMore) {
  EventLoop loop;
  std::vector<int> fired;
  EventLoop::TimerId later = 0;
  loop.After(milliseconds(5), [&] {
    fired.push_back(1);
    loop.Cancel(later);
    loop.After(milliseconds(5), [&] {
      fired.push_back(3);
      loop.Stop();
    });
  });
  later = loop.After(milliseconds(8), [&] { fired.push_back(2); });
  loop.Run(Clock::now() + std::chrono::seconds(5));
  EXPECT_EQ(fired, (std::vector<int>{1, 3}));
}

TEST(EventLoopTest, RunReturnsAtTheDeadline) {
  EventLoop loop;
  bool fired = false;
  loop.After(std::chrono::seconds(10), [&] { fired = true; });
  const Clock::time_point start = Clock::now();
  loop.Run(start + milliseconds(30));
  EXPECT_GE(Since(start), milliseconds(30));
  EXPECT_LT(Since(start), kPrompt);
  EXPECT_FALSE(fired);
  EXPECT_EQ(loop.PendingTimers(), 1u);
}

TEST(EventLoopTest, StopFromAnotherThreadEndsRunPromptly) {
  EventLoop loop;
  const Clock::time_point start = Clock::now();
  std::thread stopper([&] {
    std::this_thread::sleep_for(milliseconds(50));
    loop.Stop();
  });
  loop.Run(start + std::chrono::seconds(10));  // nothing else would wake it
  const milliseconds took = Since(start);
  stopper.join();
  EXPECT_TRUE(loop.stopped());
  EXPECT_GE(took, milliseconds(50));
  EXPECT_LT(took, milliseconds(50) + kPrompt) << "the eventfd must wake epoll_wait";
}

TEST(EventLoopTest, RunEndsWhenUntilSaysSo) {
  EventLoop loop;
  int ticks = 0;
  std::function<void()> tick = [&] {
    ++ticks;
    loop.After(milliseconds(2), tick);
  };
  loop.After(milliseconds(2), tick);
  const Clock::time_point start = Clock::now();
  loop.Run(start + std::chrono::seconds(5), [&] { return ticks >= 5; });
  EXPECT_EQ(ticks, 5) << "checked after each batch of timers";
  EXPECT_LT(Since(start), kPrompt);
  EXPECT_FALSE(loop.stopped()) << "until ends this Run only; the loop can run again";
  loop.Run(Clock::now() + std::chrono::seconds(5), [&] { return ticks >= 8; });
  EXPECT_EQ(ticks, 8);
}

TEST(EventLoopTest, StopBeforeRunReturnsAtOnce) {
  EventLoop loop;
  loop.Stop();
  const Clock::time_point start = Clock::now();
  loop.Run(start + std::chrono::seconds(10));
  EXPECT_LT(Since(start), milliseconds(50));
}

class PipeReader : public IoHandler {
 public:
  PipeReader(EventLoop& loop, int fd) : loop_(loop), fd_(fd) {}
  void OnIo(uint32_t events) override {
    events_ |= events;
    char buf[16];
    const ssize_t n = read(fd_, buf, sizeof buf);
    if (n > 0) bytes_.append(buf, static_cast<size_t>(n));
    loop_.Stop();
  }
  uint32_t events() const { return events_; }
  const std::string& bytes() const { return bytes_; }

 private:
  EventLoop& loop_;
  int fd_;
  uint32_t events_ = 0;
  std::string bytes_;
};

TEST(EventLoopTest, ReadinessReachesTheHandler) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  EventLoop loop;
  PipeReader reader(loop, fds[0]);
  ASSERT_TRUE(loop.Add(fds[0], EPOLLIN, &reader));
  loop.After(milliseconds(10), [&] { ASSERT_EQ(write(fds[1], "hi", 2), 2); });
  const Clock::time_point start = Clock::now();
  loop.Run(start + std::chrono::seconds(5));
  EXPECT_LT(Since(start), kPrompt);
  EXPECT_TRUE(reader.events() & EPOLLIN);
  EXPECT_EQ(reader.bytes(), "hi");
  loop.Remove(fds[0]);
  close(fds[0]);
  close(fds[1]);
}

}  // namespace
}  // namespace tlslab
