#include "server/scheduler.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
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

std::string_view trigger_name(Trigger t) {
  switch (t) {
    case Trigger::kLevel:
      return "level";
    case Trigger::kEdge:
      return "edge";
    case Trigger::kCompletion:
      return "uring";
  }
  return "?";
}

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

Scheduler::Scheduler() : wakefd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)), now_(Clock::now()) {
  if (!wakefd_) {
    std::fprintf(stderr, "hellepoll: eventfd failed: %s\n", std::strerror(errno));
    std::abort();
  }
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

void Scheduler::add_callback(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(cb_mu_);
    callbacks_.push_back(std::move(fn));
  }
  has_callbacks_.store(true, std::memory_order_release);
  // On the loop thread the next turn polls without sleeping; elsewhere the
  // loop may be asleep in the backend's wait, so one eventfd write wakes it.
  if (loop_thread_.load(std::memory_order_relaxed) != std::this_thread::get_id()) wake();
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

void Scheduler::drain_wake() {
  uint64_t v;
  ssize_t r = ::read(wakefd_.get(), &v, sizeof v);
  (void)r;
  wake_sent_.store(false, std::memory_order_release);
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
  run_ended();
  loop_thread_.store(std::thread::id{});
  // A stop() request is consumed by the run() it ended (or, if it came
  // before run() started, by the next one).
  stop_.store(false, std::memory_order_relaxed);
  return ok;
}

Duration Scheduler::wait_budget(Duration max_wait) const {
  if (has_callbacks_.load(std::memory_order_acquire) || stop_.load(std::memory_order_relaxed) ||
      has_pending()) {
    return Duration::zero();
  }
  Duration wait = max_wait;
  if (!heap_.empty()) wait = std::min(wait, heap_[0]->deadline_ - now_);
  return std::max(wait, Duration::zero());
}

bool Scheduler::run_once(Duration max_wait) {
  if (loop_thread_.load(std::memory_order_relaxed) == std::thread::id{}) {
    loop_thread_.store(std::this_thread::get_id());
  }
  if (!poll(wait_budget(max_wait))) return false;
  expire_timers();
  run_callbacks();
  return true;
}

void Scheduler::task_threw(int fd, Task* t, bool registered) {
  const char* what = current_what();
  // Still registered: alive, and owed the news. Otherwise it unregistered
  // itself first and may be destroyed: not even its name can be asked.
  if (registered) {
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
