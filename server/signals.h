// SignalWatcher: POSIX signals as a task in the loop (signalfd), so a
// scheduler has one wait point and handlers run on the loop thread, not in
// async-signal context.
#pragma once

#include <functional>
#include <initializer_list>

#include "server/fd.h"
#include "server/scheduler.h"

namespace hellepoll {

class SignalWatcher final : public Task {
 public:
  // Blocks `signals` in the calling thread (threads created later inherit
  // the mask) and delivers each to `fn` on `sched`'s loop.
  SignalWatcher(Scheduler& sched, std::initializer_list<int> signals, std::function<void(int)> fn);
  ~SignalWatcher() override;

  void on_readable() override;
  std::string_view task_name() const override { return "signals"; }

 private:
  Scheduler& sched_;
  UniqueFd fd_;
  std::function<void(int)> fn_;
};

// Blocks `signals` in the calling thread; returns false on failure.
bool block_signals(std::initializer_list<int> signals);

}  // namespace hellepoll
