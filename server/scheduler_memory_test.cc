// Memory footprint of idle timer tasks. A separate target so sanitizer
// builds (whose redzones inflate every allocation) can leave it out.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <vector>

#include <gtest/gtest.h>

#include "server/scheduler.h"

namespace hellepoll {
namespace {

using std::chrono::milliseconds;

long rss_bytes() {
  std::ifstream f("/proc/self/statm");
  long pages_total = 0, pages_rss = 0;
  f >> pages_total >> pages_rss;
  return pages_rss * sysconf(_SC_PAGESIZE);
}

// Half a million idle timer tasks are unremarkable: measured footprint is
// printed (the README quotes it) and bounded by the Memory target (128 B).
TEST(Scheduler, HalfAMillionIdleTimerTasks) {
  constexpr int kTasks = 500000;
  Scheduler s;
  int fired = 0;
  long before = rss_bytes();
  std::vector<std::unique_ptr<Timer>> timers;
  timers.reserve(kTasks);
  for (int i = 0; i < kTasks; ++i) {
    timers.push_back(std::make_unique<Timer>(s, [&fired] { ++fired; }));
    timers.back()->start(std::chrono::hours(1) + milliseconds(i % 1000));
  }
  long after = rss_bytes();
  double per_task = static_cast<double>(after - before) / kTasks;
  std::printf("idle timer task: %.1f bytes each (RSS delta over %d)\n", per_task, kTasks);
  EXPECT_LE(per_task, 128.0);
  // The loop stays responsive: one turn with half a million armed timers.
  auto t0 = Clock::now();
  s.run_once(milliseconds(0));
  EXPECT_EQ(0, fired);
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(1));
  // Cancel every other one; the heap stays consistent.
  for (int i = 0; i < kTasks; i += 2) timers[i]->cancel();
  for (int i = 0; i < kTasks; ++i) ASSERT_EQ(i % 2 == 1, timers[i]->active());
}

}  // namespace
}  // namespace hellepoll
