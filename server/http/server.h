// HttpServer<Io>: accepts connections on one scheduler and serves them with
// a Router. One per worker thread or process.
//
// Contract
// - Construct and use on the scheduler's thread. The scheduler is the
//   backend Io names (Io::Sched), so a mismatch does not compile.
// - The Router must outlive the server and not change while it serves.
// - drain(done): stops accepting (connections the kernel had queued, or the
//   ring took as it stopped, are served); idle connections end now
//   (lingering: a request may cross our FIN), a request in flight is
//   answered (with "Connection: close") and its connection ended; `done`
//   runs when none is left or after drain_timeout, when the rest are cut.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "server/http/connection.h"
#include "server/http/context.h"
#include "server/listener.h"

namespace hellepoll::http {

template <class Io>
class HttpServer final : private ConnectionOwner<Connection<Io>> {
 public:
  using Conn = Connection<Io>;

  using Sched = typename Io::Sched;
  HttpServer(Sched& sched, const Router& router, ServerConfig config = {});
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Serves connections accepted on `sock` (a listening socket; this server
  // owns it). `shared`: other schedulers accept on the same socket
  // (EPOLLEXCLUSIVE).
  void listen(UniqueFd sock, bool shared = false);
  uint16_t port() const { return listener_ ? listener_->port() : 0; }
  void drain(std::function<void()> done);

  const ServerStats& stats() const { return ctx_.stats; }
  // Buffers allocated (in use + pooled): for memory tests.
  size_t buffers_allocated() const { return ctx_.in_pool.allocated() + ctx_.out_pool.allocated(); }
  Scheduler& scheduler() { return *ctx_.sched; }
  // This worker's per-worker objects (what Request::worker() gives handlers).
  WorkerLocals& locals() { return ctx_.locals; }

 private:
  void accept(UniqueFd fd);
  void connection_closed(Conn* c) override;
  void sweep();
  void check_drained();
  template <class Fn>
  void for_each_connection(Fn&& fn);

  ConnectionContext ctx_;
  std::unique_ptr<Listener> listener_;
  std::vector<std::unique_ptr<Conn>> all_;  // every Connection ever made, for reuse
  std::vector<Conn*> free_;
  Timer sweep_timer_;
  Timer drain_timer_;
  std::function<void()> drained_;
};

// Every IoPolicy this library offers (each trigger with each write path),
// compiled once in server.cc so that binaries, tests and fuzzers link them
// instead of compiling them again. Which ones become server binaries is
// declared in variants/variants.bzl, the one list of variants.
using LtWrite = IoPolicy<Trigger::kLevel, CopyWrite>;
using LtWritev = IoPolicy<Trigger::kLevel, GatherWrite>;
using EtWrite = IoPolicy<Trigger::kEdge, CopyWrite>;
using EtWritev = IoPolicy<Trigger::kEdge, GatherWrite>;
using UringWrite = IoPolicy<Trigger::kCompletion, CopyWrite>;
using UringWritev = IoPolicy<Trigger::kCompletion, GatherWrite>;
extern template class Connection<LtWrite>;
extern template class Connection<LtWritev>;
extern template class Connection<EtWrite>;
extern template class Connection<EtWritev>;
extern template class Connection<UringWrite>;
extern template class Connection<UringWritev>;
extern template class HttpServer<LtWrite>;
extern template class HttpServer<LtWritev>;
extern template class HttpServer<EtWrite>;
extern template class HttpServer<EtWritev>;
extern template class HttpServer<UringWrite>;
extern template class HttpServer<UringWritev>;

// ============================================================ implementation

template <class Io>
HttpServer<Io>::HttpServer(Sched& sched, const Router& router, ServerConfig config)
    : ctx_(sched, router, config), sweep_timer_(sched, [this] { sweep(); }), drain_timer_(sched, [this] {
        // Drain deadline: cut what is left.
        for_each_connection([this](Conn* c) {
          ++ctx_.stats.drain_cut;
          c->abort(ErrorKind::kShutdown);
        });
        listener_.reset();  // an accept still ending: what it takes now is closed
        check_drained();
      }) {
  // Sweep often enough that a timeout fires within a quarter of its length.
  Duration shortest = std::min({config.idle_timeout, config.read_timeout, config.write_timeout,
                                config.handler_timeout, config.linger_timeout});
  Duration every = std::clamp<Duration>(shortest / 4, std::chrono::milliseconds(10), std::chrono::seconds(1));
  sweep_timer_.start_periodic(every);
}

template <class Io>
HttpServer<Io>::~HttpServer() {
  listener_.reset();
  drained_ = nullptr;
  for_each_connection([](Conn* c) { c->abort(ErrorKind::kShutdown); });
}

template <class Io>
void HttpServer<Io>::listen(UniqueFd sock, bool shared) {
  Listener::Options opts;
  opts.exclusive = shared;
  listener_ = std::make_unique<Listener>(
      *ctx_.sched, std::move(sock), [this](UniqueFd fd) { accept(std::move(fd)); }, opts);
  listener_->on_ended([this] { check_drained(); });
}

template <class Io>
void HttpServer<Io>::accept(UniqueFd fd) {
  Conn* c;
  if (free_.empty()) {
    all_.push_back(std::make_unique<Conn>(ctx_, static_cast<ConnectionOwner<Conn>&>(*this)));
    c = all_.back().get();
  } else {
    c = free_.back();
    free_.pop_back();
  }
  ++ctx_.stats.accepted;
  ++ctx_.stats.active;
  c->open(std::move(fd));
  // One the ring accepted as the listener closed: its request is answered
  // with "close", like those the kernel had queued.
  if (ctx_.draining && !c->closed()) c->drain();
}

template <class Io>
void HttpServer<Io>::connection_closed(Conn* c) {
  free_.push_back(c);
  --ctx_.stats.active;
  if (ctx_.draining) check_drained();
}

template <class Io>
void HttpServer<Io>::sweep() {
  const TimePoint now = ctx_.sched->now();
  auto expire = [](TimeoutLink* l) { static_cast<Conn*>(l)->timed_out(); };
  ctx_.idle.expire(now, expire);
  ctx_.reading.expire(now, expire);
  ctx_.writing.expire(now, expire);
  ctx_.handler.expire(now, expire);
  ctx_.lingering.expire(now, expire);
}

template <class Io>
template <class Fn>
void HttpServer<Io>::for_each_connection(Fn&& fn) {
  // Snapshot first: fn may close connections, which relinks queues.
  std::vector<Conn*> open;
  for (auto& c : all_) {
    if (!c->closed()) open.push_back(c.get());
  }
  for (Conn* c : open) fn(c);
}

template <class Io>
void HttpServer<Io>::drain(std::function<void()> done) {
  drained_ = std::move(done);
  ctx_.draining = true;
  drain_timer_.start(ctx_.config.drain_timeout);  // before close(): on epoll it may end the drain
  if (listener_) listener_->close();              // serves what the kernel already queued
  for_each_connection([](Conn* c) { c->drain(); });
  check_drained();
}

template <class Io>
void HttpServer<Io>::check_drained() {
  if (ctx_.stats.active != 0 || !drained_ || (listener_ && !listener_->ended())) return;
  drain_timer_.cancel();
  auto fn = std::move(drained_);
  drained_ = nullptr;
  ctx_.sched->add_callback(std::move(fn));  // not from inside a connection's close
}

}  // namespace hellepoll::http
