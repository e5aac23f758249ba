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
//
// Procs supervises its workers: one that dies is forked again, at once if
// it had lived a second or more; one that died sooner failed to start, and
// waits 100 ms, doubling with each such failure in a row. The sixth in a
// row (after about 3 s) stops the server with exit status 1. Each death is
// a line on stderr: pid, exit status or signal, time lived, what follows.
// Test hook: HELLEPOLL_TEST_WORKER_EXIT=N in the environment makes every
// worker process exit with status N as soon as it is forked.
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
