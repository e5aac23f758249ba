#include "server/scheduler.h"

#include <sys/eventfd.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>

namespace hellepoll {
namespace {

// Inside a catch block: one line naming what threw.
void log_threw(const char* source) {
  const char* what = current_what();
  std::fprintf(stderr, "hellepoll: %s threw: %s\n", source, what);
}

}  // namespace

std::string_view trigger_name(Trigger t) { return t == Trigger::kEdge ? "edge" : "level"; }

// ---------------------------------------------------------------- Timer

Timer::Timer(Scheduler& sched, std::function<void()> cb) : sched_(&sched), cb_(std::move(cb)) {}

Timer::~Timer() {
  cancel();
  if (sched_->firing_ == this) sched_->firing_destroyed_ = true;
}

void Timer::start(Duration after) {
  cancel();
  period_ = Duration::zero();
  deadline_ = sched_->now() + after;
  sched_->timer_insert(this);
}

void Timer::start_periodic(Duration every) {
  cancel();
  period_ = every;
  deadline_ = sched_->now() + every;
  sched_->timer_insert(this);
}

void Timer::cancel() {
  if (heap_index_ != kInactive) sched_->timer_erase(this);
  if (due_index_ != kInactive) {
    sched_->due_[due_index_] = nullptr;  // expired this turn, not fired yet: never will
    due_index_ = kInactive;
  }
  // Cancelling from inside the own callback must stop a periodic re-arm.
  if (sched_->firing_ == this) sched_->firing_gone_ = true;
}

// ---------------------------------------------------------------- Scheduler

Scheduler::Scheduler(Trigger trigger)
    : trigger_(trigger),
      epfd_(epoll_create1(EPOLL_CLOEXEC)),
      wakefd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)),
      now_(Clock::now()) {
  if (!epfd_ || !wakefd_) {
    std::fprintf(stderr, "hellepoll: epoll_create1/eventfd failed: %s\n", std::strerror(errno));
    std::abort();
  }
  // The wake-up eventfd is always level-triggered: it is drained explicitly.
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = wakefd_.get();
  epoll_ctl(epfd_.get(), EPOLL_CTL_ADD, wakefd_.get(), &ev);
}

Scheduler::~Scheduler() {
  owned_.clear();
  for (Timer* t : heap_) t->heap_index_ = Timer::kInactive;
}

void Scheduler::call_later(Duration after, std::function<void()> fn) {
  // Reap fired ones when the list has doubled since the last reap: each
  // scan of n timers follows at least n/2 calls, so amortised O(1), with no
  // per-timer bookkeeping (a scan per call was O(n) with n timers pending).
  if (owned_.size() >= reap_at_) {
    std::erase_if(owned_,
                  [this](const std::unique_ptr<Timer>& t) { return !t->active() && firing_ != t.get(); });
    reap_at_ = std::max<size_t>(64, 2 * owned_.size());
  }
  owned_.push_back(std::make_unique<Timer>(*this, std::move(fn)));
  owned_.back()->start(after);
}

bool Scheduler::add(int fd, Task* task, uint32_t interest) {
  epoll_event ev{};
  ev.events = interest | (edge_triggered() ? EPOLLET : 0u);
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

bool Scheduler::modify(int fd, uint32_t interest) {
  epoll_event ev{};
  ev.events = interest | (edge_triggered() ? EPOLLET : 0u);
  ev.data.fd = fd;
  return epoll_ctl(epfd_.get(), EPOLL_CTL_MOD, fd, &ev) == 0;
}

void Scheduler::remove(int fd) {
  epoll_ctl(epfd_.get(), EPOLL_CTL_DEL, fd, nullptr);
  forget(fd);
}

void Scheduler::forget(int fd) {
  if (static_cast<size_t>(fd) < tasks_.size() && tasks_[fd]) {
    // Its queued read_again() entry, if any, is skipped: a pooled task
    // registered again must be able to queue a new one.
    tasks_[fd]->read_again_ = false;
    tasks_[fd] = nullptr;
    --task_count_;
  }
}

void Scheduler::add_callback(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(cb_mu_);
    callbacks_.push_back(std::move(fn));
  }
  has_callbacks_.store(true, std::memory_order_release);
  // On the loop thread the next turn polls without sleeping; elsewhere the
  // loop may be asleep in epoll_wait, so one eventfd write wakes it.
  if (loop_thread_.load(std::memory_order_relaxed) != std::this_thread::get_id()) wake();
}

void Scheduler::read_again(int fd, Task* task) {
  // Unregistered (a callback closed or paused it): nothing to call again,
  // and no flag left set for when it is registered again.
  if (static_cast<size_t>(fd) >= tasks_.size() || tasks_[fd] != task) return;
  task->sated_ = true;  // accounted for: it will be called again
  if (task->read_again_) return;
  task->read_again_ = true;
  read_again_.push_back({fd, task});
}

void Scheduler::run_read_again() {
  if (read_again_.empty()) return;
  read_again_running_.swap(read_again_);
  for (const ReadAgain& r : read_again_running_) {
    // Skip a task unregistered meanwhile; a slot reused by another task for
    // the same fd gets one spurious call, which reads EAGAIN.
    if (static_cast<size_t>(r.fd) >= tasks_.size() || tasks_[r.fd] != r.task) continue;
    r.task->read_again_ = false;
    try {
      dispatch_readable(r.fd, r.task, EPOLLIN);
    } catch (...) {
      task_threw(r.fd, r.task);
    }
  }
  read_again_running_.clear();
}

void Scheduler::dispatch_readable([[maybe_unused]] int fd, Task* t, uint32_t events) {
#ifndef NDEBUG
  t->sated_ = false;
#endif
  t->events_ = events;
  t->on_readable();
#ifndef NDEBUG
  if (edge_triggered() && tasks_[fd] == t && !t->sated_ && !t->reading_paused()) {
    std::fprintf(stderr,
                 "hellepoll: edge-triggered task '%.*s' (fd %d) returned without reading "
                 "until EAGAIN; it would never be woken for the bytes it left\n",
                 static_cast<int>(t->task_name().size()), t->task_name().data(), fd);
    std::abort();
  }
#endif
}

void Scheduler::stop() {
  stop_.store(true, std::memory_order_release);
  if (loop_thread_.load(std::memory_order_relaxed) != std::this_thread::get_id()) wake();
}

void Scheduler::wake() {
  if (wake_sent_.exchange(true, std::memory_order_acq_rel)) return;  // one write per sleep
  uint64_t one = 1;
  ssize_t r = ::write(wakefd_.get(), &one, sizeof one);
  (void)r;  // EAGAIN means the counter is already non-zero: the loop will wake
}

void Scheduler::run_callbacks() {
  if (!has_callbacks_.exchange(false, std::memory_order_acq_rel)) return;
  {
    std::lock_guard<std::mutex> lock(cb_mu_);
    running_.swap(callbacks_);
  }
  for (auto& fn : running_) {
    try {
      fn();
    } catch (...) {
      log_threw("callback");
    }
  }
  running_.clear();  // keeps capacity: no allocation in steady state
}

bool Scheduler::run() {
  loop_thread_.store(std::this_thread::get_id());
  bool ok = true;
  while (!stop_.load(std::memory_order_acquire)) {
    if (!run_once(std::chrono::hours(1))) {
      ok = false;
      break;
    }
  }
  loop_thread_.store(std::thread::id{});
  // A stop() request is consumed by the run() it ended (or, if it came
  // before run() started, by the next one).
  stop_.store(false, std::memory_order_relaxed);
  return ok;
}

int Scheduler::wait_timeout_ms(Duration max_wait) const {
  if (has_callbacks_.load(std::memory_order_acquire) || stop_.load(std::memory_order_relaxed) ||
      !read_again_.empty()) {
    return 0;
  }
  Duration wait = max_wait;
  if (!heap_.empty()) wait = std::min(wait, heap_[0]->deadline_ - now_);
  if (wait <= Duration::zero()) return 0;
  // Round up so a timer is never woken for early and spun on.
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(wait).count();
  return ms > 3600000 ? 3600000 : static_cast<int>(ms);
}

bool Scheduler::run_once(Duration max_wait) {
  if (loop_thread_.load(std::memory_order_relaxed) == std::thread::id{}) {
    loop_thread_.store(std::this_thread::get_id());
  }
  constexpr int kMaxEvents = 256;
  epoll_event events[kMaxEvents];
  int n = epoll_wait(epfd_.get(), events, kMaxEvents, wait_timeout_ms(max_wait));
  if (n < 0) {
    if (errno != EINTR) return false;
    n = 0;
  }
  now_ = Clock::now();
  ++turns_;
  // Tasks that yielded last turn go first, then those epoll reports now.
  run_read_again();
  for (int i = 0; i < n; ++i) {
    const int fd = events[i].data.fd;
    const uint32_t ev = events[i].events;
    if (fd == wakefd_.get()) {
      uint64_t v;
      ssize_t r = ::read(fd, &v, sizeof v);
      (void)r;
      wake_sent_.store(false, std::memory_order_release);
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
      task_threw(fd, t);
    }
  }
  expire_timers();
  run_callbacks();
  return true;
}

void Scheduler::task_threw(int fd, Task* t) {
  const char* what = current_what();
  // Still registered: alive, and owed the news. Otherwise it unregistered
  // itself first and may be destroyed: not even its name can be asked.
  if (static_cast<size_t>(fd) < tasks_.size() && tasks_[fd] == t) {
    const std::string_view name = t->task_name();
    std::fprintf(stderr, "hellepoll: task '%.*s' (fd %d) threw: %s\n", static_cast<int>(name.size()),
                 name.data(), fd, what);
    t->on_exception();
  } else {
    std::fprintf(stderr, "hellepoll: an unregistered task (fd %d) threw: %s\n", fd, what);
  }
}

// ---------------------------------------------------------------- timer heap

void Scheduler::timer_insert(Timer* t) {
  t->heap_index_ = static_cast<uint32_t>(heap_.size());
  heap_.push_back(t);
  heap_up(t->heap_index_);
}

void Scheduler::timer_erase(Timer* t) {
  uint32_t i = t->heap_index_;
  t->heap_index_ = Timer::kInactive;
  Timer* last = heap_.back();
  heap_.pop_back();
  if (last == t) return;
  heap_[i] = last;
  last->heap_index_ = i;
  heap_down(i);
  heap_up(last->heap_index_);
}

void Scheduler::heap_up(uint32_t i) {
  Timer* t = heap_[i];
  while (i > 0) {
    uint32_t parent = (i - 1) / 2;
    if (heap_[parent]->deadline_ <= t->deadline_) break;
    heap_[i] = heap_[parent];
    heap_[i]->heap_index_ = i;
    i = parent;
  }
  heap_[i] = t;
  t->heap_index_ = i;
}

void Scheduler::heap_down(uint32_t i) {
  const uint32_t n = static_cast<uint32_t>(heap_.size());
  Timer* t = heap_[i];
  for (;;) {
    uint32_t child = 2 * i + 1;
    if (child >= n) break;
    if (child + 1 < n && heap_[child + 1]->deadline_ < heap_[child]->deadline_) ++child;
    if (t->deadline_ <= heap_[child]->deadline_) break;
    heap_[i] = heap_[child];
    heap_[i]->heap_index_ = i;
    i = child;
  }
  heap_[i] = t;
  t->heap_index_ = i;
}

void Scheduler::expire_timers() {
  // Take every expired timer off the heap before any fires: one armed by a
  // callback below goes back into the heap and waits for the next turn, so
  // a zero or negative delay cannot hold the loop here and starve I/O.
  while (!heap_.empty() && heap_[0]->deadline_ <= now_) {
    Timer* t = heap_[0];
    timer_erase(t);
    t->due_index_ = static_cast<uint32_t>(due_.size());
    due_.push_back(t);
  }
  for (size_t i = 0; i < due_.size(); ++i) {
    Timer* t = due_[i];
    if (t == nullptr) continue;  // cancelled or destroyed by an earlier callback
    t->due_index_ = Timer::kInactive;
    fire(t);
  }
  due_.clear();  // keeps capacity: no allocation in steady state
}

void Scheduler::fire(Timer* t) {
  firing_ = t;
  firing_gone_ = firing_destroyed_ = false;
  // Called from a local: the callback may destroy `t` and with it cb_.
  std::function<void()> cb = std::move(t->cb_);
  try {
    cb();
  } catch (...) {
    log_threw("timer");  // and a periodic one keeps its schedule
  }
  firing_ = nullptr;
  if (firing_destroyed_) return;
  t->cb_ = std::move(cb);
  // Cancelled or restarted from inside: nothing to re-arm.
  if (!firing_gone_ && !t->active() && t->period_ > Duration::zero()) {
    // Periodic: next expiry counted from the deadline, not from now, so a
    // late turn does not drift the schedule; skip missed periods.
    t->deadline_ += t->period_;
    if (t->deadline_ <= now_) t->deadline_ = now_ + t->period_;
    timer_insert(t);
  }
}

}  // namespace hellepoll
