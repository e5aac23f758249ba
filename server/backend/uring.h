// UringScheduler: the completion backend, on io_uring (liburing).
//
// A turn is one io_uring_enter: the operations the previous turn queued
// (sends, re-armed receives, cancels, closes) are submitted together with the
// wait for the next completions, so a turn costs one syscall however many
// connections it served.
//
// - Receiving: one multishot receive per connection, into a ring of buffers
//   provided per scheduler (IORING_REGISTER_PBUF_RING on memory mapped here):
//   an idle connection owns no receive buffer. Bytes are lent to the task
//   for one on_received() call; the buffer goes back to the ring at the end
//   of the turn.
// - Accepting: one multishot accept per listening socket.
// - Sending: send() or sendmsg() per call, completed by on_sent(); the
//   memory must stay put until then. Files are read through the ring
//   (read(), completed by on_file_read()) and sent from memory.
// - Readiness (add/modify/remove/forget) for the odd fd (signalfd, the wake-up
//   eventfd, a client's connect): multishot poll, which reports each wake-up
//   once, as an edge: such a task reads until EAGAIN.
// - A connection is a registration (attach()); release() cancels its
//   receive, accept or poll and closes the fd in the ring, in order behind
//   the sends already queued; on_released() says when no completion can
//   arrive any more. A send in flight is not cancelled (it may carry the
//   last answer): it holds the socket until it completes, so an abortive
//   close shuts the socket down first.
// - IORING_SETUP_SINGLE_ISSUER and DEFER_TASKRUN where the kernel has them
//   (completions are then produced only inside our own enter), and the ring
//   fd registered (no fdget per enter). The ring is created disabled and
//   enabled by the first turn: SINGLE_ISSUER binds it to the thread that
//   enables it, and a registered ring fd belongs to the thread that
//   registers it, so a scheduler may be built on one thread and run on
//   another. The ring fd is given back when run() returns, so that one
//   destroyed on a third thread is torn down while the second lives on
//   (a scheduler driven by run_once() alone keeps it until its thread ends).
// - Cancels, poll updates and closes are operations of their registration
//   like any other: a slot is not reused while one is in flight (its late
//   completion would name the next connection), and a cancel that finds its
//   target busy (EALREADY) is issued again.
// - Debug check, the counterpart of the edge-triggered one: a task that
//   returns from on_received() without taking every byte is named, and the
//   program aborts.
// - Where io_uring cannot be used, unavailable() says why and what to do,
//   in one line; the constructor aborts with that line. Nothing falls back to
//   epoll silently.
#pragma once

#include <liburing.h>
#include <sys/socket.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "server/scheduler.h"

namespace hellepoll {

class UringScheduler final : public Scheduler {
 public:
  static constexpr Trigger kTrigger = Trigger::kCompletion;

  struct Options {
    unsigned entries = 2048;                              // submission queue; the completion queue is 4x
    unsigned buffers = 1024;                              // provided receive buffers (a power of two)
    unsigned buffer_size = 4096;                          // bytes each
    unsigned batch = 1;                                   // wait for this many completions a turn...
    Duration batch_wait = std::chrono::microseconds(50);  // ...or this long (when batch > 1)
  };

  // Empty when a ring as this backend sets it up works here; else one line:
  // the cause and the fix.
  static std::string unavailable(const Options& opts);
  static std::string unavailable() { return unavailable(Options{}); }

  explicit UringScheduler(Options opts);
  UringScheduler() : UringScheduler(Options{}) {}
  ~UringScheduler() override;

  static constexpr std::string_view kName = "io_uring";
  std::string_view name() const override { return kName; }

  // Readiness, by multishot poll.
  bool add(int fd, Task* task, uint32_t interest) override;
  bool modify(int fd, uint32_t interest) override;
  void remove(int fd) override;
  void forget(int fd) override;
  void read_again(int fd, Task* task) override;
  bool has_pending() const override { return !read_again_.empty(); }
  bool watch_accept(int fd, Task* task, bool exclusive) override;
  void unwatch_accept(int fd) override;
  bool end_accept(int fd) override;

  // Completions. A Reg names one fd's operations and their task.
  using Reg = uint32_t;
  static constexpr Reg kNoReg = UINT32_MAX;
  Reg attach(int fd, Task* task);
  // Arms the multishot receive (no-op while armed).
  void receive(Reg r);
  // Cancels it: bytes already on their way still arrive, then the task
  // hears on_receive_end(ECANCELED) unless receive() was called again.
  void stop_receiving(Reg r);
  // The task's on_readable() runs at the start of the next turn, before the
  // completions, if r still names it: for one that stopped early (a
  // pipelining flood used its turn's share), as read_again() for readiness.
  void again(Reg r);
  // Whether a receive is armed (or its cancel not yet complete).
  bool receiving(Reg r) const { return slots_[r].receiving; }
  void send(Reg r, const void* p, size_t n, int flags);
  // *m and its iovecs must outlive the submit.
  void sendmsg(Reg r, const msghdr* m, int flags);
  // Reads up to n bytes of `file` at `offset` into buf, completed by
  // on_file_read(). The kernel finishes a read that misses the page cache
  // on its own workers: the loop never waits on the disk. `file` and buf
  // must stay until the completion; r's registration only names the task.
  void read(Reg r, int file, void* buf, size_t n, uint64_t offset);
  // One POLLOUT wait on r's fd, completed by the task's on_writable(): for
  // a task that writes to the fd itself (sendfile()) and met a full socket.
  // release() cancels it.
  void poll_out(Reg r);
  // Ends the registration: cancels its receive, closes `fd` once the queued
  // operations are issued. Sends in flight run to their end (shutdown() the
  // socket first to end them now). The task hears only on_released() from
  // now on, at once if nothing is in flight.
  void release(Reg r, UniqueFd fd);
  // For a task destroyed while its release is still in flight: it hears
  // nothing, not even on_released(). `when_done` (which frees what a queued
  // send reads) runs once the last of r's operations is in, or when this
  // scheduler is destroyed.
  void detach(Reg r, std::function<void()> when_done = nullptr);

  // Counters, for tests and profiles.
  uint64_t enters() const { return enters_; }
  // Registrations in use (attached, or released with operations in flight).
  size_t registrations() const { return slots_.size() - free_slots_.size(); }
  bool single_issuer() const { return flags_ & IORING_SETUP_SINGLE_ISSUER; }
  bool defer_taskrun() const { return flags_ & IORING_SETUP_DEFER_TASKRUN; }

 private:
  enum Op : uint8_t {
    kWake = 1,
    kPoll,
    kAccept,
    kRecv,
    kSend,
    kRead,
    kPollOut,
    // Operations on operations: each counted in flight like the others.
    kCancelRecv,
    kCancelAccept,
    kPollRemove,
    kPollOutRemove,
    kPollUpdate,
    kClose,
  };
  struct Slot {
    Task* task = nullptr;
    int fd = -1;
    uint16_t inflight = 0;      // operations whose last completion has not come
    bool receiving = false;     // multishot receive armed
    bool want_receive = false;  // re-arm it when it ends (buffers ran out)
    bool polling = false;       // multishot poll (readiness) or accept armed
    bool polling_out = false;   // poll_out() in flight
    bool accepting = false;
    bool accept_ending = false;  // end_accept(): its cancel is in flight
    bool when_done = false;      // detach() left a when_done in detached_
    bool releasing = false;
    uint32_t interest = 0;
  };

  bool poll(Duration max_wait) override;
  void run_ended() override;
  // Enables the ring on this thread (the first turn, or a submit before it)
  // and registers its fd here.
  void enable();
  void run_read_again();
  void cancel(Reg r, Op what);  // kCancelRecv, kCancelAccept, kPollRemove or kPollOutRemove
  Reg attach_fd(int fd, Task* task);
  io_uring_sqe* sqe();
  static uint64_t data(Op op, Reg r) { return (uint64_t{op} << 32) | r; }
  void arm_wake();
  void arm_poll(Reg r);
  void arm_accept(Reg r);
  void accept_ended(Reg r);
  void arm_receive(Reg r);
  void dispatch(uint64_t user_data, int res, uint32_t flags);
  void on_recv(Reg r, int res, uint32_t flags);
  void done(Reg r);  // one operation of r ended for good
  void recycle(uint16_t bid);
  bool registered(int fd, Task* task) const { return holds(poll_reg(fd), task); }
  bool holds(Reg r, Task* task) const {
    return r != kNoReg && slots_[r].task == task && !slots_[r].releasing;
  }
  Reg poll_reg(int fd) const { return static_cast<size_t>(fd) < poll_regs_.size() ? poll_regs_[fd] : kNoReg; }

  Options opts_;
  io_uring ring_{};
  unsigned flags_ = 0;
  io_uring_buf_ring* buf_ring_ = nullptr;
  size_t buf_ring_bytes_ = 0;
  char* bufs_ = nullptr;
  size_t bufs_bytes_ = 0;
  unsigned recycled_ = 0;  // buffers added back this turn, not yet published
  std::vector<Slot> slots_;
  std::vector<Reg> free_slots_;
  std::vector<Reg> poll_regs_;                // readiness registrations by fd
  std::vector<std::pair<Reg, Task*>> rearm_;  // receives to arm again once buffers are back
  std::vector<std::pair<Reg, std::function<void()>>> detached_;  // detach()'s when_done, by registration
  struct ReadAgain {
    Reg reg;
    Task* task;
  };
  std::vector<ReadAgain> read_again_;          // for the next turn
  std::vector<ReadAgain> read_again_running_;  // this turn's
  bool enabled_ = false;
  bool ring_fd_registered_ = false;  // in owner_'s registry
  bool ring_fd_registrable_ = true;  // false where the kernel refused it
  std::thread::id owner_;            // the thread that enabled the ring
  uint64_t enters_ = 0;
};

}  // namespace hellepoll
