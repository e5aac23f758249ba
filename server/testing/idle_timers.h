// Idle timer tasks armed in bulk, and the resident memory they cost: shared
// by scheduler_memory_test (which bounds it) and the timer_memory tool
// (which reports it).
#ifndef HELLEPOLL_SERVER_TESTING_IDLE_TIMERS_H_
#define HELLEPOLL_SERVER_TESTING_IDLE_TIMERS_H_

#include <unistd.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <memory>
#include <vector>

#include "server/scheduler.h"

namespace hellepoll::testing {

inline long rss_bytes() {
  std::ifstream f("/proc/self/statm");
  long pages_total = 0, pages_rss = 0;
  f >> pages_total >> pages_rss;
  return pages_rss * sysconf(_SC_PAGESIZE);
}

struct IdleTimers {
  std::vector<std::unique_ptr<Timer>> timers;
  long rss_before = 0;
  long rss_after = 0;
  double bytes_each() const {
    return timers.empty() ? 0.0 : static_cast<double>(rss_after - rss_before) / timers.size();
  }
};

// n timer tasks, each an object of its own with its own callback, armed an
// hour or more ahead (deadlines spread over a second, so the heap is not
// degenerate). The RSS delta counts the tasks, the callbacks and the heap.
inline IdleTimers arm_idle_timers(Scheduler& s, int n, const std::function<void()>& on_fire) {
  IdleTimers out;
  out.rss_before = rss_bytes();
  out.timers.reserve(n);
  for (int i = 0; i < n; ++i) {
    out.timers.push_back(std::make_unique<Timer>(s, on_fire));
    out.timers.back()->start(std::chrono::hours(1) + std::chrono::milliseconds(i % 1000));
  }
  out.rss_after = rss_bytes();
  return out;
}

}  // namespace hellepoll::testing

#endif  // HELLEPOLL_SERVER_TESTING_IDLE_TIMERS_H_
