// timer_memory: resident memory per idle timer task, as JSON.
//   bazel run --config=opt //server:timer_memory -- [TASKS]   (default 500000)
// Prints one JSON object: tasks, RSS before and after arming them, bytes each.
// analysis/idle_memory.py runs it next to the per-connection measurement.
#include <cstdio>
#include <cstdlib>

#include "server/backend/epoll.h"
#include "server/scheduler.h"
#include "server/testing/idle_timers.h"

int main(int argc, char** argv) {
  const int tasks = argc > 1 ? std::atoi(argv[1]) : 500000;
  if (tasks <= 0) {
    std::fprintf(stderr, "usage: timer_memory [TASKS > 0]\n");
    return 2;
  }
  hellepoll::LevelScheduler s;
  int fired = 0;
  auto idle = hellepoll::testing::arm_idle_timers(s, tasks, [&fired] { ++fired; });
  s.run_once(std::chrono::milliseconds(0));  // one turn of the loop with all of them armed
  std::printf(
      "{\"tasks\": %d, \"rss_before_bytes\": %ld, \"rss_after_bytes\": %ld, "
      "\"bytes_per_task\": %.1f, \"fired\": %d}\n",
      tasks, idle.rss_before, idle.rss_after, idle.bytes_each(), fired);
  return fired == 0 ? 0 : 1;
}
