// BlockingPool: a few threads for one scheduler's calls that may block
// (open, stat, a read of a file not in the page cache), as nginx's
// `aio threads` and libuv's pool: the loop never waits on the disk.
//
// - run(work, done): work() runs on a pool thread; done() then runs on the
//   loop thread (through add_callback()), in the order the works finish.
// - Construct, run() and destroy on the loop thread. The destructor stops
//   the threads: works not started are dropped, a running one finishes,
//   and no done() of either is called any more (also not one already
//   queued on the loop), so `done` may capture what dies with the pool.
// - set_delay(): every work sleeps that long first. For tests that must
//   show the loop serving others while a slow read is pending, with order,
//   not timing, as the proof.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "server/scheduler.h"

namespace hellepoll {

class BlockingPool {
 public:
  BlockingPool(Scheduler& sched, unsigned threads);
  ~BlockingPool();
  BlockingPool(const BlockingPool&) = delete;
  BlockingPool& operator=(const BlockingPool&) = delete;

  void run(std::function<void()> work, std::function<void()> done);
  void set_delay(Duration d) { delay_ns_.store(d.count(), std::memory_order_relaxed); }
  // Works handed to run() whose done() has not run yet.
  size_t in_flight() const { return in_flight_; }
  unsigned threads() const { return static_cast<unsigned>(threads_.size()); }

 private:
  struct Job {
    std::function<void()> work;
    std::function<void()> done;
  };
  void loop();

  Scheduler& sched_;
  // Shared with the callbacks queued on the loop: false once the pool is
  // gone, so that a late one calls nothing.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> queue_;
  bool stopping_ = false;
  std::atomic<Duration::rep> delay_ns_{0};
  size_t in_flight_ = 0;  // loop thread only
  std::vector<std::thread> threads_;
};

}  // namespace hellepoll
