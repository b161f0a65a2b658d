#include "lab/cpu.h"

namespace tlslab {
namespace {
uint64_t ReadClock(clockid_t clock, bool* ok) {
  timespec ts{};
  *ok = clock_gettime(clock, &ts) == 0;
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ULL + static_cast<uint64_t>(ts.tv_nsec);
}
}  // namespace

size_t CpuMeter::RegisterCurrentThread() {
  auto slot = std::make_unique<Slot>();
  pthread_getcpuclockid(pthread_self(), &slot->clock);
  std::lock_guard lock(mutex_);
  slots_.push_back(std::move(slot));
  return slots_.size() - 1;
}

void CpuMeter::FinishCurrentThread(size_t index) {
  std::lock_guard lock(mutex_);
  Slot& slot = *slots_[index];
  slot.final_ns.store(ThreadCpuNs());
  slot.alive.store(false);
}

uint64_t CpuMeter::TotalNs() const {
  std::lock_guard lock(mutex_);
  uint64_t total = 0;
  for (const auto& slot : slots_) {
    // Under the mutex a thread cannot be between "alive" and its final reading.
    if (slot->alive.load()) {
      bool ok = false;
      uint64_t ns = ReadClock(slot->clock, &ok);
      total += ok ? ns : slot->final_ns.load();
    } else {
      total += slot->final_ns.load();
    }
  }
  return total;
}

uint64_t ThreadCpuNs() {
  bool ok = false;
  return ReadClock(CLOCK_THREAD_CPUTIME_ID, &ok);
}

uint64_t ProcessCpuNs() {
  bool ok = false;
  return ReadClock(CLOCK_PROCESS_CPUTIME_ID, &ok);
}

}  // namespace tlslab
