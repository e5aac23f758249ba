#include "variants/workers.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
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
  std::printf("%.*s listening on %s:%u (trigger %.*s, write %.*s, %d %.*s, accept %s)\n",
              static_cast<int>(id.name.size()), id.name.data(), opts.host.c_str(), port,
              static_cast<int>(id.trigger.size()), id.trigger.data(), static_cast<int>(id.write.size()),
              id.write.data(), opts.workers, static_cast<int>(id.workers.size()), id.workers.data(),
              opts.accept == AcceptMode::kReusePort ? "reuseport" : "shared");
  std::fflush(stdout);
}

// "NAME: worker I (pid P) killed by signal S" or "... exited with N", then `after`.
void report_exit(const Identity& id, int index, pid_t pid, int status, const char* after) {
  std::fprintf(stderr, "%.*s: worker %d (pid %d) %s %d%s\n", static_cast<int>(id.name.size()),
               id.name.data(), index, pid, WIFSIGNALED(status) ? "killed by signal" : "exited with",
               WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), after);
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
  std::vector<pid_t> pids(static_cast<size_t>(opts.workers), 0);

  auto spawn = [&](int i) -> bool {
    pid_t pid = fork();
    if (pid < 0) {
      std::fprintf(stderr, "%.*s: fork: %s\n", static_cast<int>(id.name.size()), id.name.data(),
                   std::strerror(errno));
      return false;
    }
    if (pid > 0) {
      pids[static_cast<size_t>(i)] = pid;
      return true;
    }
    // Child: die with the parent; signals arrive through the worker's loop.
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(0);
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

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGCHLD);
  bool stopping = false;
  int alive = opts.workers;
  int rc = 0;
  auto deadline = std::chrono::steady_clock::time_point::max();
  while (alive > 0) {
    timespec ts{0, 200 * 1000 * 1000};
    int sig = sigtimedwait(&set, nullptr, &ts);
    if (sig == SIGINT || sig == SIGTERM) {
      if (!stopping) {
        stopping = true;
        // Closed now, not at exit: the workers close theirs as they start
        // draining, and a connection that arrived meanwhile would complete
        // its handshake on the parent's copy, wait out the drain unaccepted,
        // and be reset. Refused at once, a client can go elsewhere.
        socks.clear();
        for (pid_t p : pids) {
          if (p > 0) kill(p, SIGTERM);
        }
        deadline = std::chrono::steady_clock::now() + opts.config.drain_timeout + std::chrono::seconds(2);
      }
    }
    if (stopping && std::chrono::steady_clock::now() > deadline) {
      for (pid_t p : pids) {
        if (p > 0) kill(p, SIGKILL);
      }
    }
    // Reap whoever exited.
    for (;;) {
      int status = 0;
      pid_t p = waitpid(-1, &status, WNOHANG);
      if (p <= 0) break;
      for (int i = 0; i < opts.workers; ++i) {
        if (pids[static_cast<size_t>(i)] != p) continue;
        pids[static_cast<size_t>(i)] = 0;
        if (stopping) {
          --alive;
          // A worker that did not drain cleanly fails the whole stop: its
          // clients lost answers, and whoever stops the server must hear it.
          if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            report_exit(id, i, p, status, " while stopping");
            rc = 1;
          }
        } else {
          report_exit(id, i, p, status, "; restarting it");
          if (!spawn(i)) --alive;
        }
      }
    }
  }
  return rc;
}

}  // namespace hellepoll::variants
