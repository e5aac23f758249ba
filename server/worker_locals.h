// WorkerLocals: what one worker (one scheduler, one thread) keeps for code
// that is shared by every worker, such as a handler in a Router all
// workers read: an open-file cache, a client's connection pool. Each is
// made on first use on the worker's own thread and lives as long as the
// worker's server, as Tornado's IOLoop.current() gives per-loop state.
//
// - get<T>(key, make): the worker's T for `key` (the address of the shared
//   object it belongs to), made with make() the first time. Loop thread only.
// - pool(): the worker's BlockingPool for calls that may block (opens,
//   stats, cold reads), started on first use. Destroyed after every
//   object get() made, so they may use it until their end.
#pragma once

#include <memory>
#include <utility>
#include <vector>

#include "server/blocking_pool.h"
#include "server/scheduler.h"

namespace hellepoll {

class WorkerLocals {
 public:
  explicit WorkerLocals(Scheduler& sched, unsigned pool_threads = 4)
      : sched_(sched), threads_(pool_threads) {}
  ~WorkerLocals() {
    // Newest first: a later object may use an earlier one.
    while (!items_.empty()) items_.pop_back();
  }
  WorkerLocals(const WorkerLocals&) = delete;
  WorkerLocals& operator=(const WorkerLocals&) = delete;

  Scheduler& scheduler() const { return sched_; }
  BlockingPool& pool() {
    if (!pool_) pool_ = std::make_unique<BlockingPool>(sched_, threads_);
    return *pool_;
  }

  template <class T, class Make>
  T& get(const void* key, Make&& make) {
    for (auto& [k, p] : items_) {
      if (k == key) return *static_cast<T*>(p.get());
    }
    std::shared_ptr<T> made = make();
    T& ref = *made;
    items_.emplace_back(key, std::move(made));
    return ref;
  }

 private:
  Scheduler& sched_;
  unsigned threads_;
  std::unique_ptr<BlockingPool> pool_;  // before items_: outlives them
  std::vector<std::pair<const void*, std::shared_ptr<void>>> items_;
};

}  // namespace hellepoll
