// EpollScheduler<T>: the readiness backends, level- (kLevel) or edge-
// triggered (kEdge). The trigger is the type's, so every check of it is
// compiled away.
//
// - Tasks are found by fd in a table (8 bytes per fd slot, like redis ae's).
// - One epoll_wait per turn, at most 256 events; the wake-up eventfd is
//   registered level-triggered and drained here.
// - Edge-triggered: a task must read until EAGAIN (or pause reading) and call
//   mark_sated() when it sees EAGAIN; debug builds abort naming any task that
//   returns from on_readable() without doing so.
// - read_again() queues a task that stopped early for the start of the next
//   turn, before the others (both triggers: a level-triggered task may want
//   its turn before epoll's report too).
#pragma once

#include <sys/epoll.h>

#include <string_view>
#include <vector>

#include "server/scheduler.h"

namespace hellepoll {

template <Trigger T>
class EpollScheduler final : public Scheduler {
  static_assert(T == Trigger::kLevel || T == Trigger::kEdge);

 public:
  static constexpr Trigger kTrigger = T;
  static constexpr bool kEdge = T == Trigger::kEdge;

  EpollScheduler();

  static constexpr std::string_view kName = kEdge ? "epoll-edge" : "epoll-level";
  std::string_view name() const override { return kName; }
  bool add(int fd, Task* task, uint32_t interest) override;
  bool modify(int fd, uint32_t interest) override;
  void remove(int fd) override;
  void forget(int fd) override;
  void read_again(int fd, Task* task) override;
  bool watch_accept(int fd, Task* task, bool exclusive) override {
    return add(fd, task, EPOLLIN | (exclusive ? EPOLLEXCLUSIVE : 0u));
  }
  void unwatch_accept(int fd) override { remove(fd); }

 private:
  bool poll(Duration max_wait) override;
  bool has_pending() const override { return !read_again_.empty(); }
  bool registered(int fd, Task* t) const {
    return static_cast<size_t>(fd) < tasks_.size() && tasks_[fd] == t;
  }
  void run_read_again();
  void dispatch_readable(int fd, Task* t, uint32_t events);

  UniqueFd epfd_;
  std::vector<Task*> tasks_;  // indexed by fd
  struct ReadAgain {
    int fd;
    Task* task;
  };
  std::vector<ReadAgain> read_again_;          // for the next turn
  std::vector<ReadAgain> read_again_running_;  // this turn's
};

using LevelScheduler = EpollScheduler<Trigger::kLevel>;
using EdgeScheduler = EpollScheduler<Trigger::kEdge>;
extern template class EpollScheduler<Trigger::kLevel>;
extern template class EpollScheduler<Trigger::kEdge>;

}  // namespace hellepoll
