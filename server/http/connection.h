// Connection<Io>: one HTTP/1.x connection as an explicit state machine.
//
//   kIdle ──bytes──▶ kHead ──head parsed──▶ kBody ──body complete──▶ handler
//     ▲                 │ error                                        │
//     │                 ▼                                              ▼
//     └──── response ◀─ reply 4xx/5xx, close ◀──── kWaiting (deferred handler)
//
// Io is the compile-time policy pair: Io::kTrigger (level or edge) and
// Io::Write (CopyWrite or GatherWrite). Each axis value changes only the
// lines that name it (`if constexpr (kEdge)`, `Io::Write::...`).
//
// Hot path for a keep-alive request: one read, parse in place, route, the
// response appended to the borrowed OutBuffer, and after the whole batch of
// pipelined requests one send/sendmsg. Buffers are returned to the pool when
// the connection goes idle, so an idle connection owns no buffer.
#pragma once

#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

#include "server/error.h"
#include "server/fd.h"
#include "server/http/context.h"
#include "server/http/request.h"
#include "server/http/response.h"
#include "server/http/write_path.h"
#include "server/scheduler.h"
#include "server/timeout_queue.h"

namespace hellepoll::http {

template <Trigger T, class W>
struct IoPolicy {
  static constexpr Trigger kTrigger = T;
  using Write = W;
};

template <class Io>
class Connection final : public Task, public TimeoutLink, private ResponseSink {
 public:
  static constexpr bool kEdge = Io::kTrigger == Trigger::kEdge;

  explicit Connection(ConnectionContext& ctx)
      : ctx_(ctx), res_(this, &Io::Write::add_body, &ctx.date) {}

  // Starts serving `fd`. Reads first (the listener defers accept until the
  // request has arrived), then registers with the scheduler.
  void open(UniqueFd fd);
  // The server is shutting down: close if idle, else finish the request in
  // flight with "Connection: close".
  void drain();
  // Called by the server's sweeper for a connection whose deadline passed.
  void timed_out();
  // Closes at once, telling a handler that still owes an answer.
  void abort(ErrorKind why) { fail(Error{why, 0}); }
  bool closed() const { return !fd_; }

  void on_readable() override;
  void on_writable() override;
  std::string_view task_name() const override { return "http-connection"; }
  bool reading_paused() const override { return paused_ || phase_ == Phase::kWaiting; }

  // Set by the server: returns this object to its pool.
  void (*on_closed)(void* server, Connection* c) = nullptr;
  void* server = nullptr;

 private:
  enum class Phase : uint8_t { kIdle, kHead, kBody, kWaiting, kLingering };

  void process();
  bool read_body();
  void dispatch(std::string_view body, uint32_t next_start);
  void after_response();
  void reply_error(int status);
  void flush();
  void finish_if_done();
  void arm_timeout();
  void pause_reading();
  void resume_reading();
  uint32_t wanted_interest() const;
  void update_interest();
  void compact();
  void release_buffers();
  void peer_eof();
  bool input_waiting() const;
  bool take_read();
  void grant_reads(uint8_t turn) {
    budget_turn_ = turn;
    reads_left_ = kReadsPerTurn;
  }
  void fail(const Error& e);
  void close();

  // ResponseSink
  void response_ended() override;
  void response_wrote() override;

  ConnectionContext& ctx_;
  UniqueFd fd_;
  // Fairness: at most kReadsPerTurn reads per scheduler turn, so that a
  // pipelining flood cannot keep the worker from its other connections.
  // (Beside fd_, in what would be padding: an idle connection's size counts.)
  static constexpr uint8_t kReadsPerTurn = 4;  // ~68 KB of input, ~2,500 minimal requests
  uint8_t budget_turn_ = 0;  // low byte of the turn reads_left_ belongs to
  uint8_t reads_left_ = 0;
  InBuffer* in_ = nullptr;
  OutBuffer* out_ = nullptr;
  Response res_;
  uint32_t req_start_ = 0;   // offset of the current request in in_
  uint32_t body_pos_ = 0;    // offset of its body
  uint32_t next_start_ = 0;  // where the request after it starts
  Phase phase_ = Phase::kIdle;
  bool paused_ = false;         // back-pressure or deferred response: not reading
  bool write_blocked_ = false;  // waiting for EPOLLOUT
  bool registered_ = false;
  uint32_t interest_ = 0;  // registered with epoll (level-triggered)
  bool close_after_flush_ = false;
  bool peer_eof_ = false;
  bool in_handler_ = false;
};

// ============================================================ implementation

template <class Io>
void Connection<Io>::open(UniqueFd fd) {
  fd_ = std::move(fd);
  phase_ = Phase::kIdle;
  paused_ = write_blocked_ = close_after_flush_ = peer_eof_ = in_handler_ = false;
  registered_ = false;
  req_start_ = body_pos_ = next_start_ = 0;
  // A fresh read budget: this object may have served another connection
  // earlier in this same turn (ab -c25 reuses one for every accept).
  grant_reads(static_cast<uint8_t>(ctx_.sched->turns()));
  ctx_.idle.push(this, ctx_.sched->now());
  on_readable();  // optimistic: the request is usually there already
  if (closed()) return;
  // Edge-triggered: both directions, once; the connection is never modified.
  interest_ = kEdge ? (kReadable | kWritable) : wanted_interest();
  if (!ctx_.sched->add(fd_.get(), this, interest_)) {
    fail(Error::from_errno(errno));
    return;
  }
  registered_ = true;
}

template <class Io>
void Connection<Io>::on_readable() {
  if (closed()) return;
  if (phase_ == Phase::kWaiting) {
    // A deferred handler still works on the answer; a peer that hangs up
    // now has abandoned it (as nginx treats a client abort): tell the handler.
    if (hung_up()) fail(Error{ErrorKind::kPeerClosed, 0});
    return;
  }
  for (;;) {
    if (paused_ || closed()) return;
    if (!take_read()) {
      // This turn's share is used: others go first. Level-triggered, epoll
      // reports the bytes left again; edge-triggered, nothing would.
      if constexpr (kEdge) ctx_.sched->read_again(fd_.get(), this);
      return;
    }
    if (!in_) in_ = ctx_.take_in();
    if (in_->len == in_->cap) compact();
    const size_t room = in_->cap - in_->len;
    ssize_t n = ::recv(fd_.get(), in_->data.get() + in_->len, room, 0);  // recv: no VFS layer
    if (n > 0) {
      in_->len += static_cast<uint32_t>(n);
      if (phase_ == Phase::kLingering) {
        in_->len = 0;  // discarded
      } else {
        process();
      }
      if (closed()) return;
      // Level-triggered: one read per event unless it filled the buffer;
      // the loop calls again while bytes remain.
      if constexpr (!kEdge) {
        if (static_cast<size_t>(n) < room) return;
      }
      continue;
    }
    if (n == 0) {
      peer_eof();
      return;
    }
    if (errno == EAGAIN) {
      mark_sated();
      if (in_ && in_->len == 0) {
        ctx_.give_in(in_);
        in_ = nullptr;
      }
      return;
    }
    if (errno == EINTR) continue;
    fail(Error::from_errno(errno));
    return;
  }
}

template <class Io>
void Connection<Io>::on_writable() {
  if (closed() || !write_blocked_) return;  // edge-triggered: spurious when idle
  flush();
}

template <class Io>
void Connection<Io>::compact() {
  if (req_start_ == 0) return;
  std::memmove(in_->data.get(), in_->data.get() + req_start_, in_->len - req_start_);
  in_->len -= req_start_;
  body_pos_ -= req_start_;
  next_start_ = next_start_ > req_start_ ? next_start_ - req_start_ : 0;
  req_start_ = 0;
}

template <class Io>
void Connection<Io>::process() {
  while (!close_after_flush_ && phase_ != Phase::kWaiting) {
    if (out_ && out_->full(ctx_.config.output_high_water)) {
      pause_reading();  // back-pressure: answer what is queued first
      break;
    }
    const uint32_t avail = in_ ? in_->len - req_start_ : 0;
    if (avail == 0) break;
    if (phase_ == Phase::kIdle || phase_ == Phase::kHead) {
      if (phase_ == Phase::kIdle) {
        phase_ = Phase::kHead;
        ctx_.reading.push(this, ctx_.sched->now());  // slowloris: the whole head has one deadline
      }
      auto r = in_->parser.parse(in_->data.get() + req_start_, avail, in_->head);
      if (r == RequestParser::Result::kIncomplete) {
        // Make room now rather than when the buffer is full: the head must
        // fit whole. (Cheap: only a partial request is moved.)
        if (req_start_ > 0 && in_->len == in_->cap) compact();
        break;
      }
      if (r == RequestParser::Result::kError) {
        reply_error(in_->parser.error_status());
        break;
      }
      body_pos_ = req_start_ + in_->parser.head_length();
      const RequestHead& h = in_->head;
      if (!h.chunked && h.content_length == 0) {
        dispatch({}, body_pos_);
        continue;
      }
      phase_ = Phase::kBody;
      in_->chunked.reset();
      in_->body.clear();
      if (h.expect_continue && h.version_minor >= 1 && in_->len == body_pos_) {
        if (!out_) out_ = ctx_.out_pool.take();
        Response::write_simple(*out_, ctx_.date, 100, false, {});
      }
    }
    if (phase_ == Phase::kBody && !read_body()) break;
  }
  flush();
}

// Returns true when the body was complete and the request dispatched.
template <class Io>
bool Connection<Io>::read_body() {
  const RequestHead& h = in_->head;
  char* const base = in_->data.get();
  if (h.chunked) {
    size_t used = 0;
    auto r = in_->chunked.feed(base + body_pos_, in_->len - body_pos_, &used, ctx_.config.limits.max_body,
                           [&](const char* p, size_t n) { in_->body.append(p, n); });
    // Decoded bytes now live in in_->body: drop them from the read buffer.
    std::memmove(base + body_pos_, base + body_pos_ + used, in_->len - body_pos_ - used);
    in_->len -= static_cast<uint32_t>(used);
    if (r == ChunkedDecoder::Result::kError) {
      reply_error(in_->chunked.error_status());
      return false;
    }
    if (r == ChunkedDecoder::Result::kIncomplete) return false;
    dispatch(in_->body.view(), body_pos_);
    return true;
  }
  const uint64_t cl = h.content_length;
  if ((body_pos_ - req_start_) + cl <= in_->cap) {
    // Fits beside its head: zero copy, wait until it is all there.
    if (in_->len - body_pos_ < cl) {
      if (body_pos_ + cl > in_->cap) compact();
      return false;
    }
    dispatch({base + body_pos_, static_cast<size_t>(cl)}, body_pos_ + static_cast<uint32_t>(cl));
    return true;
  }
  // Large body: collect it in in_->body as it streams through.
  const size_t take = std::min<uint64_t>(cl - in_->body.size(), in_->len - body_pos_);
  in_->body.append(base + body_pos_, take);
  std::memmove(base + body_pos_, base + body_pos_ + take, in_->len - body_pos_ - take);
  in_->len -= static_cast<uint32_t>(take);
  if (in_->body.size() < cl) return false;
  dispatch(in_->body.view(), body_pos_);
  return true;
}

template <class Io>
void Connection<Io>::dispatch(std::string_view body, uint32_t next_start) {
  const RequestHead& h = in_->head;
  Request req(in_->data.get() + req_start_, h, body);
  if (!out_) out_ = ctx_.out_pool.take();
  next_start_ = next_start;
  ++ctx_.stats.requests;
  // Draining: the last request already buffered is answered with
  // "Connection: close"; those before it, read before the drain, are answered too.
  const bool last_buffered = next_start >= in_->len;
  res_.begin(out_, h.version_minor, h.keep_alive && !(ctx_.draining && last_buffered),
             h.method == Method::kHead);
  Router::Match m = ctx_.router->route(h.method, req.path());
  in_handler_ = true;
  if (m.handler) {
    try {
      (*m.handler)(req, res_);
    } catch (...) {
      // A throwing handler costs its own request a 500, nothing more.
      if (!res_.ended() && !res_.streaming()) {
        res_.set_status(500);
        res_.end();
      }
    }
  } else if (m.status == 405) {
    res_.add_header("Allow", m.allow.allow_header());
    res_.send_static(405, "Method Not Allowed\n");
  } else {
    res_.send_static(404, "Not Found\n");
  }
  in_handler_ = false;
  if (res_.ended()) {
    after_response();
  } else if (res_.deferred()) {
    phase_ = Phase::kWaiting;
    ctx_.parked.push(this, ctx_.sched->now());
    pause_reading();
  } else if (!res_.streaming()) {
    // Returned without answering or deferring: a handler bug, not the
    // client's; answer rather than hang the connection.
    res_.send_static(500, "handler returned without a response\n");
    after_response();
  } else {
    res_.end();  // streamed synchronously and forgot end()
    after_response();
  }
}

template <class Io>
void Connection<Io>::after_response() {
  if (!res_.keep_alive()) close_after_flush_ = true;
  res_.retire();
  phase_ = Phase::kIdle;
  in_->parser.reset();
  req_start_ = next_start_;
  if (req_start_ == in_->len) req_start_ = in_->len = body_pos_ = next_start_ = 0;
}

template <class Io>
void Connection<Io>::response_ended() {
  if (in_handler_) return;  // dispatch() carries on
  after_response();
  resume_reading();  // pipelined requests behind it, then flush
}

template <class Io>
void Connection<Io>::response_wrote() {
  if (in_handler_) return;
  flush();
}

template <class Io>
void Connection<Io>::reply_error(int status) {
  ++ctx_.stats.error_replies;
  if (!out_) out_ = ctx_.out_pool.take();
  Response::write_simple(*out_, ctx_.date, status, /*close=*/true, reason_phrase(status));
  close_after_flush_ = true;
  phase_ = Phase::kIdle;
}

template <class Io>
void Connection<Io>::flush() {
  if (out_ && out_->pending()) {
    // Closing right after this write (the finish_if_done() close below)?
    const bool last = close_after_flush_ && !peer_eof_ && !(in_ && in_->len > req_start_) &&
                      phase_ != Phase::kWaiting && !res_.streaming() && !paused_;
    switch (Io::Write::flush(fd_.get(), *out_, last)) {
      case FlushResult::kDone:
        break;
      case FlushResult::kBlocked:
        if (!write_blocked_) {
          write_blocked_ = true;
          update_interest();
        }
        ctx_.writing.push(this, ctx_.sched->now());  // progress re-arms the write timeout
        return;
      case FlushResult::kError:
        fail(Error::from_errno(errno));
        return;
    }
    out_->reset();
    if (write_blocked_) {
      write_blocked_ = false;
      update_interest();
    }
  }
  finish_if_done();
}

// Output drained: close, resume reading, or go idle.
template <class Io>
void Connection<Io>::finish_if_done() {
  if (phase_ == Phase::kWaiting || res_.streaming()) return;
  if (paused_) {
    resume_reading();  // queued pipelined requests first
    return;
  }
  if (close_after_flush_ || (peer_eof_ && phase_ == Phase::kIdle)) {
    // Unread input (pipelined past a "close", or a bad request) would make
    // close() send RST and could destroy the reply in flight: linger.
    // Draining, always: a client pipelining into the shutdown may have
    // requests still on the way that no look at the socket can see yet, and
    // each would reset a closed socket (CI lost 49,785 answers so).
    if (!peer_eof_ && ((in_ && in_->len > req_start_) || ctx_.draining)) {
      ::shutdown(fd_.get(), SHUT_WR);
      phase_ = Phase::kLingering;
      if (in_) in_->len = 0;
      req_start_ = 0;
      close_after_flush_ = false;
      ctx_.lingering.push(this, ctx_.sched->now());
      return;
    }
    close();
    return;
  }
  // Draining and all answered: close, unless a request waits in the socket
  // (its answer will say "close").
  if (ctx_.draining && phase_ == Phase::kIdle && !(in_ && in_->len > req_start_) && !input_waiting()) {
    close();
    return;
  }
  arm_timeout();
  release_buffers();
}

template <class Io>
void Connection<Io>::arm_timeout() {
  if (phase_ == Phase::kIdle && !(in_ && in_->len > req_start_)) {
    ctx_.idle.push(this, ctx_.sched->now());
  }
}

template <class Io>
void Connection<Io>::release_buffers() {
  if (out_ && !out_->pending()) {
    ctx_.give_out(out_);
    out_ = nullptr;
  }
  if (in_ && in_->len == 0 && phase_ == Phase::kIdle) {
    ctx_.give_in(in_);
    in_ = nullptr;
  }
}

// What a level-triggered connection listens for, from its state.
template <class Io>
uint32_t Connection<Io>::wanted_interest() const {
  uint32_t e = 0;
  if (!peer_eof_) {
    if (!paused_) {
      e |= kReadable;
    } else if (phase_ == Phase::kWaiting) {
      e |= EPOLLRDHUP;  // only to hear a client abort, not its pipelined bytes
    }
  }
  if (write_blocked_) e |= kWritable;
  return e;
}

template <class Io>
void Connection<Io>::update_interest() {
  if constexpr (!kEdge) {
    const uint32_t e = wanted_interest();
    if (e == interest_ || !registered_) return;  // epoll_ctl only on transitions
    interest_ = e;
    ctx_.sched->modify(fd_.get(), e);
  }
}

template <class Io>
void Connection<Io>::pause_reading() {
  paused_ = true;
  update_interest();
}

template <class Io>
void Connection<Io>::resume_reading() {
  paused_ = false;
  update_interest();
  process();  // requests already buffered; ends with a flush
  if (closed() || paused_ || peer_eof_ || phase_ == Phase::kWaiting || phase_ == Phase::kLingering) return;
  on_readable();  // edge-triggered: bytes that arrived while paused raise no new edge
}

template <class Io>
void Connection<Io>::peer_eof() {
  peer_eof_ = true;
  mark_sated();
  update_interest();  // level-triggered EOF would fire forever
  if (phase_ == Phase::kLingering) {
    close();
    return;
  }
  if (phase_ == Phase::kWaiting || write_blocked_) return;  // finish answering, then close
  if (phase_ == Phase::kHead || phase_ == Phase::kBody) {
    close();  // the request can never complete
    return;
  }
  finish_if_done();
}

// One read from this turn's budget; false when it is used up.
template <class Io>
bool Connection<Io>::take_read() {
  // A stale byte matches once every 256 turns: then a connection idle since
  // exactly that turn yields once too often, which costs one turn.
  const auto turn = static_cast<uint8_t>(ctx_.sched->turns());
  if (turn != budget_turn_) grant_reads(turn);
  if (reads_left_ == 0) return false;
  --reads_left_;
  return true;
}

// Bytes the peer sent that are still in the socket, not yet read.
template <class Io>
bool Connection<Io>::input_waiting() const {
  int n = 0;
  return ::ioctl(fd_.get(), FIONREAD, &n) == 0 && n > 0;
}

template <class Io>
void Connection<Io>::timed_out() {
  if (closed()) return;
  ++ctx_.stats.timeouts;
  if (phase_ == Phase::kHead || phase_ == Phase::kBody) {
    // A slow request: say so (408) and close; the write must not block.
    reply_error(408);
    flush();
    if (!closed()) close();
    return;
  }
  if (phase_ == Phase::kIdle && !write_blocked_) {
    close();  // idle keep-alive: the normal end of a connection
    return;
  }
  fail(Error{ErrorKind::kTimeout, 0});
}

template <class Io>
void Connection<Io>::drain() {
  if (closed()) return;
  const bool idle = phase_ == Phase::kIdle && !(in_ && in_->len > req_start_) &&
                    !(out_ && out_->pending());
  // Closing with a request waiting unread in the socket would send RST,
  // which destroys answers still in the send queue: read it, and its answer
  // says "close".
  if ((idle && !input_waiting()) || phase_ == Phase::kLingering) {
    close();
    return;
  }
  // The last request already read is answered with "Connection: close"
  // (ctx_.draining; a deferred one through close_after()), and the
  // connection ends after it. Answers already queued said keep-alive: then
  // the connection reads on, and closes once it is idle (finish_if_done).
  const uint32_t next = phase_ == Phase::kWaiting ? next_start_ : req_start_;
  const bool buffered = in_ && in_->len > next;
  if (phase_ == Phase::kWaiting && !buffered) res_.close_after();
}

template <class Io>
void Connection<Io>::fail(const Error& e) {
  if (closed()) return;
  if (e.kind == ErrorKind::kReset || e.kind == ErrorKind::kBrokenPipe || e.kind == ErrorKind::kSystem) {
    ++ctx_.stats.resets;
  }
  res_.fail(e);  // a handler still owing an answer hears why
  close();
}

template <class Io>
void Connection<Io>::close() {
  if (closed()) return;
  if (phase_ == Phase::kWaiting || res_.streaming()) res_.fail(Error{ErrorKind::kPeerClosed, 0});
  unlink();
  if (registered_) ctx_.sched->forget(fd_.get());  // close() removes it from epoll
  fd_.reset();
  registered_ = false;
  if (in_) {
    in_->len = 0;
    ctx_.give_in(in_);
    in_ = nullptr;
  }
  if (out_) {
    out_->reset();
    ctx_.give_out(out_);
    out_ = nullptr;
  }
  res_.retire();
  phase_ = Phase::kIdle;
  if (on_closed) on_closed(server, this);
}

}  // namespace hellepoll::http
