// The concurrency axis: N workers, each with its own scheduler, as threads
// of one process (Threads) or as processes forked after set-up (Procs).
//
// Sockets are created before the workers start, so a bind error is
// reported once, up front: one SO_REUSEPORT socket per worker, or one
// shared socket (each worker accepts with EPOLLEXCLUSIVE).
//
// Stopping (SIGINT, SIGTERM): every worker drains; the listening sockets
// are closed as the stop begins, so a connection that arrives meanwhile is
// refused, not accepted by the kernel and reset at exit.
#pragma once

#include <functional>
#include <memory>
#include <string_view>

#include "server/fd.h"
#include "server/scheduler.h"
#include "variants/options.h"

namespace hellepoll::variants {

// One worker: a scheduler and what runs on it. Built on the worker's own
// thread (or in its process).
class Worker {
 public:
  virtual ~Worker() = default;
  virtual Scheduler& scheduler() = 0;
  // Stop accepting, finish what is in flight, then stop the scheduler.
  // Called on the worker's loop thread.
  virtual void drain() = 0;
  // Runs until drained.
  void run() { scheduler().run(); }
  // Thread-safe request to drain.
  void request_drain() {
    scheduler().add_callback([this] { drain(); });
  }
};

using WorkerFactory = std::function<std::unique_ptr<Worker>(int index, UniqueFd sock, bool shared)>;

struct Threads {
  static constexpr std::string_view kName = "threads";
  static int run(const Options& opts, const Identity& id, const WorkerFactory& make);
};

struct Procs {
  static constexpr std::string_view kName = "procs";
  static int run(const Options& opts, const Identity& id, const WorkerFactory& make);
};

}  // namespace hellepoll::variants
