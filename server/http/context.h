// What every connection of one HttpServer shares: configuration, pools,
// timeout queues, counters. One per server, so one per thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "server/http/buffer.h"
#include "server/http/date.h"
#include "server/http/out_buffer.h"
#include "server/http/parser.h"
#include "server/http/router.h"
#include "server/scheduler.h"
#include "server/timeout_queue.h"
#include "server/worker_locals.h"

namespace hellepoll::http {

using namespace std::chrono_literals;

struct ServerConfig {
  Limits limits;
  Duration idle_timeout = 60s;     // keep-alive connection with no request
  Duration read_timeout = 20s;     // from a request's first byte to its last
  Duration write_timeout = 20s;    // output blocked without progress
  Duration handler_timeout = 60s;  // a deferred or streaming handler without progress: 504, or the stream cut
  Duration linger_timeout = 2s;    // after our FIN, reading and discarding the peer's input
  Duration drain_timeout = 10s;    // graceful shutdown: then in-flight connections are cut
  size_t output_high_water = 256 * 1024;  // stop taking pipelined requests above this
  unsigned pool_threads = 4;              // the worker's BlockingPool (file opens, cold reads)
};

// io_uring: received bytes not yet processed, in order. Taken from the
// front without moving the rest: a flood's stash holds many turns' shares,
// and a turn takes one. What is left is moved to the front only once it is
// smaller than what was taken, so each byte is moved at most about once.
class Stash {
 public:
  size_t size() const { return bytes_.size() - head_; }
  bool empty() const { return head_ == bytes_.size(); }
  std::string_view view() const { return bytes_.view().substr(head_); }
  void append(std::string_view s) {
    if (head_ > 0 && head_ >= size()) {
      bytes_.consume(head_);
      head_ = 0;
    }
    bytes_.append(s);
  }
  void consume(size_t n) {
    head_ += n;
    if (head_ >= bytes_.size()) clear();
  }
  void clear() {
    bytes_.clear();
    head_ = 0;
  }
  void trim(size_t keep) { bytes_.trim(keep); }  // when empty

 private:
  ByteBuffer bytes_;
  size_t head_ = 0;
};

// The read buffer a connection borrows while a request is in flight, with
// the parsing state of that request. An idle keep-alive connection holds
// none of it: a connection lends its buffer back when it has read every byte
// it was sent, which is always at a request boundary (a partial head or body
// keeps its head bytes in the buffer), so the parser and decoder here are
// never carried between connections mid-request.
struct InBuffer {
  explicit InBuffer(const Limits& limits)
      : data(new char[limits.max_head_bytes + 1024]),
        cap(limits.max_head_bytes + 1024),
        slots(new HeaderSlot[limits.max_headers]),
        parser(limits) {
    head.headers = slots.get();
  }
  std::unique_ptr<char[]> data;
  uint32_t cap;
  uint32_t len = 0;
  std::unique_ptr<HeaderSlot[]> slots;
  RequestHead head;
  RequestParser parser;
  ChunkedDecoder chunked;
  ByteBuffer body;  // bodies that do not fit in place, and chunked ones
  // io_uring: bytes received while the connection was not reading, or past
  // its turn's share; processed before anything received later.
  Stash stash;
};

struct ServerStats {
  uint64_t accepted = 0;
  uint64_t active = 0;
  uint64_t requests = 0;
  uint64_t error_replies = 0;  // 4xx/5xx the framework sent (bad requests)
  uint64_t timeouts = 0;
  uint64_t resets = 0;     // connections that failed with an I/O error
  uint64_t drain_cut = 0;  // connections the drain deadline closed with work left
};

struct ConnectionContext {
  ConnectionContext(Scheduler& s, const Router& r, const ServerConfig& c)
      : locals(s, c.pool_threads),
        sched(&s),
        router(&r),
        config(c),
        in_pool(64),
        out_pool(64),
        idle(c.idle_timeout),
        reading(c.read_timeout),
        writing(c.write_timeout),
        handler(c.handler_timeout),
        lingering(c.linger_timeout) {}

  // A buffer with its parser ready for a new request (one given back after
  // an error may hold a failed parser).
  [[gnu::always_inline]] InBuffer* take_in() {
    InBuffer* in = in_pool.take(config.limits);
    in->parser.reset();
    return in;
  }

  // Buffers go back to their pools trimmed: one large body or one client
  // that never read its answers must not pin its peak size in every pooled
  // buffer for good (the soak's RSS drift). Only buffers that grew past
  // kKeepBytes pay a free() here.
  static constexpr size_t kKeepBytes = 64 * 1024;
  void give_in(InBuffer* in) {
    in->len = 0;
    in->body.clear();
    in->body.trim(kKeepBytes);
    in->stash.clear();
    in->stash.trim(kKeepBytes);
    in_pool.give(in);
  }
  void give_out(OutBuffer* out) {
    out->reset();
    out->bytes.trim(kKeepBytes);
    out->bodies.trim(kKeepBytes);
    out->extra.trim(kKeepBytes);
    if (out->bounce) give_bounce(std::move(out->bounce));
    out_pool.give(out);
  }
  // io_uring: a file's bytes pass through a bounce buffer while its send is
  // in flight; spares are kept for the next file sends, up to kKeepBounces
  // (one per connection sending a file at once, for the usual loads).
  static constexpr size_t kKeepBounces = 32;
  std::unique_ptr<char[]> take_bounce() {
    if (bounces.empty()) return std::make_unique_for_overwrite<char[]>(OutBuffer::kBounceBytes);
    std::unique_ptr<char[]> b = std::move(bounces.back());
    bounces.pop_back();
    return b;
  }
  void give_bounce(std::unique_ptr<char[]> b) {
    if (bounces.size() < kKeepBounces) bounces.push_back(std::move(b));
  }

  // First: destroyed last, after every connection and buffer.
  WorkerLocals locals;
  Scheduler* sched;
  const Router* router;
  ServerConfig config;
  Pool<InBuffer> in_pool;
  Pool<OutBuffer> out_pool;
  std::vector<std::unique_ptr<char[]>> bounces;  // spare bounce buffers
  DateCache date;
  // Every open connection waits in exactly one of these: each state it can
  // wait in has its own deadline.
  TimeoutQueue idle, reading, writing, handler, lingering;
  ServerStats stats;
  bool draining = false;
};

}  // namespace hellepoll::http
