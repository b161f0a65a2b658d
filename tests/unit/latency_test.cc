// LatencyHistogram: quantiles within the bucket resolution (~3%, asserted at 4%) of the exact
// order statistic, over distributions with known shapes.
#include "lab/latency.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

namespace tlslab {
namespace {

// The order statistic Quantile promises: the value of rank floor(q * (n - 1)) + 1.
uint64_t ExactQuantile(std::vector<uint64_t> sorted, double q) {
  std::sort(sorted.begin(), sorted.end());
  return sorted[static_cast<size_t>(q * static_cast<double>(sorted.size() - 1))];
}

struct Distribution {
  std::string_view name;
  std::vector<uint64_t> values;
};

std::vector<Distribution> Distributions() {
  std::vector<Distribution> out;
  std::vector<uint64_t> uniform;
  for (uint64_t v = 1; v <= 100000; ++v) uniform.push_back(v);
  out.push_back({"uniform_1us_to_100ms", uniform});

  // Check latencies are roughly log-normal: a body near 1 ms and a long tail.
  std::mt19937_64 rng(42);
  std::lognormal_distribution<double> lognormal(std::log(1000.0), 1.0);
  std::vector<uint64_t> tail;
  for (int i = 0; i < 50000; ++i) tail.push_back(static_cast<uint64_t>(lognormal(rng)) + 1);
  out.push_back({"lognormal_around_1ms", tail});

  std::vector<uint64_t> bimodal;  // resumed (fast) and full (slow) handshakes
  for (int i = 0; i < 9000; ++i) bimodal.push_back(200 + static_cast<uint64_t>(i % 50));
  for (int i = 0; i < 1000; ++i) bimodal.push_back(5000 + static_cast<uint64_t>(i % 700));
  out.push_back({"bimodal_resumed_and_full", bimodal});
  return out;
}

TEST(LatencyHistogramTest, QuantilesWithinFourPercentOfExact) {
  const double quantiles[] = {0.0, 0.1, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0};
  for (const Distribution& d : Distributions()) {
    LatencyHistogram h;
    for (uint64_t v : d.values) h.Record(v);
    ASSERT_EQ(h.count(), d.values.size());
    EXPECT_EQ(h.max(), *std::max_element(d.values.begin(), d.values.end())) << d.name;
    for (double q : quantiles) {
      const double exact = static_cast<double>(ExactQuantile(d.values, q));
      const double got = static_cast<double>(h.Quantile(q));
      EXPECT_LE(std::abs(got - exact), 0.04 * exact)
          << d.name << " q=" << q << ": got " << got << ", exact " << exact;
    }
  }
}

TEST(LatencyHistogramTest, SmallValuesAreExact) {
  LatencyHistogram h;
  for (uint64_t v = 0; v < 32; ++v) h.Record(v);
  EXPECT_EQ(h.Quantile(0.0), 0u);
  EXPECT_EQ(h.Quantile(0.5), 15u);
  EXPECT_EQ(h.Quantile(1.0), 31u);
}

TEST(LatencyHistogramTest, EmptyIsZero) {
  LatencyHistogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.Quantile(0.5), 0u);
  EXPECT_EQ(h.max(), 0u);
}

TEST(LatencyHistogramTest, NeverAboveTheMaximum) {
  LatencyHistogram h;
  h.Record(1000);  // its bucket's upper bound is above 1000
  EXPECT_EQ(h.Quantile(0.5), 1000u);
  EXPECT_EQ(h.Quantile(1.0), 1000u);
}

TEST(LatencyHistogramTest, LargestChronoCountIsRecorded) {
  // The checker records a signed microsecond count cast to uint64_t: INT64_MAX is the most a
  // valid one can be.
  LatencyHistogram h;
  h.Record(static_cast<uint64_t>(INT64_MAX));
  h.Record(1);
  EXPECT_EQ(h.count(), 2u);
  EXPECT_EQ(h.Quantile(1.0), static_cast<uint64_t>(INT64_MAX));
  EXPECT_EQ(h.Quantile(0.0), 1u);
}

// Values >= 2^63 (a negative count cast to uint64_t would be one) land in the last row of
// buckets, not past the array.
TEST(LatencyHistogramTest, HugeValuesDoNotOverflowTheBuckets) {
  LatencyHistogram h;
  h.Record(UINT64_MAX);
  h.Record(1);
  EXPECT_EQ(h.count(), 2u);
  EXPECT_EQ(h.Quantile(1.0), UINT64_MAX);
  EXPECT_EQ(h.Quantile(0.0), 1u);
}

TEST(LatencyHistogramTest, MergeEqualsRecordingEverythingInOne) {
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<uint64_t> dist(1, 2000000);
  LatencyHistogram a, b, all;
  for (int i = 0; i < 20000; ++i) {
    const uint64_t v = dist(rng);
    (i % 3 == 0 ? a : b).Record(v);
    all.Record(v);
  }
  a.Merge(b);
  EXPECT_EQ(a.count(), all.count());
  EXPECT_EQ(a.max(), all.max());
  for (double q : {0.01, 0.25, 0.5, 0.75, 0.99}) EXPECT_EQ(a.Quantile(q), all.Quantile(q)) << q;
}

}  // namespace
}  // namespace tlslab
