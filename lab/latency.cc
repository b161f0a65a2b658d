#include "lab/latency.h"

#include <bit>

namespace tlslab {

size_t LatencyHistogram::BucketOf(uint64_t v) {
  constexpr uint64_t kSub = 1u << kSubBits;
  if (v < kSub) return static_cast<size_t>(v);
  const int exponent = 63 - std::countl_zero(v) - kSubBits;  // >= 0
  const uint64_t sub = (v >> exponent) & (kSub - 1);
  return static_cast<size_t>((static_cast<uint64_t>(exponent + 1) << kSubBits) + sub);
}

uint64_t LatencyHistogram::UpperBound(size_t bucket) {
  constexpr uint64_t kSub = 1u << kSubBits;
  if (bucket < kSub) return bucket;
  const int exponent = static_cast<int>(bucket >> kSubBits) - 1;
  const uint64_t sub = bucket & (kSub - 1);
  return ((kSub + sub + 1) << exponent) - 1;
}

void LatencyHistogram::Record(uint64_t micros) {
  ++buckets_[BucketOf(micros)];
  ++count_;
  if (micros > max_) max_ = micros;
}

void LatencyHistogram::Record(uint64_t micros, uint64_t times) {
  if (times == 0) return;
  buckets_[BucketOf(micros)] += times;
  count_ += times;
  if (micros > max_) max_ = micros;
}

void LatencyHistogram::Merge(const LatencyHistogram& other, uint64_t times) {
  if (times == 0) return;
  for (size_t i = 0; i < buckets_.size(); ++i) buckets_[i] += other.buckets_[i] * times;
  count_ += other.count_ * times;
  if (other.max_ > max_) max_ = other.max_;
}

uint64_t LatencyHistogram::Quantile(double q) const {
  if (count_ == 0) return 0;
  uint64_t rank = static_cast<uint64_t>(q * static_cast<double>(count_ - 1)) + 1;
  uint64_t seen = 0;
  for (size_t i = 0; i < buckets_.size(); ++i) {
    seen += buckets_[i];
    if (seen >= rank) {
      uint64_t bound = UpperBound(i);
      return bound < max_ ? bound : max_;
    }
  }
  return max_;
}

}  // namespace tlslab
