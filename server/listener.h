// Listener: accepts TCP connections and hands each fd to a callback.
//
// - Non-blocking accept4 (SOCK_NONBLOCK | SOCK_CLOEXEC) in a batch per
//   event; in edge-triggered mode, until EAGAIN. On io_uring the ring
//   accepts (multishot) and hands each fd to on_accepted().
// - TCP_NODELAY on every accepted socket (optional; set on the listening
//   socket, which accepted ones inherit): responses are written whole, so
//   Nagle could only delay the second write of a streamed one.
// - Survives descriptor exhaustion: on EMFILE/ENFILE/ENOBUFS/ENOMEM it
//   stops accepting for `backoff`, keeps serving the connections it has,
//   then resumes.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>

#include "server/fd.h"
#include "server/scheduler.h"

namespace hellepoll {

struct ListenOptions {
  std::string host = "0.0.0.0";
  uint16_t port = 0;         // 0: an ephemeral port (see Listener::port())
  bool reuse_port = false;   // SO_REUSEPORT: one socket per worker
  bool defer_accept = true;  // TCP_DEFER_ACCEPT: accept when the request has arrived
  int backlog = 4096;
};

// Creates, binds and listens a TCP socket. On failure returns an empty fd
// and fills `error` with what went wrong and what to do.
UniqueFd bind_listen_socket(const ListenOptions& opts, std::string* error);
// The port a bound socket listens on.
uint16_t socket_port(int fd);

class Listener final : public Task {
 public:
  using AcceptFn = std::function<void(UniqueFd)>;
  struct Options {
    bool nodelay = true;
    bool exclusive = false;  // EPOLLEXCLUSIVE: several schedulers share this socket
    Duration backoff = std::chrono::milliseconds(100);
  };

  Listener(Scheduler& sched, UniqueFd sock, AcceptFn on_accept, Options opts);
  ~Listener() override;

  uint16_t port() const { return socket_port(sock_.get()); }
  int fd() const { return sock_.get(); }
  // Stops accepting and closes this listener's socket. First accepts what
  // the kernel has already queued (graceful shutdown: a connection the
  // kernel accepted is served, not reset). On io_uring connections the
  // ring took meanwhile are handed on until its accept has ended: then
  // ended() holds and `on_ended` runs.
  void close();
  bool closed() const { return closed_; }
  bool ended() const { return closed_ && !sock_; }
  void on_ended(std::function<void()> fn) { on_ended_ = std::move(fn); }

  void on_readable() override;            // readiness backends: accept4 in a batch
  void on_accepted(int result) override;  // io_uring: its multishot accept's
  void on_released() override;            // io_uring: the accept close() ended has ended
  std::string_view task_name() const override { return "listener"; }
  bool reading_paused() const override { return paused_; }

 private:
  void accept_batch(int limit);
  void pause();
  void resume();
  void end();

  Scheduler& sched_;
  UniqueFd sock_;
  AcceptFn on_accept_;
  std::function<void()> on_ended_;
  Options opts_;
  Timer backoff_timer_;
  bool paused_ = false;
  bool closed_ = false;
};

}  // namespace hellepoll
