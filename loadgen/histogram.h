// Histogram: latency counts in log-linear buckets, HdrHistogram-style.
//
// Values are nanoseconds. Below 256 ns every value has its own bucket; above,
// each power of two is split into 128 equal buckets, so a bucket is never
// wider than 1/128 of its lower bound. Reported values are bucket midpoints
// (clamped to the exact min and max), hence at most 1/256 = 0.39% off the
// true value anywhere from 1 ns to kMaxValue (about 18 minutes); larger
// values are clamped to kMaxValue and counted in saturated().
//
// record() is branch-light and allocation-free: one clz, one add. Each load
// generator thread owns one histogram; merge() adds them at the end.
#pragma once

#include <cstdint>
#include <vector>

namespace loadgen {

class Histogram {
 public:
  static constexpr int kSubBucketBits = 8;  // 256 sub-buckets, upper 128 used above
  static constexpr int kMaxBits = 40;       // 2^40 ns = 1,099 s
  static constexpr uint64_t kMaxValue = (uint64_t{1} << kMaxBits) - 1;
  static constexpr double kMaxRelativeError = 1.0 / 256;

  Histogram();

  void record(uint64_t ns) {
    if (ns > kMaxValue) {
      ns = kMaxValue;
      ++saturated_;
    }
    ++counts_[index_of(ns)];
    ++count_;
    sum_ += ns;
    if (ns < min_) min_ = ns;
    if (ns > max_) max_ = ns;
  }

  void merge(const Histogram& other);
  void reset();

  uint64_t count() const { return count_; }
  uint64_t saturated() const { return saturated_; }
  uint64_t min() const { return count_ ? min_ : 0; }
  uint64_t max() const { return max_; }
  double mean() const { return count_ ? static_cast<double>(sum_) / count_ : 0; }
  // From the buckets around the exact mean (one pass at report time keeps a
  // sum of squares out of record()).
  double stdev() const;
  // Share of values within mean +/- stdev, in percent (wrk's "+/- Stdev").
  double within_stdev_percent() const;
  // Smallest value v such that `percentile`% of the values are <= v.
  uint64_t value_at_percentile(double percentile) const;

  struct Bucket {
    uint64_t value;     // representative value (midpoint, clamped to min/max)
    uint64_t count;     // values in this bucket
    double percentile;  // cumulative share up to and including this bucket, %
  };
  // The non-empty buckets in increasing order: the full spectrum.
  std::vector<Bucket> buckets() const;

  // Exposed for tests: bucket index of a value and the bucket's bounds.
  static uint32_t index_of(uint64_t v) {
    if (v < kSubBuckets) return static_cast<uint32_t>(v);
    const int msb = 63 - __builtin_clzll(v);
    const int shift = msb - (kSubBucketBits - 1);
    return static_cast<uint32_t>(kSubBuckets + (shift - 1) * kHalf + ((v >> shift) - kHalf));
  }
  static uint64_t lowest_of(uint32_t index);
  static uint64_t width_of(uint32_t index);

 private:
  static constexpr uint32_t kSubBuckets = 1u << kSubBucketBits;
  static constexpr uint32_t kHalf = kSubBuckets / 2;
  static constexpr uint32_t kIndexCount = kSubBuckets + (kMaxBits - kSubBucketBits) * kHalf;

  uint64_t representative(uint32_t index) const;

  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
  uint64_t saturated_ = 0;
  uint64_t sum_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
};

}  // namespace loadgen
