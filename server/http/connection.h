// Connection<Io>: one HTTP/1.x connection as an explicit state machine.
//
//            bytes            head parsed            body complete
//   kIdle ─────────▶ kHead ─────────────▶ kBody ───────────────▶ dispatch()
//     ▲               │ bad request: 4xx/5xx                         │
//     │               ▼                                              │
//     │            kClosing ◀──────── answered, "Connection: close" ─┤
//     │               │ answers sent                                 │
//     │               ▼                                              │ deferred or
//     │        end_connection(): close now, or                       │ streaming
//     │        kLingering ── peer FIN / deadline ──▶ closed          ▼
//     └──────────── answered, keep-alive ◀──── response ended ── kHandler
//
// Orthogonal to the state: write_blocked_ (output waits for EPOLLOUT),
// reading_ahead_ (output waits for a file's bytes, read ahead on the pool;
// output_waits() is either), paused_ (back-pressure: output above its high-water mark), peer_eof_ (the
// client's FIN was read). Each state that waits has its own deadline (a
// TimeoutQueue in the context): kIdle idle_timeout, kHead/kBody
// read_timeout (one for the whole request), kHandler handler_timeout (reset
// by each streamed write), waiting output write_timeout (reset by
// progress), kLingering linger_timeout.
//
// How a connection ends. end_connection() is the one place that decides:
// it closes at once only when nothing more can arrive (the peer's FIN was
// read, or the client asked to close and sent nothing more); otherwise it
// lingers: shutdown(SHUT_WR), then read and discard until the peer's FIN
// or linger_timeout. A close() with unread input makes the kernel send a
// reset, which destroys answers still queued for the client.
//
// A client that goes away. A half-close (the client's FIN after a complete
// request) is not a hang-up: every request read before it is answered, also
// by a deferred or streaming handler, then the connection closes. Only a
// hang-up in both directions or a reset (EPOLLHUP, EPOLLERR), or a failed
// write, aborts the response owed and tells its handler through on_error.
// A deferred handler therefore learns of a client that closed both ways
// only when its answer is written; code that must stop early bounds its
// work with handler_timeout.
//
// Io is the compile-time policy pair: Io::kTrigger (level, edge or uring)
// and Io::Write (CopyWrite or GatherWrite). Each axis value changes only the
// lines that name it (`if constexpr (kEdge)`, `kUring`, `Io::Write::...`).
// The socket work is in a few members: read_some() (bytes arrived, EOF,
// error), Io::Write::flush() (send these bytes: sent, blocked, error), and
// end_connection()/close(). The completion backend (kUring) replaces them:
// the scheduler hands in received bytes (on_received(), copied into the
// read buffer, then the same process()), flush() hands the queued bytes over
// to one send in flight at a time (on_sent() completes it), and close()
// releases the registration, which closes the fd in the ring; the object is
// reused only after on_released(), when no completion can name it.
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
#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <string_view>
#include <utility>

#include "server/backend/backends.h"
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
  using Sched = SchedulerFor<T>;
};

// What a Connection tells the server that owns it.
template <class Conn>
class ConnectionOwner {
 public:
  // `c` has closed and may be reused at once.
  virtual void connection_closed(Conn* c) = 0;

 protected:
  ~ConnectionOwner() = default;
};

template <class Io>
class Connection final : public Task, public TimeoutLink, private ResponseSink {
 public:
  static constexpr bool kEdge = Io::kTrigger == Trigger::kEdge;
  static constexpr bool kUring = Io::kTrigger == Trigger::kCompletion;
  using Sched = typename Io::Sched;

  Connection(ConnectionContext& ctx, ConnectionOwner<Connection>& owner)
      : ctx_(ctx), owner_(owner), res_(this, &Io::Write::add_body, &ctx.date) {}
  ~Connection() override {
    if constexpr (kUring) {
      // Destroyed with its release in flight (the server goes first): no
      // completion may reach it. A send may still read its buffer (the
      // pool goes with the server): the scheduler frees it after the send.
      if (u_.reg != UringScheduler::kNoReg) {
        std::function<void()> free_sending;
        if (u_.sending) {
          free_sending = [out = std::shared_ptr<OutBuffer>(ctx_.out_pool.disown(u_.sending))] {};
        }
        sched()->detach(u_.reg, std::move(free_sending));
      } else if (u_.sending) {
        ctx_.give_out(u_.sending);
      }
    }
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Starts serving `fd`. Reads first (the listener defers accept until the
  // request has arrived), then registers with the scheduler.
  void open(UniqueFd fd);
  // The server is shutting down: end if idle, else finish the request in
  // flight with "Connection: close".
  void drain();
  // Called by the server's sweeper for a connection whose deadline passed.
  void timed_out();
  // Closes at once, telling a handler that still owes an answer.
  void abort(ErrorKind why) { fail(Error{why, 0}); }
  bool closed() const { return !fd_; }

  void on_readable() override;
  void on_writable() override;
  size_t on_received(std::string_view bytes) override;
  void on_receive_end(int err) override;
  void on_sent(int result) override;
  void on_file_read(int result) override;
  void on_released() override;
  std::string_view task_name() const override { return "http-connection"; }
  bool reading_paused() const override { return !wants_read(); }
  // An exception escaped this connection's own code (a handler's is caught
  // in dispatch()): the answer owed gets a 500 while its head is not out;
  // the connection ends either way, its state cannot be trusted.
  void on_exception() override;

 private:
  enum class State : uint8_t {
    kIdle,       // between requests; the input may hold the next one
    kHead,       // reading a request head
    kBody,       // reading its body
    kLingering,  // our FIN is sent; input is discarded until the peer's FIN
    // Not reading (wants_read() relies on this order):
    kHandler,  // a deferred or streaming handler owns the answer
    kClosing,  // the last answer is queued; the connection ends once it is sent
  };
  enum class ReadResult : uint8_t { kBytes, kEof, kAgain, kError };

  // ---- events
  void process();
  bool read_body();
  void dispatch(std::string_view body, uint32_t next_start);
  void handler_threw();
  void after_response();
  void peer_eof();
  void output_sent(bool was_blocked);
  void handler_timed_out();
  void cut_stream(const Error& why);
  // ResponseSink
  void response_ended() override;
  void response_wrote() override;

  // ---- transitions
  void reply_error(int status);
  void end_connection();
  void linger();
  void fail(const Error& e);
  void close();

  // ---- socket
  ReadResult read_some(ssize_t* n, size_t* room);
  void take_input(std::string_view bytes);
  size_t consume_input(std::string_view bytes);
  void drain_stash();
  void stashed();
  void flush();
  void read_ahead_file();
  // Output is owed and waits: for room in the socket, or for a file's bytes
  // read ahead on the pool. Until then the connection is not done writing.
  bool output_waits() const { return write_blocked_ || reading_ahead_ || yielding_; }
  void yield_flush();
  void resume_flush();
  void submit_send();
  void resume_send();
  void sending_done();
  void end_when_idle();
  bool input_waiting() const;
  Error socket_error() const;

  // ---- bookkeeping
  bool wants_read() const { return !peer_eof_ && !paused_ && state_ <= State::kLingering; }
  // On io_uring: whether received bytes are processed now rather than
  // stashed. Bytes that came before the peer's FIN are still requests.
  bool takes_input() const { return !paused_ && state_ <= State::kLingering; }
  // Read and not yet served (on io_uring, also what waits in the stash).
  bool input_buffered() const { return in_ && (in_->len > req_start_ || !in_->stash.empty()); }
  // On io_uring: received bytes wait in the stash.
  bool stash_waiting() const { return in_ && !in_->stash.empty(); }
  void pause_reading();
  void resume_reading();
  uint32_t wanted_interest() const;
  void update_interest();
  void compact();
  void release_buffers();
  bool take_read();
  size_t take_share(size_t want);
  void socket_emptied() { emptied_turn_ = static_cast<uint32_t>(ctx_.sched->turns()); }
  // Read to empty in this turn (never known on io_uring: the ring reads).
  bool emptied_this_turn() const {
    return !kUring && emptied_turn_ == static_cast<uint32_t>(ctx_.sched->turns());
  }
  // A stale byte matches once every 256 turns: then a connection idle since
  // exactly that turn yields once too often, which costs one turn.
  void refresh_share() {
    const auto turn = static_cast<uint8_t>(ctx_.sched->turns());
    if (turn != budget_turn_) grant_share(turn);
  }
  void grant_share(uint8_t turn) {
    budget_turn_ = turn;
    share_left_ = kShare;
  }
  Sched* sched() const { return static_cast<Sched*>(ctx_.sched); }
  bool sending() const {
    if constexpr (kUring) return u_.sending != nullptr;
    return false;
  }

  // What only the completion backend keeps (nothing on epoll).
  struct UringState {
    UringScheduler::Reg reg = UringScheduler::kNoReg;
    OutBuffer* sending = nullptr;  // handed over to the send in flight
    bool drain_wait = false;       // draining: receiving stopped, waiting for what was on its way
  };
  struct NoState {};

  ConnectionContext& ctx_;
  ConnectionOwner<Connection>& owner_;
  UniqueFd fd_;
  // Fairness: a connection takes a share of each scheduler turn, so that a
  // pipelining flood cannot keep the worker from its other connections. On
  // epoll it is 4 reads (of up to 17 KB: ~68 KB, ~2,100 minimal requests).
  // On io_uring, where a completion holds anything from a few bytes to a
  // provided buffer's 4 KiB, it is counted in bytes: 64 KiB, what the 16
  // bits count. (Beside fd_, in what would be padding: an idle connection's
  // size counts.)
  static constexpr uint16_t kShare = kUring ? UINT16_MAX : 4;
  uint8_t budget_turn_ = 0;  // low byte of the turn share_left_ belongs to
  State state_ = State::kIdle;
  uint16_t share_left_ = 0;
  InBuffer* in_ = nullptr;
  OutBuffer* out_ = nullptr;
  Response res_;
  uint32_t req_start_ = 0;       // offset of the current request in in_
  uint32_t body_pos_ = 0;        // offset of its body
  uint32_t next_start_ = 0;      // where the request after it starts
  uint32_t interest_ = 0;        // registered with epoll (level-triggered)
  bool paused_ = false;          // back-pressure: not reading
  bool write_blocked_ = false;   // waiting for EPOLLOUT
  bool reading_ahead_ = false;   // read_ahead_file() is under way
  bool output_resumed_ = false;  // resume_flush(): output waited, as a blocked write does
  bool yielding_ = false;        // yield_flush(): the flush goes on next turn
  uint32_t serial_ = 0;          // which connection this object serves (a pool's late answer checks it)
  bool peer_eof_ = false;        // the client's FIN was read
  bool client_closes_ = false;   // the last request asked to close: the client sends no more
  bool reset_at_end_ = false;    // a close-delimited stream was cut: end with RST, not FIN
  bool registered_ = false;
  // Low 32 bits of the turn in which a read found the socket empty. A
  // connection that ends in that same turn has nothing unread to turn its
  // close() into a reset, so it need not ask the socket (FIONREAD).
  uint32_t emptied_turn_ = 0;
  bool in_handler_ = false;
  [[no_unique_address]] std::conditional_t<kUring, UringState, NoState> u_;
};

// ============================================================ implementation

template <class Io>
void Connection<Io>::open(UniqueFd fd) {
  fd_ = std::move(fd);
  state_ = State::kIdle;
  output_resumed_ = yielding_ = false;
  paused_ = write_blocked_ = peer_eof_ = client_closes_ = reset_at_end_ = in_handler_ = reading_ahead_ =
      false;
  ++serial_;
  registered_ = false;
  req_start_ = body_pos_ = next_start_ = 0;
  // A fresh share: this object may have served another connection
  // earlier in this same turn (ab -c25 reuses one for every accept).
  grant_share(static_cast<uint8_t>(ctx_.sched->turns()));
  ctx_.idle.push(this, ctx_.sched->now());
  if constexpr (kUring) {
    // The receive is issued with this turn's submit and finds the request
    // already there (TCP_DEFER_ACCEPT): no read here.
    u_.reg = sched()->attach(fd_.get(), this);
    u_.drain_wait = false;
    registered_ = true;
    sched()->receive(u_.reg);
    return;
  }
  on_readable();  // optimistic: the request is usually there already
  if (closed()) return;
  // Edge-triggered: both directions, once; the connection is never modified.
  interest_ = kEdge ? (kReadable | kWritable) : wanted_interest();
  if (!sched()->add(fd_.get(), this, interest_)) {
    fail(Error::from_errno(errno));
    return;
  }
  registered_ = true;
}

template <class Io>
void Connection<Io>::on_readable() {
  if constexpr (kUring) {
    // Bytes come through on_received(); this is the next turn of one that
    // used its share (again()).
    if (!closed()) drain_stash();
    return;
  }
  if (closed()) return;
  if (!wants_read()) {
    // Not reading now (a handler owns the answer, back-pressure, or the
    // connection ends after what is queued). Pipelined bytes and a
    // half-close wait; only a reset or a hang-up both ways is news.
    if (broken()) fail(socket_error());
    return;
  }
  for (;;) {
    if (!take_read()) {
      // This turn's share is used: others go first. Level-triggered, epoll
      // reports the bytes left again; edge-triggered, nothing would.
      if constexpr (kEdge) sched()->read_again(fd_.get(), this);
      return;
    }
    ssize_t n = 0;
    size_t room = 0;
    switch (read_some(&n, &room)) {
      case ReadResult::kBytes:
        break;
      case ReadResult::kEof:
        peer_eof();
        return;
      case ReadResult::kAgain:
        return;
      case ReadResult::kError:
        fail(Error::from_errno(errno));
        return;
    }
    if (state_ == State::kLingering) {
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
    if (!wants_read()) return;
  }
}

// One recv() into the read buffer.
template <class Io>
[[gnu::always_inline]] inline typename Connection<Io>::ReadResult Connection<Io>::read_some(ssize_t* n,
                                                                                            size_t* room) {
  if (!in_) in_ = ctx_.take_in();
  if (in_->len == in_->cap) compact();
  *room = in_->cap - in_->len;
  if (*room == 0) {
    // Never recv() into no room: its 0 would read as the client's EOF.
    pause_reading();
    return ReadResult::kAgain;
  }
  for (;;) {
    *n = ::recv(fd_.get(), in_->data.get() + in_->len, *room, 0);  // recv: no VFS layer
    if (*n > 0) {
      in_->len += static_cast<uint32_t>(*n);
      if (static_cast<size_t>(*n) < *room) socket_emptied();  // it had no more
      return ReadResult::kBytes;
    }
    if (*n == 0) return ReadResult::kEof;
    if (errno == EINTR) continue;
    if (errno != EAGAIN) return ReadResult::kError;
    mark_sated();
    socket_emptied();
    if (in_->len == 0) {
      ctx_.give_in(in_);
      in_ = nullptr;
    }
    return ReadResult::kAgain;
  }
}

template <class Io>
void Connection<Io>::on_writable() {
  if constexpr (kUring) {
    if (!closed() && u_.sending) resume_send();  // the POLLOUT a sendfile() waited for
    return;
  }
  if (closed() || !write_blocked_) return;  // edge-triggered: spurious when idle
  flush();
}

// ---- the completion backend's events

template <class Io>
size_t Connection<Io>::on_received(std::string_view bytes) {
  if constexpr (kUring) take_input(bytes);
  return bytes.size();  // every byte is taken: used, stashed, or discarded while lingering
}

// Bytes the ring received: into the read buffer, through the same process()
// as a recv() on epoll. What is not processed now waits in the stash, in
// order: while not reading (a handler owns the answer, back-pressure, the
// answer that ends the connection is queued), and once this turn's share is
// used (the rest is processed at the start of the next turn, as epoll's
// read_again()). The stash is bounded: at the read buffer's size the ring
// stops receiving for this connection.
template <class Io>
void Connection<Io>::take_input(std::string_view bytes) {
  if (closed()) return;
  if (state_ == State::kLingering) return;  // discarded
  if (stash_waiting()) {
    // Behind what waits already: taken when reading resumes, or at the
    // start of the next turn (again()), not byte by byte now.
    in_->stash.append(bytes);
    stashed();
    return;
  }
  const size_t used = consume_input(bytes);
  if (closed() || used == bytes.size()) return;
  if (!in_) in_ = ctx_.take_in();
  in_->stash.append(bytes.substr(used));
  stashed();
}

// Into the read buffer and process()ed, while the connection takes input and
// this turn's share lasts. Returns how many bytes were taken.
template <class Io>
size_t Connection<Io>::consume_input(std::string_view bytes) {
  size_t used = 0;
  while (used < bytes.size() && takes_input()) {
    if (state_ == State::kLingering) return bytes.size();  // discarded
    if (!in_) in_ = ctx_.take_in();
    if (in_->len == in_->cap) compact();
    const size_t room = in_->cap - in_->len;
    if (room == 0) {
      pause_reading();  // a head that fills the buffer: the parser answers it
      continue;
    }
    const size_t n = take_share(std::min(room, bytes.size() - used));
    if (n == 0) break;  // this turn's share is used
    std::memcpy(in_->data.get() + in_->len, bytes.data() + used, n);
    in_->len += static_cast<uint32_t>(n);
    used += n;
    process();
    if (closed()) break;
  }
  return used;
}

// What waits in the stash, before anything received later.
template <class Io>
void Connection<Io>::drain_stash() {
  if (!stash_waiting() || !takes_input()) return;
  InBuffer* in = in_;  // process() never gives it back while the stash holds bytes
  const size_t used = consume_input(in->stash.view());
  if (closed() || in_ != in) return;  // lingering discarded the stash
  in->stash.consume(used);
  stashed();
  // A FIN that came behind the rest was left for now, the rest taken: a
  // request it cut short can never complete (the answers owed, if any, end
  // the connection when their send completes).
  if (peer_eof_ && !stash_waiting() && !output_waits() && !sending() &&
      (state_ == State::kHead || state_ == State::kBody || state_ == State::kIdle)) {
    output_sent(false);
  }
}

// The stash changed: what is left in it waits for the next turn, if input
// is being taken (the share is used), else for reading to resume; the
// receive stops at the bound and resumes below it.
template <class Io>
void Connection<Io>::stashed() {
  if constexpr (kUring) {
    if (stash_waiting() && takes_input()) sched()->again(u_.reg);
    update_interest();
  }
}

template <class Io>
void Connection<Io>::on_receive_end(int err) {
  if constexpr (kUring) {
    if (closed()) return;
    if (err == 0) {
      peer_eof();
      return;
    }
    if (err == ECANCELED) {
      // stop_receiving() took effect: every byte sent before it has arrived.
      if (u_.drain_wait) {
        u_.drain_wait = false;
        end_when_idle();
        if (!closed()) update_interest();  // not ended: reading goes on
      }
      return;
    }
    fail(Error::from_errno(err));
  }
}

template <class Io>
void Connection<Io>::on_sent(int result) {
  if constexpr (kUring) {
    if (closed()) return;
    OutBuffer* s = u_.sending;
    if (result < 0) {
      fail(Error::from_errno(-result));
      return;
    }
    sent_on_ring(*s, static_cast<size_t>(result));
    if (s->pending()) {
      // The socket took part of it: the rest when it has room, and the
      // write timeout runs meanwhile.
      if (!write_blocked_ || result > 0) ctx_.writing.push(this, ctx_.sched->now());
      write_blocked_ = true;
      submit_send();
      return;
    }
    sending_done();
  }
}

// submit_send() from outside the connection's own events (a callback, a
// POLLOUT), guarded as the other such calls are.
template <class Io>
void Connection<Io>::resume_send() {
  if constexpr (kUring) {
    try {
      submit_send();
    } catch (...) {
      std::fprintf(stderr, "hellepoll: http-connection (fd %d) threw sending a file: %s\n", fd_.get(),
                   current_what());
      on_exception();
    }
  }
}

// The send in flight is complete.
template <class Io>
void Connection<Io>::sending_done() {
  if constexpr (kUring) {
    OutBuffer* s = u_.sending;
    u_.sending = nullptr;
    ctx_.give_out(s);
    flush();  // what was queued meanwhile, or what the state waits for next
  }
}

// A file's chunk, read through the ring for the send in flight, is in.
template <class Io>
void Connection<Io>::on_file_read(int result) {
  if constexpr (kUring) {
    if (closed()) return;
    if (!file_read(*u_.sending, result)) {
      fail(Error::from_errno(errno));
      return;
    }
    submit_send();
  }
}

// Nothing in flight names this connection any more: it may serve another.
template <class Io>
void Connection<Io>::on_released() {
  if constexpr (kUring) {
    if (u_.sending) {
      ctx_.give_out(u_.sending);
      u_.sending = nullptr;
    }
    u_.reg = UringScheduler::kNoReg;
    owner_.connection_closed(this);
  }
}

// Hands the sending buffer's next step to the ring, or sends a cached
// file's bytes from here (sendfile()): then at most kTurnFileBytes a turn
// before the rest goes on from a callback next turn, and a full socket is
// waited for with a POLLOUT through the ring (on_writable()).
template <class Io>
void Connection<Io>::submit_send() {
  if constexpr (kUring) {
    OutBuffer& out = *u_.sending;
    const size_t start = out.sent;
    for (;;) {
      switch (Io::Write::submit(*sched(), u_.reg, fd_.get(), out)) {
        case SubmitResult::kQueued:
          if (out.sent != start) ctx_.writing.push(this, ctx_.sched->now());  // progress
          return;
        case SubmitResult::kSent:
          if (!out.pending()) {
            sending_done();
            return;
          }
          if (out.sent - start < kTurnFileBytes) continue;
          ctx_.writing.push(this, ctx_.sched->now());  // progress
          ctx_.sched->add_callback([this, serial = serial_] {
            if (serial != serial_ || closed() || !u_.sending) return;
            resume_send();
          });
          return;
        case SubmitResult::kBlocked:
          if (out.sent != start) ctx_.writing.push(this, ctx_.sched->now());  // progress
          sched()->poll_out(u_.reg);
          return;
        case SubmitResult::kError:
          fail(Error::from_errno(errno));
          return;
      }
    }
  }
}

// Draining, and idle with nothing buffered: end, unless a request is on its
// way. epoll asks the socket (FIONREAD); on io_uring the bytes may already
// be in a completion not yet delivered, so receiving is stopped first and
// the decision waits for its end (on_receive_end(ECANCELED)).
template <class Io>
void Connection<Io>::end_when_idle() {
  if (state_ != State::kIdle || input_buffered() || (out_ && out_->pending()) || sending()) return;
  if constexpr (kUring) {
    if (stash_waiting()) return;
    if (!u_.drain_wait && sched()->receiving(u_.reg)) {
      u_.drain_wait = true;
      sched()->stop_receiving(u_.reg);
      return;
    }
    if (u_.drain_wait) return;
    // A receive that ran out of buffers waits to be armed again: the bytes
    // are still in the socket.
    if (input_waiting()) return;
  } else {
    if (input_waiting()) return;
  }
  end_connection();
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
  while (state_ <= State::kBody) {
    if (out_ && out_->full(ctx_.config.output_high_water)) {
      pause_reading();  // back-pressure: answer what is queued first
      break;
    }
    const uint32_t avail = in_ ? in_->len - req_start_ : 0;
    if (avail == 0) break;
    if (state_ == State::kIdle || state_ == State::kHead) {
      if (state_ == State::kIdle) {
        state_ = State::kHead;
        // Slowloris: the whole head has one deadline. While an answer is
        // blocked its write deadline binds (output_sent() starts this one).
        if (!output_waits()) ctx_.reading.push(this, ctx_.sched->now());
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
      state_ = State::kBody;
      in_->chunked.reset();
      in_->body.clear();
      if (h.expect_continue && h.version_minor >= 1 && in_->len == body_pos_) {
        if (!out_) out_ = ctx_.out_pool.take();
        Response::write_simple(*out_, ctx_.date, 100, false, {});
      }
    }
    if (state_ == State::kBody && !read_body()) break;
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
  client_closes_ = !h.keep_alive;
  // Draining: the last request already buffered is answered with
  // "Connection: close"; those before it, read before the drain, are answered too.
  const bool last_buffered = next_start >= in_->len;
  res_.begin(out_, h.version_minor, h.keep_alive && !(ctx_.draining && last_buffered),
             h.method == Method::kHead);
  Router::Match m = ctx_.router->route(h.method, req.path());
  req.set_route(m.stem_length, &ctx_.locals);
  in_handler_ = true;
  if (m.handler) {
    try {
      (*m.handler)(req, res_);
    } catch (...) {
      std::fprintf(stderr, "hellepoll: handler for %.*s threw: %s\n", static_cast<int>(req.path().size()),
                   req.path().data(), current_what());
      handler_threw();
      return;
    }
  } else if (m.status == 405) {
    (void)res_.add_header("Allow", m.allow.allow_header());
    (void)res_.send_static(405, "Method Not Allowed\n");
  } else {
    (void)res_.send_static(404, "Not Found\n");
  }
  in_handler_ = false;
  if (res_.ended()) {
    after_response();
  } else if (res_.deferred()) {
    state_ = State::kHandler;
    if (!output_waits()) ctx_.handler.push(this, ctx_.sched->now());  // else output_sent() does
    update_interest();  // level-triggered: stop hearing pipelined bytes
  } else if (!res_.streaming()) {
    // Returned without answering or deferring: a handler bug, not the
    // client's; answer rather than hang the connection.
    (void)res_.send_static(500, "handler returned without a response\n");
    after_response();
  } else {
    (void)res_.end();  // streamed synchronously and forgot end()
    after_response();
  }
}

// A throwing handler costs its own request a 500, nothing more; a stream it
// had started is cut (the client sees it unterminated), never ended as if
// complete.
template <class Io>
void Connection<Io>::handler_threw() {
  if (!res_.head_sent()) {
    out_->drop_building();
    (void)res_.send_static(500, "Internal Server Error\n");  // in_handler_: no response_ended()
  } else if (!res_.ended()) {
    in_handler_ = false;
    cut_stream(Error{ErrorKind::kInternal, 0});
    return;
  }
  in_handler_ = false;
  after_response();
}

template <class Io>
void Connection<Io>::after_response() {
  state_ = res_.keep_alive() ? State::kIdle : State::kClosing;
  res_.retire();
  in_->parser.reset();
  req_start_ = next_start_;
  if (req_start_ == in_->len) req_start_ = in_->len = body_pos_ = next_start_ = 0;
}

// The two calls a deferred or streaming handler makes into the connection
// from outside its task (a timer, a callback, another client's task): an
// exception from our code here must not reach, and be blamed on, the caller.
template <class Io>
void Connection<Io>::response_ended() {
  if (in_handler_) return;  // dispatch() carries on
  try {
    after_response();
    resume_reading();  // pipelined requests behind it, then flush
  } catch (...) {
    std::fprintf(stderr, "hellepoll: http-connection (fd %d) threw completing a deferred response: %s\n",
                 fd_.get(), current_what());
    on_exception();
  }
}

template <class Io>
void Connection<Io>::response_wrote() {
  if (in_handler_) return;
  try {
    flush();
  } catch (...) {
    std::fprintf(stderr, "hellepoll: http-connection (fd %d) threw sending a streamed response: %s\n",
                 fd_.get(), current_what());
    on_exception();
  }
}

template <class Io>
void Connection<Io>::on_exception() {
  in_handler_ = false;
  if (closed()) return;
  if (state_ == State::kHandler && !res_.head_sent()) {
    out_->drop_building();
    res_.fail(Error{ErrorKind::kInternal, 0});
    reply_error(500);
    flush();
    return;
  }
  fail(Error{ErrorKind::kInternal, 0});
}

template <class Io>
void Connection<Io>::reply_error(int status) {
  ++ctx_.stats.error_replies;
  if (!out_) out_ = ctx_.out_pool.take();
  Response::write_simple(*out_, ctx_.date, status, /*close=*/true, reason_phrase(status));
  state_ = State::kClosing;
}

// The next bytes owed are a file's that may not be in the page cache:
// the worker's pool reads a chunk of them ahead, and the flush goes on when
// it is done; meanwhile nothing is sent (a later answer waits its turn)
// and the write deadline runs, so that a disk that never answers cuts the
// connection instead of keeping it forever.
template <class Io>
void Connection<Io>::read_ahead_file() {
  constexpr uint64_t kChunk = 1 << 20;
  FileRef& f = out_->files[out_->warm_file];
  const uint64_t from = out_->warm_at;
  const uint64_t n = std::min(kChunk, f.offset + f.len - from);
  reading_ahead_ = true;
  ctx_.writing.push(this, ctx_.sched->now());
  ctx_.locals.pool().run(
      [fd = f.fd, hold = out_->holds[out_->warm_file], from, n] { read_ahead(fd, from, n); },
      [this, serial = serial_, i = out_->warm_file, to = from + n] {
        if (serial != serial_ || closed()) return;  // another connection by now
        reading_ahead_ = false;
        read_ahead_done(out_->files[i], to);
        resume_flush();
      });
}

// A flush sent its turn's share of a large file and the socket would take
// more: it goes on next turn (a callback added on the loop thread runs
// after this turn's events), so that other connections are served in
// between. Progress: the write deadline starts again.
template <class Io>
void Connection<Io>::yield_flush() {
  write_blocked_ = false;  // writable: nothing to wait for from epoll
  update_interest();       // also: kClosing stops reading, level-triggered
  yielding_ = true;
  ctx_.writing.push(this, ctx_.sched->now());
  ctx_.sched->add_callback([this, serial = serial_] {
    if (serial != serial_ || closed()) return;  // another connection by now
    yielding_ = false;
    resume_flush();
  });
}

// The flush after output waited off the socket (a read-ahead, a yield):
// bookkept as after a blocked write (the state's deadline starts again),
// and guarded like the other flushes that run outside the connection's
// own events.
template <class Io>
void Connection<Io>::resume_flush() {
  output_resumed_ = true;
  try {
    flush();
  } catch (...) {
    std::fprintf(stderr, "hellepoll: http-connection (fd %d) threw sending a file: %s\n", fd_.get(),
                 current_what());
    on_exception();
  }
}

template <class Io>
void Connection<Io>::flush() {
  if (reading_ahead_ || yielding_) return;  // their completion flushes
  const bool was_blocked = write_blocked_ || std::exchange(output_resumed_, false);
  if constexpr (kUring) {
    if (u_.sending) return;  // one send in flight at a time: on_sent() comes back here
    if (out_ && out_->pending()) {
      u_.sending = ctx_.out_pool.take();
      out_->hand_over(*u_.sending);
      if (u_.sending->nfiles != 0 && !u_.sending->bounce) u_.sending->bounce = ctx_.take_bounce();
      // A send the socket cannot take completes only when the peer reads:
      // until on_sent() it counts as a blocked write on epoll does (the
      // write timeout runs, a FIN waits for it).
      ctx_.writing.push(this, ctx_.sched->now());
      write_blocked_ = true;
      submit_send();
      return;
    }
    write_blocked_ = false;
    output_sent(was_blocked);
    return;
  }
  if (out_ && out_->pending()) {
    // Ending right after this write? Then the bytes may wait for the FIN.
    const bool last = state_ == State::kClosing && !peer_eof_ && !input_buffered() && !paused_;
    const size_t sent_before = out_->sent;
    switch (Io::Write::flush(fd_.get(), *out_, last)) {
      case FlushResult::kDone:
        break;
      case FlushResult::kBlocked:
        write_blocked_ = true;
        update_interest();  // also after a state change while blocked (kClosing stops reading)
        // Only progress re-arms the write timeout: a client that reads
        // nothing is cut however often more is queued for it.
        if (!was_blocked || out_->sent != sent_before) ctx_.writing.push(this, ctx_.sched->now());
        return;
      case FlushResult::kError:
        fail(Error::from_errno(errno));
        return;
      case FlushResult::kYield:
        yield_flush();
        return;
      case FlushResult::kReadAhead:
        write_blocked_ = false;  // no EPOLLOUT while nothing can be sent
        update_interest();       // also: kClosing stops reading, level-triggered
        read_ahead_file();
        return;
    }
    out_->sent_all();
    if (write_blocked_) {
      write_blocked_ = false;
      update_interest();
    }
  }
  output_sent(was_blocked);
}

// Everything queued is sent: what the state waits for next, and its deadline.
template <class Io>
void Connection<Io>::output_sent(bool was_blocked) {
  switch (state_) {
    case State::kHandler:
      ctx_.handler.push(this, ctx_.sched->now());  // the handler's turn again (also: a stream's progress)
      return;
    case State::kClosing:
      end_connection();
      return;
    case State::kLingering:
      return;
    case State::kHead:
    case State::kBody:
      // The request can never complete, unless its rest waits in the stash
      // past this turn's share (io_uring): that is drained next turn.
      if (peer_eof_ && !stash_waiting()) {
        close();
        return;
      }
      if (was_blocked) ctx_.reading.push(this, ctx_.sched->now());  // out of the writing queue
      if (paused_) resume_reading();
      return;
    case State::kIdle:
      break;
  }
  if (paused_) {
    resume_reading();  // queued pipelined requests first
    return;
  }
  if (input_buffered()) return;
  if (peer_eof_) {
    end_connection();
    return;
  }
  ctx_.idle.push(this, ctx_.sched->now());
  release_buffers();
  // Draining: ends once all is answered, unless a request is on its way
  // (its answer will say "close").
  if (ctx_.draining) end_when_idle();
}

// The one place that decides how a connection ends once its answers are
// sent.
template <class Io>
void Connection<Io>::end_connection() {
  if (reset_at_end_) {
    const ::linger reset_on_close{1, 0};
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_LINGER, &reset_on_close, sizeof reset_on_close);
    close();
    return;
  }
  if (peer_eof_) {
    close();  // everything up to the client's FIN was read: close() sends FIN, not RST
    return;
  }
  // A client that asked to close sends no more (RFC 9112 §9.6): close at
  // once, the FIN in the same segment as the answer (ab: a connection per
  // request). Anything else may still be sending. A client that pipelined
  // bytes behind its last request may have: unless a read found the socket
  // empty in this very turn (ab), ask the socket, whatever the answer
  // waited for (a deferred handler, a blocked write, requests buffered
  // before it).
  if (client_closes_ && !input_buffered() && (emptied_this_turn() || !input_waiting())) {
    close();
    return;
  }
  linger();
}

template <class Io>
void Connection<Io>::linger() {
  ::shutdown(fd_.get(), SHUT_WR);
  state_ = State::kLingering;
  paused_ = false;
  if (in_) {
    in_->len = 0;
    in_->stash.clear();
  }
  req_start_ = body_pos_ = next_start_ = 0;
  ctx_.lingering.push(this, ctx_.sched->now());
  update_interest();
  // Bytes that arrived while not reading raised their edge already.
  if constexpr (kEdge) sched()->read_again(fd_.get(), this);
}

template <class Io>
void Connection<Io>::release_buffers() {
  if (out_ && !out_->pending()) {
    ctx_.give_out(out_);
    out_ = nullptr;
  }
  if (in_ && in_->len == 0 && in_->stash.empty() && state_ == State::kIdle) {
    ctx_.give_in(in_);
    in_ = nullptr;
  }
}

// What a level-triggered connection listens for, from its state. Not
// reading, it still hears a reset: epoll always reports EPOLLHUP/EPOLLERR.
template <class Io>
uint32_t Connection<Io>::wanted_interest() const {
  uint32_t e = wants_read() ? kReadable : 0;
  if (write_blocked_) e |= kWritable;
  return e;
}

template <class Io>
void Connection<Io>::update_interest() {
  if constexpr (kUring) {
    if (!registered_) return;
    // Not reading, the ring still receives (into the stash, up to its
    // bound): that is how a reset reaches a deferred handler, as EPOLLHUP
    // and EPOLLERR do on epoll. Reading, the stash is what waits for the
    // next turn: the same bound holds.
    const bool receive = !peer_eof_ && !u_.drain_wait && (!in_ || in_->stash.size() < in_->cap);
    if (receive) {
      sched()->receive(u_.reg);  // no-op while armed
    } else {
      sched()->stop_receiving(u_.reg);  // no-op while stopped
    }
  } else if constexpr (!kEdge) {
    const uint32_t e = wanted_interest();
    if (e == interest_ || !registered_) return;  // epoll_ctl only on transitions
    interest_ = e;
    sched()->modify(fd_.get(), e);
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
  if constexpr (kUring) {
    if (!closed() && takes_input()) drain_stash();
    return;
  }
  if (closed() || !wants_read()) return;
  on_readable();  // edge-triggered: bytes that arrived while paused raise no new edge
}

template <class Io>
void Connection<Io>::peer_eof() {
  peer_eof_ = true;
  mark_sated();
  update_interest();  // level-triggered EOF would fire forever
  switch (state_) {
    case State::kLingering:
      close();
      return;
    case State::kHandler:
    case State::kClosing:
      return;  // a half-close: the answer still goes out, then the connection ends
    case State::kHead:
    case State::kBody:
    case State::kIdle:
      if (!output_waits()) output_sent(false);
      return;
  }
}

// One read from this turn's budget; false when it is used up.
template <class Io>
bool Connection<Io>::take_read() {
  refresh_share();
  if (share_left_ == 0) return false;
  --share_left_;
  return true;
}

// On io_uring: up to `want` bytes of this turn's share (0 once it is used).
template <class Io>
size_t Connection<Io>::take_share(size_t want) {
  refresh_share();
  const size_t n = std::min<size_t>(want, share_left_);
  share_left_ -= static_cast<uint16_t>(n);
  return n;
}

// Bytes the peer sent that are still in the socket, not yet read.
template <class Io>
bool Connection<Io>::input_waiting() const {
  int n = 0;
  return ::ioctl(fd_.get(), FIONREAD, &n) == 0 && n > 0;
}

template <class Io>
Error Connection<Io>::socket_error() const {
  int err = 0;
  socklen_t len = sizeof err;
  if (::getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err != 0)
    return Error::from_errno(err);
  return Error{ErrorKind::kPeerClosed, 0};
}

template <class Io>
void Connection<Io>::timed_out() {
  if (closed()) return;
  ++ctx_.stats.timeouts;
  if (output_waits()) {
    // The client stopped reading its answers, or the disk never gave the
    // file's bytes: either way the answer cannot be completed.
    fail(Error{ErrorKind::kTimeout, 0});
    return;
  }
  switch (state_) {
    case State::kHead:
    case State::kBody:
      reply_error(408);  // a slow request: say so, then end
      flush();
      return;
    case State::kHandler:
      handler_timed_out();
      return;
    case State::kIdle:
      end_connection();  // the normal end of a keep-alive connection
      return;
    case State::kClosing:
    case State::kLingering:
      close();
      return;
  }
}

// A deferred or streaming handler made no progress for handler_timeout: it
// hears kTimeout (its handle goes stale) and the client gets a 504, or, when
// the head is already out, a stream cut short (never ended as if complete).
template <class Io>
void Connection<Io>::handler_timed_out() {
  const Error e{ErrorKind::kTimeout, 0};
  if (res_.head_sent()) {
    cut_stream(e);
  } else {
    out_->drop_building();
    res_.fail(e);
    reply_error(504);
  }
  flush();
}

// A stream whose head is out cannot be answered any more: it ends after
// what is queued, unterminated (chunked), or with a reset where the body
// is delimited by the close (HTTP/1.0), so that the client never takes it
// for complete.
template <class Io>
void Connection<Io>::cut_stream(const Error& why) {
  reset_at_end_ = res_.close_delimited();
  res_.fail(why);
  state_ = State::kClosing;
}

template <class Io>
void Connection<Io>::drain() {
  if (closed() || state_ == State::kLingering) return;  // lingering ends by itself
  // The last request already read is answered with "Connection: close"
  // (ctx_.draining; a deferred one through close_after()), and the
  // connection ends after it. Answers already queued said keep-alive: then
  // the connection reads on, and ends once it is idle (output_sent).
  if (state_ == State::kHandler) {
    if (!(in_ && in_->len > next_start_)) res_.close_after();
    return;
  }
  // Idle: a request waiting unread in the socket is read and answered with
  // "close"; otherwise end (lingering: one may be on its way).
  end_when_idle();
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
  res_.fail(Error{ErrorKind::kPeerClosed, 0});  // no-op unless a handler still owes an answer
  unlink();
  UniqueFd fd = std::move(fd_);  // closed() from here on
  const bool registered = std::exchange(registered_, false);
  if constexpr (!kUring) {
    if (registered) sched()->forget(fd.get());  // close() removes it from epoll
    fd.reset();
  }
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
  state_ = State::kIdle;
  if constexpr (kUring) {
    // The ring closes the fd behind what is queued; the object is free
    // once nothing in flight names it (on_released()). A send in flight
    // would hold the socket open until the peer reads, which it may never
    // do: shut down, the send fails at once. (Only an abortive close meets
    // one: an answer that ends the connection is sent before it closes.)
    if (registered && u_.sending) ::shutdown(fd.get(), SHUT_RDWR);
    if (registered) {
      sched()->release(u_.reg, std::move(fd));
      return;
    }
  }
  owner_.connection_closed(this);
}

}  // namespace hellepoll::http
