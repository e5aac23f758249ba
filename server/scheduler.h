// Scheduler: one event loop per thread. This is the backend-neutral loop
// (tasks' exceptions, timers, callbacks, turns, stop); how it waits for I/O
// is a backend, chosen at compile time like redis ae's: EpollScheduler<kLevel>,
// EpollScheduler<kEdge> (server/backend/epoll.h) and UringScheduler
// (server/backend/uring.h). Code that knows its backend holds the final
// class and its calls are direct; code that does not (timers, callbacks,
// signals, the listener) holds a Scheduler&.
//
// Contract
// - Threading: a Scheduler and everything registered with it belong to the
//   thread that calls run(). Only add_callback() and stop() may be called from
//   other threads.
// - Tasks: a Task is registered by fd; the scheduler keeps a non-owning
//   pointer in an fd-indexed table (8 bytes per fd slot) and calls it when the
//   fd is ready. The owner unregisters (remove()/forget()) before destroying
//   it. A task may unregister and destroy itself from inside its own callback.
// - Readiness (add/modify/remove/forget) is offered by every backend: epoll
//   natively, io_uring with multishot poll requests. The completion
//   operations (receive into a provided buffer, send, accept) are
//   UringScheduler's own; a task then hears on_received()/on_sent()/
//   on_accepted() instead of on_readable()/on_writable().
// - Trigger: a property of the backend's type. Level-triggered tasks may read once per
//   event. Edge-triggered tasks must read until EAGAIN (or pause reading) and
//   call mark_sated() when they see EAGAIN; debug builds abort naming any task
//   that returns from on_readable() without doing so.
// - Timers: a binary min-heap of Timer objects owned by their users:
//   start/cancel O(log n), next deadline O(1), each expiry O(log n). The clock
//   is CLOCK_MONOTONIC (steady_clock), read once per loop turn.
// - Callbacks: add_callback(fn) runs fn on the loop thread at the next turn,
//   in FIFO order; from another thread it wakes the loop through an eventfd.
// - Fairness: a task with more input than one turn's share (a pipelining
//   flood, an accept storm) stops early and calls read_again(); its
//   on_readable() runs again at the start of the next turn, after every
//   other ready task has had its turn. Level-triggered tasks need not:
//   epoll reports them again while input is left.
// - Turns: a timer armed while timers expire (restarted or called later
//   from a timer's callback, a periodic one re-armed) and a callback added
//   from a callback are not due before the next turn, whatever their delay:
//   a zero or negative delay runs once a turn and cannot starve I/O.
// - Exceptions: one that escapes a task callback, a timer, a call_later or
//   an add_callback function does not end the loop. The scheduler catches
//   it around that one call, logs one line on stderr (what threw, and
//   what()), tells the task through Task::on_exception(), and goes on with
//   the next. A task that reports it on as an Error uses ErrorKind::kInternal.
//   On the non-throwing path this costs nothing (zero-cost try blocks).
#pragma once

#include <sys/epoll.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string_view>
#include <thread>
#include <vector>

#include "server/error.h"
#include "server/fd.h"

namespace hellepoll {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using Duration = Clock::duration;

// How a backend reports I/O: readiness, level- or edge-triggered, or
// completions (io_uring). Named "level", "edge", "uring".
enum class Trigger : uint8_t { kLevel, kEdge, kCompletion };
std::string_view trigger_name(Trigger t);

// Interest bits for add()/modify() (epoll's, also io_uring's poll mask).
inline constexpr uint32_t kReadable = EPOLLIN | EPOLLRDHUP;
inline constexpr uint32_t kWritable = EPOLLOUT;

class Task {
 public:
  virtual ~Task() = default;
  // Input is ready, or the peer hung up or failed (EPOLLHUP/EPOLLERR are
  // delivered here: the next read() reports the error as an errno).
  virtual void on_readable() = 0;
  // Output space is available.
  virtual void on_writable() {}
  // Name used in diagnostics (the edge-triggered and completion checks).
  virtual std::string_view task_name() const { return "task"; }
  // Edge-triggered tasks that stop reading on purpose (back-pressure) return
  // true here; the debug check then leaves them alone.
  virtual bool reading_paused() const { return false; }
  // An exception escaped on_readable() or on_writable() of this task. Called
  // on the loop thread right after the scheduler logged it, only while the
  // task is still registered for its fd (one that unregistered itself before
  // throwing may be gone, and is not called). The task may close, unregister
  // and destroy itself from inside. It must not throw. The event being
  // dispatched is dropped (on_writable() is skipped after a throwing
  // on_readable()); an edge-triggered task that stays open may have left
  // input unread, for which no new edge comes: it calls read_again() or
  // closes. The default does nothing.
  virtual void on_exception() {}

  // ---- completions (UringScheduler). Each is called on the loop thread.
  // Bytes received into a provided buffer, lent for the call: the buffer goes
  // back to the kernel when it returns, so the task takes every byte (copies
  // what it cannot use yet). Debug builds abort naming a task that returns
  // a count short of bytes.size(): those bytes would be lost.
  virtual size_t on_received(std::string_view bytes) { return bytes.size(); }
  // Receiving ended: 0 for the peer's FIN, else an errno.
  virtual void on_receive_end(int /*err*/) {}
  // A send finished: bytes sent, or -errno.
  virtual void on_sent(int /*result*/) {}
  // A read of a file (UringScheduler::read()) finished: bytes read (0 at
  // the end of the file), or -errno.
  virtual void on_file_read(int /*result*/) {}
  // A connection was accepted (its fd, which the task now owns), or -errno.
  virtual void on_accepted(int /*result*/) {}
  // Everything release() waited for has completed: the task may be reused.
  virtual void on_released() {}

  // Edge-triggered protocol: call when read() returned EAGAIN.
  void mark_sated() { sated_ = true; }
  // Whether read_again() is pending for this task.
  bool read_again_pending() const { return read_again_; }
  // Inside on_readable(): whether the socket failed or is shut in both
  // directions (EPOLLHUP, EPOLLERR: a reset, not a half-close).
  bool broken() const { return events_ & (EPOLLHUP | EPOLLERR); }

 private:
  friend class Scheduler;
  template <Trigger>
  friend class EpollScheduler;
  friend class UringScheduler;
  uint32_t events_ = 0;  // of the event being dispatched
  bool sated_ = true;
  bool read_again_ = false;  // queued by read_again()
};

class Scheduler;

// A one-shot or periodic callback. Owned by its user; destroying it cancels
// it, also from inside its own callback.
class Timer {
 public:
  Timer(Scheduler& sched, std::function<void()> cb);
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  void start(Duration after);           // one-shot; restarts if active
  void start_periodic(Duration every);  // first expiry after `every`
  void cancel();
  bool active() const { return heap_index_ != kInactive || due_index_ != kInactive; }
  TimePoint deadline() const { return deadline_; }

 private:
  friend class Scheduler;
  static constexpr uint32_t kInactive = UINT32_MAX;
  Scheduler* sched_;
  std::function<void()> cb_;
  TimePoint deadline_{};
  Duration period_{};
  uint32_t heap_index_ = kInactive;
  uint32_t due_index_ = kInactive;  // in Scheduler::due_ while it expires
};

class Scheduler {
 public:
  virtual ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // The backend, as every variant prints it at start: "epoll-level",
  // "epoll-edge", "io_uring".
  virtual std::string_view name() const = 0;

  // Readiness. Registers `task` for `fd` with `interest` (kReadable |
  // kWritable); edge-triggered backends add EPOLLET. Returns false (errno
  // set) on failure.
  virtual bool add(int fd, Task* task, uint32_t interest) = 0;
  // Changes the interest of a registered fd.
  virtual bool modify(int fd, uint32_t interest) = 0;
  // Unregisters `fd`.
  virtual void remove(int fd) = 0;
  // Unregisters `fd` for a caller that is about to close it (epoll: without
  // a syscall, close() drops the fd from epoll; this saves one epoll_ctl per
  // connection).
  virtual void forget(int fd) = 0;
  // Calls task->on_readable() again at the start of the next turn (once,
  // however often this is called meanwhile), unless `fd` is unregistered
  // by then; a no-op for a task that is not registered for `fd`. For a task
  // that stopped with input left so that others get their turn:
  // edge-triggered, no new edge would come for it. Loop thread only; no
  // allocation once the queue has grown to the number of such tasks.
  virtual void read_again(int fd, Task* task) = 0;
  // Accepting connections on listening socket `fd`: epoll reports it
  // readable (on_readable(), which calls accept4); io_uring accepts itself
  // (on_accepted(), a multishot accept). `exclusive`: other schedulers wait
  // on the same socket (EPOLLEXCLUSIVE).
  virtual bool watch_accept(int fd, Task* task, bool exclusive) = 0;
  virtual void unwatch_accept(int fd) = 0;
  // Stops accepting on `fd` for good, like unwatch_accept(), except that
  // connections the backend already took from the kernel's queue are still
  // handed to the task: on io_uring the multishot accept goes on until its
  // cancel lands, and its completions may be in the batch being dispatched.
  // Returns true when the task is to wait for on_released(), which says
  // none is left; false where none can come (epoll accepts only when
  // asked). unwatch_accept() meanwhile abandons the rest.
  virtual bool end_accept(int fd) {
    unwatch_accept(fd);
    return false;
  }
  size_t task_count() const { return task_count_; }

  // Runs `fn` on the loop thread at its next turn. Safe from any thread.
  void add_callback(std::function<void()> fn);

  // Runs `fn` once, `after` from now, on the loop thread: a timer the
  // scheduler owns (freed after it fires, or with the scheduler). For
  // fire-and-forget work; use Timer to cancel or repeat.
  void call_later(Duration after, std::function<void()> fn);

  // The time at the start of this loop turn.
  TimePoint now() const { return now_; }
  // Re-reads the clock (for code that ran long inside one turn).
  TimePoint refresh_now() { return now_ = Clock::now(); }

  // Runs until stop(). Returns false if the backend's wait failed fatally.
  bool run();
  // One turn: wait at most `max_wait` (or until the next timer), dispatch.
  bool run_once(Duration max_wait);
  // Asks run() to return after the current turn (or the next run() at once,
  // if none is running). Safe from any thread.
  void stop();
  bool stopping() const { return stop_.load(std::memory_order_relaxed); }

  // Counters, for tests and profiles.
  uint64_t turns() const { return turns_; }

 protected:
  Scheduler();

  // The backend's half of a turn: wait for I/O at most `max_wait` (zero:
  // poll), call begin_turn() once the wait is over, dispatch what it
  // reported. False on a fatal error.
  virtual bool poll(Duration max_wait) = 0;
  // Whether the backend has work queued for the next turn (it must not sleep).
  virtual bool has_pending() const { return false; }
  // run() is returning, on the loop thread: the backend lets go of what it
  // holds in this thread (io_uring: its registered ring fd).
  virtual void run_ended() {}

  void begin_turn() {
    now_ = Clock::now();
    ++turns_;
  }
  int wake_fd() const { return wakefd_.get(); }
  // The wake-up eventfd became readable: consume it.
  void drain_wake();
  // After an exception escaped task `t` (for `fd`): log it, and tell the
  // task if it is still `registered`.
  static void task_threw(int fd, Task* t, bool registered);
  // The task's per-event bookkeeping, for backends.
  static uint32_t& events_of(Task* t) { return t->events_; }
  static bool& sated_of(Task* t) { return t->sated_; }
  static bool& read_again_of(Task* t) { return t->read_again_; }
  size_t task_count_ = 0;

 private:
  friend class Timer;

  void timer_insert(Timer* t);
  void timer_erase(Timer* t);
  void heap_up(uint32_t i);
  void heap_down(uint32_t i);
  void expire_timers();
  void fire(Timer* t);
  Duration wait_budget(Duration max_wait) const;
  void run_callbacks();
  void wake();

  UniqueFd wakefd_;  // eventfd: add_callback()/stop() from other threads
  std::vector<Timer*> heap_;
  std::vector<Timer*> due_;  // this turn's expired timers, taken off the heap before any fires
  std::vector<std::unique_ptr<Timer>> owned_;  // call_later timers; fired ones are reaped
  size_t reap_at_ = 64;                        // ...when owned_ reaches this size
  Timer* firing_ = nullptr;                    // timer whose callback is running
  bool firing_gone_ = false;                   // ...and was cancelled (or restarted) meanwhile
  bool firing_destroyed_ = false;              // ...and was destroyed meanwhile
  TimePoint now_;
  uint64_t turns_ = 0;

  std::mutex cb_mu_;
  std::vector<std::function<void()>> callbacks_;  // guarded by cb_mu_
  std::vector<std::function<void()>> running_;    // loop thread only
  std::atomic<bool> has_callbacks_{false};
  std::atomic<bool> wake_sent_{false};
  std::atomic<bool> stop_{false};
  std::atomic<std::thread::id> loop_thread_{};
};

}  // namespace hellepoll
