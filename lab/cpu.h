// CPU accounting per side: user+sys time of the threads that do one side's work, read from
// each thread's CPU clock (pthread_getcpuclockid). 100 percent = one core.
#pragma once

#include <pthread.h>

#include <atomic>
#include <cstdint>
#include <ctime>
#include <memory>
#include <mutex>
#include <vector>

namespace tlslab {

class CpuMeter {
 public:
  // Called by a worker thread when it starts; the returned slot is for Finish().
  size_t RegisterCurrentThread();
  // Called by the worker thread just before it exits: freezes its final reading.
  void FinishCurrentThread(size_t slot);
  // Total CPU nanoseconds of the registered threads so far; thread-safe.
  uint64_t TotalNs() const;

 private:
  struct Slot {
    clockid_t clock{};
    std::atomic<bool> alive{true};
    std::atomic<uint64_t> final_ns{0};
  };
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<Slot>> slots_;
};

uint64_t ThreadCpuNs();   // the calling thread's CPU time
uint64_t ProcessCpuNs();  // the whole process (getrusage-equivalent CLOCK_PROCESS_CPUTIME_ID)

}  // namespace tlslab
