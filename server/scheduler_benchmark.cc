// Scheduler costs (server/scheduler.h), each per item:
// - Timers: start (heap insert), cancel (heap erase from a random slot) and
//   expire (run_once with 1,024 timers due), in a heap that already holds N
//   timers at random deadlines an hour or two away, N = 1K, 10K, 100K.
//   With random deadlines a new timer rises about two levels on average and
//   a cancelled one is mostly near the leaves, so start and cancel hardly
//   grow with N; each expiry sinks the last leaf from the root: log N.
// - Dispatch: run_once over N level-triggered eventfds that stay readable,
//   each Task's on_readable only counting; items = events dispatched, so the
//   epoll_wait syscall is shared by up to 256 events.
// - Callbacks: add_callback on the loop thread, N per turn, then the run_once
//   that runs them.
// Run: bazel run --config=opt //server:scheduler_benchmark
#include <benchmark/benchmark.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <random>
#include <vector>

#include "server/backend/epoll.h"
#include "server/scheduler.h"

namespace hellepoll {
namespace {

using std::chrono::seconds;
constexpr int kBatch = 1024;                // timers started, cancelled or expired per timed batch
constexpr int64_t kMaxEventsPerTurn = 256;  // kMaxEvents in scheduler.cc

// A scheduler whose heap holds `n` far-off timers, plus kBatch spare timers
// and, for each, a random delay drawn up front (the RNG stays out of the timing).
struct Timers {
  explicit Timers(int n) {
    std::mt19937 rng(42);
    auto later = [&] { return seconds(3600) + std::chrono::microseconds(rng() % 3'600'000'000u); };
    for (int i = 0; i < n + kBatch; ++i) all.emplace_back(sched, [this] { ++fired; });
    for (int i = 0; i < n; ++i) all[i].start(later());
    for (int i = 0; i < kBatch; ++i) {
      far.push_back(later());
      due.push_back(-std::chrono::microseconds(rng() % 1000));  // up to 1 ms before now()
    }
  }
  Timer& spare(int i) { return all[all.size() - kBatch + i]; }

  LevelScheduler sched;
  std::deque<Timer> all;  // Timer is neither copyable nor movable
  std::vector<Duration> far, due;
  int64_t fired = 0;
};

void BM_TimerStart(benchmark::State& state) {
  Timers t(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    for (int i = 0; i < kBatch; ++i) t.spare(i).start(t.far[i]);
    benchmark::ClobberMemory();
    state.PauseTiming();
    for (int i = 0; i < kBatch; ++i) t.spare(i).cancel();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}

void BM_TimerCancel(benchmark::State& state) {
  Timers t(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    state.PauseTiming();
    for (int i = 0; i < kBatch; ++i) t.spare(i).start(t.far[i]);
    state.ResumeTiming();
    for (int i = 0; i < kBatch; ++i) t.spare(i).cancel();
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}

void BM_TimerExpire(benchmark::State& state) {
  Timers t(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    state.PauseTiming();
    for (int i = 0; i < kBatch; ++i) t.spare(i).start(t.due[i]);
    state.ResumeTiming();
    t.sched.run_once(Duration::zero());
  }
  if (t.fired != state.iterations() * kBatch) state.SkipWithError("not every due timer fired");
  state.SetItemsProcessed(t.fired);
}

// Stays readable (level-triggered, never read): every turn dispatches it.
class Counter : public Task {
 public:
  explicit Counter(int64_t* n) : n_(n) {}
  void on_readable() override { ++*n_; }

 private:
  int64_t* n_;
};

void BM_Dispatch(benchmark::State& state) {
  LevelScheduler sched;
  int64_t events = 0;
  std::vector<UniqueFd> fds;
  std::vector<Counter> tasks(static_cast<size_t>(state.range(0)), Counter(&events));
  for (Counter& task : tasks) {
    fds.emplace_back(eventfd(1, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!fds.back() || !sched.add(fds.back().get(), &task, kReadable)) {
      state.SkipWithError("eventfd/add failed");
      return;
    }
  }
  for (auto _ : state) {
    sched.run_once(Duration::zero());
    benchmark::DoNotOptimize(events);
  }
  const int64_t want = state.iterations() * std::min(state.range(0), kMaxEventsPerTurn);
  if (events != want) state.SkipWithError("wrong number of events dispatched");
  state.SetItemsProcessed(events);  // items/s = events/s
}

void BM_AddCallback(benchmark::State& state) {
  LevelScheduler sched;
  sched.run_once(Duration::zero());  // binds the loop thread: no eventfd wake-up
  int64_t ran = 0;
  for (auto _ : state) {
    for (int64_t i = 0; i < state.range(0); ++i) sched.add_callback([&ran] { ++ran; });
    sched.run_once(Duration::zero());
    benchmark::DoNotOptimize(ran);
  }
  if (ran != state.iterations() * state.range(0)) state.SkipWithError("callbacks lost");
  state.SetItemsProcessed(ran);
}

BENCHMARK(BM_TimerStart)->RangeMultiplier(10)->Range(1000, 100'000);
BENCHMARK(BM_TimerCancel)->RangeMultiplier(10)->Range(1000, 100'000);
BENCHMARK(BM_TimerExpire)->RangeMultiplier(10)->Range(1000, 100'000);
BENCHMARK(BM_Dispatch)->Arg(1)->Arg(16)->Arg(256);
BENCHMARK(BM_AddCallback)->Arg(1)->Arg(16)->Arg(256);

}  // namespace
}  // namespace hellepoll
