#include "server/blocking_pool.h"

#include <cstdio>
#include <exception>

namespace hellepoll {

BlockingPool::BlockingPool(Scheduler& sched, unsigned threads) : sched_(sched) {
  threads_.reserve(threads);
  for (unsigned i = 0; i < threads; ++i) threads_.emplace_back([this] { loop(); });
}

BlockingPool::~BlockingPool() {
  *alive_ = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    queue_.clear();
  }
  cv_.notify_all();
  for (std::thread& t : threads_) t.join();
}

void BlockingPool::run(std::function<void()> work, std::function<void()> done) {
  ++in_flight_;
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(Job{std::move(work), std::move(done)});
  }
  cv_.notify_one();
}

void BlockingPool::loop() {
  for (;;) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    const auto delay = Duration(delay_ns_.load(std::memory_order_relaxed));
    if (delay.count() > 0) std::this_thread::sleep_for(delay);
    // A work that throws is the caller's bug; it must not end the thread
    // and leave its done() unheard: it is logged, and done() still runs and
    // reads whatever the work left for it to say.
    try {
      job.work();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "hellepoll: a blocking-pool work threw: %s\n", e.what());
    } catch (...) {
      std::fprintf(stderr, "hellepoll: a blocking-pool work threw\n");
    }
    sched_.add_callback([this, alive = alive_, done = std::move(job.done)] {
      if (!*alive) return;
      --in_flight_;
      done();
    });
  }
}

}  // namespace hellepoll
