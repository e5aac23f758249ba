// BlockingPool on every backend: works run off the loop thread, done()
// on it; while a slow work is pending the loop goes on serving (shown by
// order, not by timing); a pool destroyed with works pending calls none
// of their done().
#include "server/blocking_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "server/backend/backends.h"

namespace hellepoll {
namespace {

using namespace std::chrono_literals;

template <class S>
class BlockingPoolTest : public ::testing::Test {
 protected:
  // Runs turns until `done()` or 5 s.
  bool run_until(const std::function<bool()>& done) {
    const auto until = Clock::now() + 5s;
    while (!done()) {
      if (Clock::now() > until) return false;
      sched_.run_once(10ms);
    }
    return true;
  }
  S sched_;
};

using Backends = ::testing::Types<LevelScheduler, EdgeScheduler, UringScheduler>;
TYPED_TEST_SUITE(BlockingPoolTest, Backends);

TYPED_TEST(BlockingPoolTest, WorkOffTheLoopThreadDoneOnIt) {
  BlockingPool pool(this->sched_, 2);
  EXPECT_EQ(2u, pool.threads());
  const auto loop_thread = std::this_thread::get_id();
  std::vector<std::thread::id> work_on, done_on;
  std::atomic<int> ran{0};
  std::mutex mu;
  constexpr int kJobs = 20;
  for (int i = 0; i < kJobs; ++i) {
    pool.run(
        [&] {
          ++ran;
          std::lock_guard<std::mutex> lock(mu);
          work_on.push_back(std::this_thread::get_id());
        },
        [&] { done_on.push_back(std::this_thread::get_id()); });
  }
  EXPECT_EQ(static_cast<size_t>(kJobs), pool.in_flight());
  ASSERT_TRUE(this->run_until([&] { return done_on.size() == kJobs; }));
  EXPECT_EQ(kJobs, ran.load());
  EXPECT_EQ(0u, pool.in_flight());
  for (auto id : work_on) EXPECT_NE(loop_thread, id);
  for (auto id : done_on) EXPECT_EQ(loop_thread, id);
}

// The loop serves others while a work sleeps: a timer armed after the slow
// work was handed over fires (several turns) before that work's done().
TYPED_TEST(BlockingPoolTest, TheLoopGoesOnWhileAWorkIsSlow) {
  BlockingPool pool(this->sched_, 1);
  pool.set_delay(200ms);
  std::vector<std::string> order;
  pool.run([] {}, [&] { order.push_back("slow done"); });
  int ticks = 0;
  Timer tick(this->sched_, [&] {
    if (++ticks == 3) order.push_back("3 ticks");
  });
  tick.start_periodic(5ms);
  ASSERT_TRUE(this->run_until([&] { return order.size() == 2; }));
  EXPECT_EQ((std::vector<std::string>{"3 ticks", "slow done"}), order);
}

TYPED_TEST(BlockingPoolTest, DestroyedWithWorksPendingCallsNoDone) {
  bool called = false;
  std::atomic<int> started{0};
  {
    BlockingPool pool(this->sched_, 1);
    pool.set_delay(50ms);
    for (int i = 0; i < 5; ++i) pool.run([&] { ++started; }, [&] { called = true; });
  }  // one may be running: it finishes; its done() is queued but not called
  for (int i = 0; i < 5; ++i) this->sched_.run_once(10ms);
  EXPECT_FALSE(called);
  EXPECT_LE(started.load(), 1);
}

TYPED_TEST(BlockingPoolTest, AThrowingWorkStillHasItsDone) {
  BlockingPool pool(this->sched_, 1);
  int done = 0;
  pool.run([] { throw std::runtime_error("disk on fire"); }, [&] { ++done; });
  pool.run([] {}, [&] { ++done; });
  ASSERT_TRUE(this->run_until([&] { return done == 2; }));
}

}  // namespace
}  // namespace hellepoll
