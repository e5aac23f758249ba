#include "loadgen/histogram.h"

#include <algorithm>
#include <cmath>

namespace loadgen {

Histogram::Histogram() : counts_(kIndexCount, 0) {}

uint64_t Histogram::lowest_of(uint32_t index) {
  if (index < kSubBuckets) return index;
  const uint32_t shift = (index - kSubBuckets) / kHalf + 1;
  const uint64_t sub = (index - kSubBuckets) % kHalf + kHalf;
  return sub << shift;
}

uint64_t Histogram::width_of(uint32_t index) {
  if (index < kSubBuckets) return 1;
  return uint64_t{1} << ((index - kSubBuckets) / kHalf + 1);
}

uint64_t Histogram::representative(uint32_t index) const {
  const uint64_t mid = lowest_of(index) + width_of(index) / 2;
  return std::clamp(mid, min(), max_);
}

void Histogram::merge(const Histogram& o) {
  for (uint32_t i = 0; i < kIndexCount; ++i) counts_[i] += o.counts_[i];
  count_ += o.count_;
  saturated_ += o.saturated_;
  sum_ += o.sum_;
  min_ = std::min(min_, o.min_);
  max_ = std::max(max_, o.max_);
}

void Histogram::reset() {
  std::fill(counts_.begin(), counts_.end(), 0);
  count_ = saturated_ = sum_ = max_ = 0;
  min_ = UINT64_MAX;
}

double Histogram::stdev() const {
  if (count_ < 2) return 0;
  const double m = mean();
  double sq = 0;
  for (uint32_t i = 0; i < kIndexCount; ++i) {
    if (counts_[i] == 0) continue;
    const double d = static_cast<double>(representative(i)) - m;
    sq += d * d * static_cast<double>(counts_[i]);
  }
  return std::sqrt(sq / static_cast<double>(count_ - 1));
}

double Histogram::within_stdev_percent() const {
  if (count_ == 0) return 0;
  const double m = mean(), sd = stdev();
  uint64_t within = 0;
  for (uint32_t i = 0; i < kIndexCount; ++i) {
    const double v = static_cast<double>(representative(i));
    if (counts_[i] && v >= m - sd && v <= m + sd) within += counts_[i];
  }
  return 100.0 * static_cast<double>(within) / static_cast<double>(count_);
}

uint64_t Histogram::value_at_percentile(double percentile) const {
  if (count_ == 0) return 0;
  if (percentile <= 0) return min();
  if (percentile >= 100) return max_;
  const double p = percentile;
  uint64_t target = static_cast<uint64_t>(std::ceil(p / 100.0 * static_cast<double>(count_)));
  target = std::clamp<uint64_t>(target, 1, count_);
  uint64_t seen = 0;
  for (uint32_t i = 0; i < kIndexCount; ++i) {
    seen += counts_[i];
    if (seen >= target) return representative(i);
  }
  return max_;
}

std::vector<Histogram::Bucket> Histogram::buckets() const {
  std::vector<Bucket> out;
  uint64_t seen = 0;
  for (uint32_t i = 0; i < kIndexCount; ++i) {
    if (counts_[i] == 0) continue;
    seen += counts_[i];
    out.push_back(
        {representative(i), counts_[i], 100.0 * static_cast<double>(seen) / static_cast<double>(count_)});
  }
  return out;
}

}  // namespace loadgen
