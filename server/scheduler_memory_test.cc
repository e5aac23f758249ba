// Memory footprint of idle timer tasks. A separate target so sanitizer
// builds (whose redzones inflate every allocation) can leave it out.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>

#include "server/backend/epoll.h"
#include "server/scheduler.h"
#include "server/testing/idle_timers.h"

namespace hellepoll {
namespace {

using std::chrono::milliseconds;

// Half a million idle timer tasks are unremarkable: measured footprint is
// printed and bounded by the Memory target (128 B); analysis/idle_memory.py
// reports it with //server:timer_memory.
TEST(Scheduler, HalfAMillionIdleTimerTasks) {
  constexpr int kTasks = 500000;
  LevelScheduler s;
  int fired = 0;
  auto idle = hellepoll::testing::arm_idle_timers(s, kTasks, [&fired] { ++fired; });
  auto& timers = idle.timers;
  double per_task = idle.bytes_each();
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
