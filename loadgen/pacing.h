// Pacing: when each request of an open-loop (--rate) run is due.
//
// Request k of a thread is due at start + k / rate, a fixed schedule that
// does not move when the server is slow: a request that could not be sent on
// time is sent late, and its latency still counts from its due time (wrk2's
// correction for coordinated omission). Times are computed from k, never
// accumulated, so the schedule does not drift over long runs.
#pragma once

#include <cmath>
#include <cstdint>

#include "server/scheduler.h"

namespace loadgen {

class RateSchedule {
 public:
  RateSchedule() = default;
  RateSchedule(hellepoll::TimePoint start, double per_second)
      : start_(start), interval_ns_(1e9 / per_second) {}

  hellepoll::TimePoint time_of(uint64_t k) const {
    return start_ + std::chrono::nanoseconds(
                        static_cast<int64_t>(std::llround(static_cast<double>(k) * interval_ns_)));
  }

  // How many requests are due at `now`: the k with time_of(k) <= now.
  uint64_t due_by(hellepoll::TimePoint now) const {
    if (now < start_) return 0;
    const double elapsed =
        static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(now - start_).count());
    uint64_t k = static_cast<uint64_t>(elapsed / interval_ns_) + 1;
    // The division and time_of() round differently at the edges; settle on
    // time_of() so that the two never disagree.
    while (k > 0 && time_of(k - 1) > now) --k;
    while (time_of(k) <= now) ++k;
    return k;
  }

  hellepoll::TimePoint start() const { return start_; }

 private:
  hellepoll::TimePoint start_{};
  double interval_ns_ = 0;
};

}  // namespace loadgen
