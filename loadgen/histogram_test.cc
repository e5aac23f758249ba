#include "loadgen/histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace loadgen {
namespace {

constexpr uint64_t kUs = 1000;
constexpr uint64_t kMinute = 60'000'000'000;

// Deterministic log-uniform values between lo and hi (ns).
std::vector<uint64_t> log_uniform(size_t n, uint64_t lo, uint64_t hi, uint64_t seed) {
  std::vector<uint64_t> v;
  v.reserve(n);
  uint64_t x = seed;
  const double span = std::log(static_cast<double>(hi) / lo);
  for (size_t i = 0; i < n; ++i) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;  // LCG
    const double u = static_cast<double>(x >> 11) / 9007199254740992.0;
    v.push_back(static_cast<uint64_t>(lo * std::exp(u * span)));
  }
  return v;
}

TEST(Histogram, EveryBucketIsWithinItsErrorBoundFrom1usTo1Minute) {
  // The representative value (midpoint) of the bucket holding v is within
  // 1/256 of v, for every v from 1 us to 1 min (stepping 0.05% at a time).
  for (double x = kUs; x <= static_cast<double>(kMinute); x *= 1.0005) {
    const uint64_t v = static_cast<uint64_t>(x);
    const uint32_t i = Histogram::index_of(v);
    const uint64_t lo = Histogram::lowest_of(i), w = Histogram::width_of(i);
    ASSERT_LE(lo, v);
    ASSERT_LT(v, lo + w);
    const double mid = static_cast<double>(lo) + static_cast<double>(w / 2);
    ASSERT_LE(std::fabs(mid - static_cast<double>(v)) / static_cast<double>(v), Histogram::kMaxRelativeError)
        << v;
  }
}

TEST(Histogram, IndexIsMonotonicAndContiguous) {
  uint32_t prev = Histogram::index_of(0);
  for (uint64_t v = 1; v < (1u << 20); ++v) {
    const uint32_t i = Histogram::index_of(v);
    ASSERT_TRUE(i == prev || i == prev + 1) << v;
    prev = i;
  }
}

TEST(Histogram, PercentilesWithinOnePercentOfExact) {
  std::vector<uint64_t> values = log_uniform(200'000, kUs, kMinute, 42);
  Histogram h;
  for (uint64_t v : values) h.record(v);
  std::sort(values.begin(), values.end());
  for (double p : {1.0, 10.0, 50.0, 90.0, 99.0, 99.9, 99.99}) {
    const size_t rank = static_cast<size_t>(std::ceil(p / 100 * values.size())) - 1;
    const double exact = static_cast<double>(values[rank]);
    const double got = static_cast<double>(h.value_at_percentile(p));
    EXPECT_LE(std::fabs(got - exact) / exact, 0.01) << "p" << p;
  }
  EXPECT_EQ(h.value_at_percentile(100), values.back());
  EXPECT_EQ(h.value_at_percentile(0), values.front());
}

TEST(Histogram, CountMinMaxMeanAreExact) {
  Histogram h;
  for (uint64_t v : {1500u, 2500u, 1000000u}) h.record(v);
  EXPECT_EQ(h.count(), 3u);
  EXPECT_EQ(h.min(), 1500u);
  EXPECT_EQ(h.max(), 1000000u);
  EXPECT_DOUBLE_EQ(h.mean(), (1500.0 + 2500.0 + 1000000.0) / 3);
}

TEST(Histogram, StdevMatchesExactWithinOnePercent) {
  const std::vector<uint64_t> values = log_uniform(50'000, 10 * kUs, 10'000 * kUs, 7);
  Histogram h;
  double sum = 0;
  for (uint64_t v : values) {
    h.record(v);
    sum += static_cast<double>(v);
  }
  const double mean = sum / values.size();
  double sq = 0;
  for (uint64_t v : values) sq += (v - mean) * (v - mean);
  const double exact = std::sqrt(sq / (values.size() - 1));
  EXPECT_NEAR(h.stdev(), exact, exact * 0.01);
}

TEST(Histogram, MergeEqualsRecordingEverythingInOne) {
  const std::vector<uint64_t> a = log_uniform(10'000, kUs, kMinute, 1);
  const std::vector<uint64_t> b = log_uniform(10'000, 50 * kUs, 5 * kUs * 1000, 2);
  Histogram ha, hb, all;
  for (uint64_t v : a) ha.record(v), all.record(v);
  for (uint64_t v : b) hb.record(v), all.record(v);
  ha.merge(hb);
  EXPECT_EQ(ha.count(), all.count());
  EXPECT_EQ(ha.min(), all.min());
  EXPECT_EQ(ha.max(), all.max());
  EXPECT_DOUBLE_EQ(ha.mean(), all.mean());
  for (double p : {50.0, 90.0, 99.0, 99.9, 99.99}) {
    EXPECT_EQ(ha.value_at_percentile(p), all.value_at_percentile(p)) << p;
  }
}

TEST(Histogram, ValuesAboveTheRangeAreClampedAndCounted) {
  Histogram h;
  h.record(Histogram::kMaxValue + 12345);
  h.record(5 * kUs);
  EXPECT_EQ(h.saturated(), 1u);
  EXPECT_EQ(h.max(), Histogram::kMaxValue);
  EXPECT_EQ(h.count(), 2u);
}

TEST(Histogram, SpectrumIsCumulativeAndEndsAt100) {
  Histogram h;
  for (uint64_t v = 1; v <= 1000; ++v) h.record(v * kUs);
  const auto buckets = h.buckets();
  ASSERT_FALSE(buckets.empty());
  uint64_t total = 0;
  double prev_p = 0;
  uint64_t prev_v = 0;
  for (const auto& b : buckets) {
    total += b.count;
    EXPECT_GT(b.percentile, prev_p);
    EXPECT_GT(b.value, prev_v);
    prev_p = b.percentile;
    prev_v = b.value;
  }
  EXPECT_EQ(total, 1000u);
  EXPECT_DOUBLE_EQ(buckets.back().percentile, 100.0);
  EXPECT_EQ(buckets.back().value, 1000 * kUs);
}

TEST(Histogram, ResetEmptiesIt) {
  Histogram h;
  h.record(kUs);
  h.reset();
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.max(), 0u);
  EXPECT_EQ(h.value_at_percentile(50), 0u);
  EXPECT_TRUE(h.buckets().empty());
}

}  // namespace
}  // namespace loadgen
