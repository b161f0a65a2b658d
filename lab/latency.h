// Check latency: a log-linear histogram in microseconds (32 sub-buckets per power of two,
// about 3% resolution), written by one thread, merged after the run.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace tlslab {

class LatencyHistogram {
 public:
  void Record(uint64_t micros);
  void Record(uint64_t micros, uint64_t times);  // `times` checks of the same latency
  void Merge(const LatencyHistogram& other, uint64_t times = 1);  // `times` copies of other
  uint64_t count() const { return count_; }
  // q in [0, 1]; returns the upper bound of the bucket holding that quantile (0 when empty).
  uint64_t Quantile(double q) const;
  uint64_t max() const { return max_; }

 private:
  static constexpr int kSubBits = 5;
  // Rows 0..59: the linear first row plus one per power of two 2^5..2^63.
  static constexpr int kBuckets = (64 - kSubBits + 1) << kSubBits;
  static size_t BucketOf(uint64_t v);
  static uint64_t UpperBound(size_t bucket);
  std::array<uint64_t, kBuckets> buckets_{};
  uint64_t count_ = 0;
  uint64_t max_ = 0;
};

}  // namespace tlslab
