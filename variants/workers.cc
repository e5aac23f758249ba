#include "variants/workers.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "server/listener.h"
#include "server/signals.h"

namespace hellepoll::variants {
namespace {

int fcntl_dupfd(int fd) { return ::fcntl(fd, F_DUPFD_CLOEXEC, 0); }

// Listening sockets: one per worker (reuseport), or one shared.
bool make_sockets(const Options& opts, const Identity& id, std::vector<UniqueFd>* out) {
  ListenOptions lo;
  lo.host = opts.host;
  lo.port = opts.port;
  lo.reuse_port = opts.accept == AcceptMode::kReusePort;
  const int n = opts.accept == AcceptMode::kReusePort ? opts.workers : 1;
  for (int i = 0; i < n; ++i) {
    std::string err;
    UniqueFd s = bind_listen_socket(lo, &err);
    if (!s) {
      std::fprintf(stderr, "%.*s: %s\n", static_cast<int>(id.name.size()), id.name.data(), err.c_str());
      return false;
    }
    lo.port = socket_port(s.get());  // --port 0: the others join the first's port
    out->push_back(std::move(s));
  }
  return true;
}

// The socket worker i owns: its own, or a dup of the shared one.
UniqueFd socket_for(const std::vector<UniqueFd>& socks, int i) {
  if (socks.size() == 1) return UniqueFd(fcntl_dupfd(socks[0].get()));
  return UniqueFd(fcntl_dupfd(socks[static_cast<size_t>(i)].get()));
}

void pin_to(int index) {
  std::vector<int> cpus = allowed_cpus();
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpus[static_cast<size_t>(index) % cpus.size()], &set);
  sched_setaffinity(0, sizeof set, &set);  // 0: the calling thread
}

void announce(const Options& opts, const Identity& id, uint16_t port) {
  std::printf("%.*s listening on %s:%u (backend %.*s, trigger %.*s, write %.*s, %d %.*s, accept %s)\n",
              static_cast<int>(id.name.size()), id.name.data(), opts.host.c_str(), port,
              static_cast<int>(id.backend.size()), id.backend.data(), static_cast<int>(id.trigger.size()),
              id.trigger.data(), static_cast<int>(id.write.size()), id.write.data(), opts.workers,
              static_cast<int>(id.workers.size()), id.workers.data(),
              opts.accept == AcceptMode::kReusePort ? "reuseport" : "shared");
  std::fflush(stdout);
}

using SteadyClock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Restarting a worker process that died while the server runs. One that
// lived less than kStartedAfter died at start-up (a crash in set-up, a
// limit it cannot live with): forking it again at once would spin, so each
// such death in a row doubles the wait, from kFirstRestartDelay. After
// kMaxStartFailures in a row it never will start, and the supervisor stops
// the server and exits 1, as systemd's start limit fails a unit: a server
// missing a worker for good would leave that worker's reuseport socket
// unserved (its share of connections hangs), and whoever runs the server
// must hear of it rather than find it half up. A worker that lived longer
// is restarted at once, and its slot starts counting afresh.
constexpr auto kStartedAfter = std::chrono::seconds(1);
constexpr auto kFirstRestartDelay = milliseconds(100);
constexpr int kMaxStartFailures = 6;  // waits 0.1, 0.2, 0.4, 0.8, 1.6 s between them

// One worker process slot of the supervisor.
struct WorkerSlot {
  pid_t pid = 0;                                                        // 0: not running
  SteadyClock::time_point born;                                         // when forked
  SteadyClock::time_point restart_at = SteadyClock::time_point::max();  // while pid == 0
  int start_failures = 0;                                               // deaths at start-up in a row
};

// "NAME: worker I (pid P) exited with N after T ms; THEN" (or "killed by
// signal S (name)"): why a worker ended, and what the supervisor does next.
void report_exit(const Identity& id, int index, pid_t pid, int status, SteadyClock::duration lived,
                 const std::string& then) {
  char how[96];
  if (WIFSIGNALED(status)) {
    std::snprintf(how, sizeof how, "killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
  } else {
    std::snprintf(how, sizeof how, "exited with %d", WEXITSTATUS(status));
  }
  std::fprintf(stderr, "%.*s: worker %d (pid %d) %s after %lld ms; %s\n", static_cast<int>(id.name.size()),
               id.name.data(), index, pid, how,
               static_cast<long long>(std::chrono::duration_cast<milliseconds>(lived).count()), then.c_str());
}

// Schedules the restart of a worker that has just died (or could not be
// forked) and returns what the supervisor does, for the log line; sets
// `*give_up` instead when it is never going to start.
std::string plan_restart(WorkerSlot* w, bool* give_up) {
  const auto now = SteadyClock::now();
  *give_up = false;
  if (now - w->born >= kStartedAfter) {
    w->start_failures = 0;
    w->restart_at = now;
    return "restarting it";
  }
  if (++w->start_failures >= kMaxStartFailures) {
    *give_up = true;
    return "it failed to start " + std::to_string(w->start_failures) +
           " times in a row: giving up, stopping the server";
  }
  const auto delay = kFirstRestartDelay * (1 << (w->start_failures - 1));
  w->restart_at = now + delay;
  return "restarting it in " + std::to_string(delay.count()) + " ms";
}

// Test hook: HELLEPOLL_TEST_WORKER_EXIT=N makes every worker process exit
// with status N as soon as it is forked, a worker that cannot start.
int test_worker_exit() {
  const char* v = std::getenv("HELLEPOLL_TEST_WORKER_EXIT");
  return v ? std::atoi(v) : -1;
}

}  // namespace

int Threads::run(const Options& opts, const Identity& id, const WorkerFactory& make) {
  std::vector<UniqueFd> socks;
  if (!make_sockets(opts, id, &socks)) return 1;
  // Signals go to this thread's sigwait only; workers inherit the mask.
  block_signals({SIGINT, SIGTERM});
  signal(SIGPIPE, SIG_IGN);

  std::mutex mu;
  std::vector<Worker*> workers(static_cast<size_t>(opts.workers), nullptr);
  std::vector<std::thread> threads;
  int started = 0;
  std::condition_variable cv;
  for (int i = 0; i < opts.workers; ++i) {
    threads.emplace_back([&, i, sock = socket_for(socks, i)]() mutable {
      if (opts.pin) pin_to(i);
      std::unique_ptr<Worker> w = make(i, std::move(sock), socks.size() == 1);
      {
        std::lock_guard<std::mutex> lock(mu);
        workers[static_cast<size_t>(i)] = w.get();
        ++started;
      }
      cv.notify_all();
      w->run();
    });
  }
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return started == opts.workers; });
  }
  announce(opts, id, socket_port(socks[0].get()));
  socks.clear();  // each worker owns its dup; close the originals

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  int sig = 0;
  sigwait(&set, &sig);
  for (Worker* w : workers) w->request_drain();
  for (auto& t : threads) t.join();
  return 0;
}

int Procs::run(const Options& opts, const Identity& id, const WorkerFactory& make) {
  std::vector<UniqueFd> socks;
  if (!make_sockets(opts, id, &socks)) return 1;
  // The parent keeps every socket open while it serves, so a restarted
  // worker takes over its predecessor's queue and no connection is refused
  // meanwhile.
  block_signals({SIGINT, SIGTERM, SIGCHLD});
  signal(SIGPIPE, SIG_IGN);
  const pid_t parent = getpid();
  const int exit_at_start = test_worker_exit();
  std::vector<WorkerSlot> slots(static_cast<size_t>(opts.workers));

  auto spawn = [&](int i) -> bool {
    WorkerSlot& slot = slots[static_cast<size_t>(i)];
    slot.restart_at = SteadyClock::time_point::max();
    slot.born = SteadyClock::now();
    pid_t pid = fork();
    if (pid < 0) {
      std::fprintf(stderr, "%.*s: fork: %s\n", static_cast<int>(id.name.size()), id.name.data(),
                   std::strerror(errno));
      return false;
    }
    if (pid > 0) {
      slot.pid = pid;
      return true;
    }
    // Child: die with the parent; signals arrive through the worker's loop.
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(0);
    if (exit_at_start >= 0) _exit(exit_at_start);
    if (opts.pin) pin_to(i);
    UniqueFd mine = socket_for(socks, i);
    const bool shared = socks.size() == 1;
    socks.clear();
    std::unique_ptr<Worker> w = make(i, std::move(mine), shared);
    SignalWatcher watcher(w->scheduler(), {SIGINT, SIGTERM}, [&w](int) { w->drain(); });
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    pthread_sigmask(SIG_UNBLOCK, &chld, nullptr);
    w->run();
    std::fflush(stdout);
    _exit(0);
  };

  for (int i = 0; i < opts.workers; ++i) {
    if (!spawn(i)) return 1;
  }
  announce(opts, id, socket_port(socks[0].get()));

  bool stopping = false;
  int rc = 0;
  auto deadline = SteadyClock::time_point::max();
  auto begin_stop = [&] {
    stopping = true;
    // Closed now, not at exit: the workers close theirs as they start
    // draining, and a connection that arrived meanwhile would complete its
    // handshake on the parent's copy, wait out the drain unaccepted, and be
    // reset. Refused at once, a client can go elsewhere.
    socks.clear();
    for (const WorkerSlot& w : slots) {
      if (w.pid > 0) kill(w.pid, SIGTERM);
    }
    deadline = SteadyClock::now() + opts.config.drain_timeout + std::chrono::seconds(2);
  };
  // Plans slot i's next start once its worker died (or could not be
  // forked); `say(then)` logs why, and what follows.
  auto restart_later = [&](int i, const auto& say) {
    bool give_up = false;
    say(plan_restart(&slots[static_cast<size_t>(i)], &give_up));
    if (give_up) {
      rc = 1;
      begin_stop();
    }
  };
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGCHLD);
  for (;;) {
    // Sleep until a signal, the next restart that is due, or 200 ms.
    auto wake_at = SteadyClock::now() + milliseconds(200);
    bool running = false;
    for (const WorkerSlot& w : slots) {
      running = running || w.pid > 0 || (!stopping && w.restart_at != SteadyClock::time_point::max());
      if (!stopping) wake_at = std::min(wake_at, w.restart_at);
    }
    if (!running) break;
    const auto wait_ns = std::max<long long>(
        0, std::chrono::duration_cast<std::chrono::nanoseconds>(wake_at - SteadyClock::now()).count());
    timespec ts{static_cast<time_t>(wait_ns / 1000000000), static_cast<long>(wait_ns % 1000000000)};
    int sig = sigtimedwait(&set, nullptr, &ts);
    if ((sig == SIGINT || sig == SIGTERM) && !stopping) begin_stop();
    if (stopping && SteadyClock::now() > deadline) {
      for (const WorkerSlot& w : slots) {
        if (w.pid > 0) kill(w.pid, SIGKILL);
      }
    }
    // Reap whoever exited.
    for (;;) {
      int status = 0;
      pid_t p = waitpid(-1, &status, WNOHANG);
      if (p <= 0) break;
      for (int i = 0; i < opts.workers; ++i) {
        WorkerSlot& w = slots[static_cast<size_t>(i)];
        if (w.pid != p) continue;
        w.pid = 0;
        if (stopping) {
          // A worker that did not drain cleanly fails the whole stop: its
          // clients lost answers, and whoever stops the server must hear it.
          if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            report_exit(id, i, p, status, SteadyClock::now() - w.born, "while stopping");
            rc = 1;
          }
          continue;
        }
        restart_later(i, [&](const std::string& then) {
          report_exit(id, i, p, status, SteadyClock::now() - w.born, then);
        });
      }
    }
    for (int i = 0; i < opts.workers && !stopping; ++i) {
      WorkerSlot& w = slots[static_cast<size_t>(i)];
      if (w.pid != 0 || w.restart_at > SteadyClock::now() || spawn(i)) continue;
      // A fork that failed (a process limit, memory) is a worker that
      // died at start: retried after the same backoff.
      restart_later(i, [&](const std::string& then) {
        std::fprintf(stderr, "%.*s: worker %d could not be forked; %s\n", static_cast<int>(id.name.size()),
                     id.name.data(), i, then.c_str());
      });
    }
  }
  return rc;
}

}  // namespace hellepoll::variants
