#include "server/signals.h"

#include <signal.h>
#include <sys/signalfd.h>

#include <cerrno>

namespace hellepoll {

namespace {
sigset_t make_set(std::initializer_list<int> signals) {
  sigset_t set;
  sigemptyset(&set);
  for (int s : signals) sigaddset(&set, s);
  return set;
}
}  // namespace

bool block_signals(std::initializer_list<int> signals) {
  sigset_t set = make_set(signals);
  return pthread_sigmask(SIG_BLOCK, &set, nullptr) == 0;
}

SignalWatcher::SignalWatcher(Scheduler& sched, std::initializer_list<int> signals,
                             std::function<void(int)> fn)
    : sched_(sched), fn_(std::move(fn)) {
  sigset_t set = make_set(signals);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  fd_.reset(signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
  if (fd_) sched_.add(fd_.get(), this, kReadable);
}

SignalWatcher::~SignalWatcher() {
  if (fd_) sched_.remove(fd_.get());
}

void SignalWatcher::on_readable() {
  for (;;) {
    signalfd_siginfo info;
    ssize_t n = ::read(fd_.get(), &info, sizeof info);
    if (n != static_cast<ssize_t>(sizeof info)) {
      if (n < 0 && errno == EINTR) continue;
      mark_sated();
      return;
    }
    fn_(static_cast<int>(info.ssi_signo));
  }
}

}  // namespace hellepoll
