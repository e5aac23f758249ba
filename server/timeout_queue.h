// TimeoutQueue: O(1) timeouts for many tasks that share one duration.
//
// Every connection's idle (or read, or write) timeout has the same length,
// so appending to the tail keeps the list sorted by deadline: arming,
// re-arming and cancelling are a few pointer writes, and expiry walks from
// the head. This is the structure behind the per-request timeout reset on
// the hot path; a heap (Timer) would cost O(log n) there.
#pragma once

#include "server/scheduler.h"

namespace hellepoll {

struct TimeoutLink {
  TimeoutLink* prev = nullptr;
  TimeoutLink* next = nullptr;
  TimePoint deadline{};

  void unlink() {
    if (!prev) return;
    prev->next = next;
    next->prev = prev;
    prev = next = nullptr;
  }
};

class TimeoutQueue {
 public:
  explicit TimeoutQueue(Duration timeout) : timeout_(timeout) { head_.prev = head_.next = &head_; }
  TimeoutQueue(const TimeoutQueue&) = delete;
  TimeoutQueue& operator=(const TimeoutQueue&) = delete;

  bool empty() const { return head_.next == &head_; }

  // (Re)arms `l` to expire the queue's timeout after `now`, moving it from
  // whichever queue it was in.
  void push(TimeoutLink* l, TimePoint now) {
    l->unlink();
    l->deadline = now + timeout_;
    l->prev = head_.prev;
    l->next = &head_;
    head_.prev->next = l;
    head_.prev = l;
  }

  // Unlinks every entry whose deadline has passed and calls fn(link) for it.
  // fn may push or unlink any entry, including others in this queue.
  template <class Fn>
  void expire(TimePoint now, Fn&& fn) {
    while (!empty() && head_.next->deadline <= now) {
      TimeoutLink* l = head_.next;
      l->unlink();
      fn(l);
    }
  }

 private:
  Duration timeout_;
  TimeoutLink head_;  // sentinel
};

}  // namespace hellepoll
