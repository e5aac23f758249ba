#include "server/listener.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace hellepoll {

UniqueFd bind_listen_socket(const ListenOptions& opts, std::string* error) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(opts.port);
  if (inet_pton(AF_INET, opts.host.c_str(), &addr.sin_addr) != 1) {
    if (error) *error = "'" + opts.host + "' is not an IPv4 address (try 0.0.0.0 or 127.0.0.1)";
    return UniqueFd();
  }
  UniqueFd s(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!s) {
    if (error) *error = std::string("socket: ") + std::strerror(errno);
    return UniqueFd();
  }
  int one = 1;
  setsockopt(s.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (opts.reuse_port && setsockopt(s.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    if (error) *error = std::string("SO_REUSEPORT: ") + std::strerror(errno);
    return UniqueFd();
  }
  if (opts.defer_accept) {
    int secs = 1;  // after this long without data, accept anyway
    setsockopt(s.get(), IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs, sizeof secs);
  }
  if (::bind(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    if (error) {
      *error = "bind " + opts.host + ":" + std::to_string(opts.port) + ": " + std::strerror(errno) +
               (errno == EADDRINUSE ? " (another server is on that port: stop it or pick --port)" : "");
    }
    return UniqueFd();
  }
  if (::listen(s.get(), opts.backlog) != 0) {
    if (error) *error = std::string("listen: ") + std::strerror(errno);
    return UniqueFd();
  }
  return s;
}

uint16_t socket_port(int fd) {
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return 0;
  return ntohs(addr.sin_port);
}

Listener::Listener(Scheduler& sched, UniqueFd sock, AcceptFn on_accept, Options opts)
    : sched_(sched),
      sock_(std::move(sock)),
      on_accept_(std::move(on_accept)),
      opts_(opts),
      backoff_timer_(sched, [this] { resume(); }) {
  // Linux clones each accepted socket from the listening one, TCP_NODELAY
  // included: set once here, it saves a setsockopt per connection (one of
  // about five syscalls of a connection that carries one request).
  const int nodelay = opts_.nodelay ? 1 : 0;
  setsockopt(sock_.get(), IPPROTO_TCP, TCP_NODELAY, &nodelay, sizeof nodelay);
  sched_.watch_accept(sock_.get(), this, opts_.exclusive);
}

Listener::~Listener() {
  on_ended_ = nullptr;
  close();
  if (sock_) sched_.unwatch_accept(sock_.get());  // what the ring accepts from now on is closed
}

void Listener::close() {
  if (closed_) return;
  if (!paused_) accept_batch(INT32_MAX);
  closed_ = true;
  backoff_timer_.cancel();
  if (!paused_ && sched_.end_accept(sock_.get())) return;  // on_released() ends it
  end();
}

void Listener::on_released() { end(); }

void Listener::end() {
  sock_.reset();
  auto fn = std::move(on_ended_);  // it may destroy this listener
  on_ended_ = nullptr;
  if (fn) fn();
}

void Listener::pause() {
  // EPOLLEXCLUSIVE registrations cannot be modified, so pausing is a
  // remove and resuming an add: both are rare.
  paused_ = true;
  sched_.unwatch_accept(sock_.get());
  backoff_timer_.start(opts_.backoff);
}

void Listener::resume() {
  if (closed_ || !paused_) return;
  paused_ = false;
  sched_.watch_accept(sock_.get(), this, opts_.exclusive);
  // Edge-triggered: connections queued while paused raise no new edge.
  on_readable();
}

void Listener::on_readable() {
  // A bounded batch keeps an accept storm from starving the connections;
  // the loop calls again if more are queued (see the end of accept_batch).
  accept_batch(64);
}

void Listener::accept_batch(int limit) {
  if (closed_ || paused_) return;  // a read_again() queued before close() or pause()
  for (int i = 0; i < limit && !closed_ && !paused_; ++i) {
    int fd = ::accept4(sock_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      on_accept_(UniqueFd(fd));
      continue;
    }
    switch (errno) {
      case EAGAIN:
        mark_sated();
        return;
      case EINTR:
      case ECONNABORTED:
      case EPROTO:
        continue;
      case EMFILE:
      case ENFILE:
      case ENOBUFS:
      case ENOMEM:
        pause();
        return;
      default:
        // Unknown: back off rather than spin.
        pause();
        return;
    }
  }
  // Batch limit: edge-triggered, no new edge would come for what is queued;
  // called again next turn (level-triggered too, one accept4 early).
  sched_.read_again(sock_.get(), this);
}

void Listener::on_accepted(int result) {
  if (result >= 0) {
    // Also after close(): the ring took it from the queue before its cancel
    // landed, as accept_batch() took the rest.
    on_accept_(UniqueFd(result));
    return;
  }
  if (closed_ || paused_) return;
  switch (-result) {
    case EINTR:
    case ECONNABORTED:
    case EPROTO:
    case EAGAIN:
      return;
    default:
      pause();  // out of descriptors or memory, or unknown: back off rather than spin
      return;
  }
}

}  // namespace hellepoll
