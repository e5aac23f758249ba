#include "server/backend/epoll.h"

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace hellepoll {

template <Trigger T>
EpollScheduler<T>::EpollScheduler() : epfd_(epoll_create1(EPOLL_CLOEXEC)) {
  if (!epfd_) {
    std::fprintf(stderr, "hellepoll: epoll_create1 failed: %s\n", std::strerror(errno));
    std::abort();
  }
  // The wake-up eventfd is always level-triggered: it is drained explicitly.
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = wake_fd();
  epoll_ctl(epfd_.get(), EPOLL_CTL_ADD, wake_fd(), &ev);
}

template <Trigger T>
bool EpollScheduler<T>::add(int fd, Task* task, uint32_t interest) {
  epoll_event ev{};
  ev.events = interest | (kEdge ? EPOLLET : 0u);
  ev.data.fd = fd;
  if (epoll_ctl(epfd_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) return false;
  if (static_cast<size_t>(fd) >= tasks_.size()) {
    // Grow geometrically; the table is indexed by fd like redis ae's.
    tasks_.resize(std::max<size_t>(fd + 1, tasks_.size() * 2), nullptr);
  }
  tasks_[fd] = task;
  ++task_count_;
  return true;
}

template <Trigger T>
bool EpollScheduler<T>::modify(int fd, uint32_t interest) {
  epoll_event ev{};
  ev.events = interest | (kEdge ? EPOLLET : 0u);
  ev.data.fd = fd;
  return epoll_ctl(epfd_.get(), EPOLL_CTL_MOD, fd, &ev) == 0;
}

template <Trigger T>
void EpollScheduler<T>::remove(int fd) {
  epoll_ctl(epfd_.get(), EPOLL_CTL_DEL, fd, nullptr);
  forget(fd);
}

template <Trigger T>
void EpollScheduler<T>::forget(int fd) {
  if (static_cast<size_t>(fd) < tasks_.size() && tasks_[fd]) {
    // Its queued read_again() entry, if any, is skipped: a pooled task
    // registered again must be able to queue a new one.
    read_again_of(tasks_[fd]) = false;
    tasks_[fd] = nullptr;
    --task_count_;
  }
}

template <Trigger T>
void EpollScheduler<T>::read_again(int fd, Task* task) {
  // Unregistered (a callback closed or paused it): nothing to call again,
  // and no flag left set for when it is registered again.
  if (!registered(fd, task)) return;
  sated_of(task) = true;  // accounted for: it will be called again
  if (read_again_of(task)) return;
  read_again_of(task) = true;
  read_again_.push_back({fd, task});
}

template <Trigger T>
void EpollScheduler<T>::run_read_again() {
  if (read_again_.empty()) return;
  read_again_running_.swap(read_again_);
  for (const ReadAgain& r : read_again_running_) {
    // Skip a task unregistered meanwhile; a slot reused by another task for
    // the same fd gets one spurious call, which reads EAGAIN.
    if (!registered(r.fd, r.task)) continue;
    read_again_of(r.task) = false;
    try {
      dispatch_readable(r.fd, r.task, EPOLLIN);
    } catch (...) {
      task_threw(r.fd, r.task, registered(r.fd, r.task));
    }
  }
  read_again_running_.clear();
}

template <Trigger T>
void EpollScheduler<T>::dispatch_readable([[maybe_unused]] int fd, Task* t, uint32_t events) {
#ifndef NDEBUG
  sated_of(t) = false;
#endif
  events_of(t) = events;
  t->on_readable();
#ifndef NDEBUG
  if constexpr (kEdge) {
    if (tasks_[fd] == t && !sated_of(t) && !t->reading_paused()) {
      std::fprintf(stderr,
                   "hellepoll: edge-triggered task '%.*s' (fd %d) returned without reading "
                   "until EAGAIN; it would never be woken for the bytes it left\n",
                   static_cast<int>(t->task_name().size()), t->task_name().data(), fd);
      std::abort();
    }
  }
#endif
}

template <Trigger T>
bool EpollScheduler<T>::poll(Duration max_wait) {
  constexpr int kMaxEvents = 256;
  epoll_event events[kMaxEvents];
  int timeout_ms = 0;
  if (max_wait > Duration::zero()) {
    // Round up so a timer is never woken for early and spun on.
    auto ms = std::chrono::ceil<std::chrono::milliseconds>(max_wait).count();
    timeout_ms = ms > 3600000 ? 3600000 : static_cast<int>(ms);
  }
  int n = epoll_wait(epfd_.get(), events, kMaxEvents, timeout_ms);
  if (n < 0) {
    if (errno != EINTR) return false;
    n = 0;
  }
  begin_turn();
  // Tasks that yielded last turn go first, then those epoll reports now.
  run_read_again();
  for (int i = 0; i < n; ++i) {
    const int fd = events[i].data.fd;
    const uint32_t ev = events[i].events;
    if (fd == wake_fd()) {
      drain_wake();
      continue;
    }
    Task* t = static_cast<size_t>(fd) < tasks_.size() ? tasks_[fd] : nullptr;
    if (t == nullptr) continue;  // removed earlier in this batch
    // A try block costs nothing until something throws (table-driven
    // unwinding): the catch keeps one task's bug from ending every other.
    try {
      if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        dispatch_readable(fd, t, ev);
        if (tasks_[fd] != t) continue;  // closed itself
      }
      if (ev & EPOLLOUT) t->on_writable();
    } catch (...) {
      task_threw(fd, t, registered(fd, t));
    }
  }
  return true;
}

template class EpollScheduler<Trigger::kLevel>;
template class EpollScheduler<Trigger::kEdge>;

}  // namespace hellepoll
