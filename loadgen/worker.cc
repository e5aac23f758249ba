#include "loadgen/worker.h"

#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <thread>
#include <utility>

#include "loadgen/units.h"

namespace loadgen {

using hellepoll::Clock;
using hellepoll::Duration;
using hellepoll::TimePoint;
using std::chrono::milliseconds;

// ---------------------------------------------------------------- Run

void Run::fail_run(std::string message) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (fatal_.empty()) fatal_ = std::move(message);
  }
  stop.store(true, std::memory_order_relaxed);
}

std::string Run::fatal() const {
  std::lock_guard<std::mutex> lock(mu_);
  return fatal_;
}

namespace {

uint64_t nanos(Duration d) {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
  return ns > 0 ? static_cast<uint64_t>(ns) : 0;
}

void thread_cpu(double* user_s, double* sys_s) {
  rusage ru{};
  getrusage(RUSAGE_THREAD, &ru);
  *user_s = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6;
  *sys_s = ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

std::string connect_hint(int e) {
  switch (e) {
    case ECONNREFUSED:
      return "is the server running and listening there?";
    case EMFILE:
    case ENFILE:
      return "out of file descriptors: lower -c or raise the limit (ulimit -n)";
    case EADDRNOTAVAIL:
      return "out of local ports and source addresses: lower -c";
    case ETIMEDOUT:
      return "no answer within --timeout: is the address right, the backlog full?";
    default:
      return "check the URL and the server";
  }
}

}  // namespace

// ---------------------------------------------------------------- Connection

template <class S>
Connection<S>::Connection(Worker<S>& w, uint32_t pipeline, uint32_t source)
    : w_(w), ring_(pipeline), body_(w.cfg_.expect_body), source_(source), reopen_(w.sched_, [this] {
        // After the deadline only a fixed rate still has requests to send.
        if (!w_.done_ && (!w_.draining_ || w_.owes_requests())) start();
      }) {
  parser_.reset(w_.run_.request.head);
}

template <class S>
Connection<S>::~Connection() {
  close(false);
}

template <class S>
uint32_t Connection<S>::room() const {
  if (w_.cfg_.keepalive) {
    return state_ == State::kOpen ? static_cast<uint32_t>(ring_.size()) - count_ : 0;
  }
  return state_ == State::kIdle && count_ == 0 ? 1 : 0;
}

template <class S>
void Connection<S>::start() {
  if (w_.cfg_.keepalive) {
    // A kept-alive connection opens first and asks for work once open.
    if (w_.measuring_ && w_.quota_left() == 0) return;
    connect();
  } else {
    // A connection per request: take the request first, then connect.
    w_.offer(this);
  }
}

template <class S>
void Connection<S>::push(TimePoint scheduled, TimePoint sent, bool measured) {
  ring_[(head_ + count_) % ring_.size()] = Slot{scheduled, sent, measured};
  ++count_;
  ++unwritten_;
  ++w_.in_flight_;
}

template <class S>
void Connection<S>::mark_sent(uint32_t n, std::optional<TimePoint> when) {
  // Latency from here is what the server and network cost, the uncorrected
  // figure; a request queued behind a full socket buffer does not count as
  // sent yet.
  if (n == 0) return;
  const TimePoint now = when ? *when : Clock::now();
  for (uint32_t i = count_ - unwritten_, end = i + n; i < end; ++i) {
    Slot& s = slot(i);
    s.sent = now;
    if (s.measured && !w_.done_) {
      ++tally_.sent;
      ++w_.stats_.requests;
    }
  }
}

template <class S>
void Connection<S>::send_or_connect() {
  if (state_ == State::kOpen) {
    flush();
  } else if (state_ == State::kIdle) {
    connect();
  }
}

template <class S>
void Connection<S>::connect() {
  connect_start_ = Clock::now();
  bool in_progress = false;
  for (;;) {
    fd_ = open_connection(w_.run_.target, source_, &in_progress);
    if (fd_) break;
    const int e = errno;
    // Out of ports for this source address: on loopback, move on to the next.
    if ((e == EADDRNOTAVAIL || e == EADDRINUSE) && w_.run_.target.loopback_v4 && source_ < kMaxSourceIndex) {
      ++source_;
      uint32_t seen = w_.run_.sources_used.load(std::memory_order_relaxed);
      while (seen < source_ + 1 && !w_.run_.sources_used.compare_exchange_weak(seen, source_ + 1)) {
      }
      continue;
    }
    fail(Failure::kConnect, e);
    return;
  }
  if constexpr (kUring) {
    // Connecting is readiness (a poll for EPOLLOUT); the completion
    // operations start once the socket is connected (finish_connect()).
    state_ = State::kConnecting;
    if (!in_progress) {
      finish_connect();
      return;
    }
    if (!w_.sched_.add(fd_.get(), this, hellepoll::kWritable)) {
      fail(Failure::kConnect, errno);
      return;
    }
    polled_ = true;
    return;
  }
  const uint32_t interest = in_progress ? hellepoll::kWritable : hellepoll::kReadable;
  if (!w_.sched_.add(fd_.get(), this, interest)) {
    fail(Failure::kConnect, errno);
    return;
  }
  state_ = State::kConnecting;
  if (!in_progress) finish_connect();
}

template <class S>
void Connection<S>::finish_connect() {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (err != 0) {
    fail(Failure::kConnect, err);
    return;
  }
  state_ = State::kOpen;
  backoff_ = Duration::zero();
  w_.connect_failures_ = 0;
  if (!w_.run_.ever_connected.load(std::memory_order_relaxed)) {
    w_.run_.ever_connected.store(true, std::memory_order_relaxed);
  }
  if constexpr (kUring) {
    // From readiness to completions: the poll goes, a registration comes,
    // with its multishot receive (submitted with this turn's wait).
    if (polled_) {
      w_.sched_.forget(fd_.get());
      polled_ = false;
    }
    reg_ = w_.sched_.attach(fd_.get(), this);
    w_.sched_.receive(reg_);
  } else {
    w_.sched_.modify(fd_.get(), hellepoll::kReadable);
  }
  if (unwritten_ > 0) {
    flush();
  } else {
    w_.offer(this);
  }
}

template <class S>
void Connection<S>::took(size_t n, std::optional<TimePoint> when) {
  const size_t size = w_.run_.request.size;
  if (w_.measuring_) w_.stats_.bytes_written += n;
  write_offset_ += n;
  const size_t whole = write_offset_ / size;
  next_ += static_cast<uint32_t>(whole);
  mark_sent(static_cast<uint32_t>(whole), when);
  unwritten_ -= static_cast<uint32_t>(whole);
  write_offset_ -= whole * size;
}

template <class S>
void Connection<S>::flush() {
  const size_t size = w_.run_.request.size;
  const size_t total = unwritten_ * size - write_offset_;
  // All requests have one size and the batch holds them in rotation, so any
  // run of pending requests is one contiguous slice: one send().
  if constexpr (kUring) {
    // One send in flight at a time: on_sent() sends what was queued
    // meanwhile. The bytes are the run's request batch, which stays put
    // until every worker is gone. The send goes out with this turn's wait.
    if (sending_ > 0 || send_error_ != 0 || total == 0) return;
    sending_ = total;
    w_.sched_.send(reg_, w_.run_.request.at(next_) + write_offset_, total, MSG_NOSIGNAL);
    return;
  }
  const ssize_t n = ::send(fd_.get(), w_.run_.request.at(next_) + write_offset_, total, MSG_NOSIGNAL);
  if (n > 0) took(static_cast<size_t>(n), std::nullopt);
  if (n == static_cast<ssize_t>(total)) {
    if (want_write_) {
      want_write_ = false;
      w_.sched_.modify(fd_.get(), hellepoll::kReadable);
    }
    return;
  }
  if (n < 0) {
    const int e = errno;
    if (e != EAGAIN && e != EINTR) {
      // A server that answers early (413, 400) and closes resets what we
      // still send; its answer may be waiting to be read, and counts as
      // what it says, not as a reset.
      if ((e == ECONNRESET || e == EPIPE) && count_ > 0) {
        bool drained = false;
        if (read_and_process(&drained) > 0 && state_ != State::kOpen) return;
      }
      fail(e == ECONNRESET || e == EPIPE ? Failure::kReset : Failure::kWrite, e);
      return;
    }
  }
  if (!want_write_) {
    want_write_ = true;
    w_.sched_.modify(fd_.get(), hellepoll::kReadable | hellepoll::kWritable);
  }
}

template <class S>
void Connection<S>::on_writable() {
  if (state_ == State::kConnecting) {
    finish_connect();
  } else if (state_ == State::kOpen && unwritten_ > 0) {
    flush();
  }
}

template <class S>
void Connection<S>::on_readable() {
  if constexpr (kUring) {
    // Readiness only while connecting (a refusal is EPOLLERR); once open,
    // bytes come through on_received().
    if (state_ == State::kConnecting) finish_connect();
    return;
  }
  if (state_ != State::kOpen) {
    mark_sated();  // nothing to read yet: an error or hang-up while connecting
    if (state_ == State::kConnecting) finish_connect();
    return;
  }
  // Big reads into the worker's buffer: a whole batch of pipelined responses
  // per syscall. An incomplete head left by the last read goes first (rare:
  // heads are small).
  //
  // Edge-triggered: a read shorter than asked drained the socket, and new
  // data raises a new edge, so the common case needs no extra read to see
  // EAGAIN. The exception is a FIN or RST that came in the same edge as the
  // data: no further edge will announce it. It matters only while a response
  // is incomplete (a truncated or close-delimited body), so then we read on.
  // A FIN after complete responses shows up as a reset or short read of the
  // next request, as it would with level triggering.
  for (;;) {
    bool drained = false;
    const ssize_t n = read_and_process(&drained);
    if (n > 0) {
      if (state_ != State::kOpen) return;
      if (drained && carry_.empty() && !parser_.in_body()) return;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    mark_sated();
    if (n == 0) {
      on_eof();
    } else if (errno != EAGAIN) {
      fail(errno == ECONNRESET ? Failure::kReset : Failure::kRead, errno);
    }
    return;
  }
}

template <class S>
ssize_t Connection<S>::read_and_process(bool* drained) {
  char* buf = w_.rbuf_.data();
  const size_t have = carry_.size();
  if (have > 0) std::memcpy(buf, carry_.data(), have);
  const size_t want = w_.rbuf_.size() - have;
  const ssize_t n = ::read(fd_.get(), buf + have, want);
  if (n > 0) {
    *drained = static_cast<size_t>(n) < want;
    if (*drained) mark_sated();
    if (w_.measuring_) w_.stats_.bytes_read += static_cast<uint64_t>(n);
    carry_.clear();
    process(buf, have + static_cast<size_t>(n));
  }
  return n;
}

// ---- the completion backend's events (io_uring)

template <class S>
size_t Connection<S>::on_received(std::string_view bytes) {
  if constexpr (kUring) {
    if (state_ != State::kOpen) return bytes.size();
    if (w_.measuring_) w_.stats_.bytes_read += bytes.size();
    if (carry_.empty()) {
      process(bytes.data(), bytes.size());  // parsed in the provided buffer, no copy
    } else {
      // An incomplete head from the last buffer goes first, as on epoll:
      // both into the worker's read buffer (a head is at most 64 KiB,
      // kMaxHeadBytes; a provided buffer a few KiB; the read buffer 256 KiB).
      char* buf = w_.rbuf_.data();
      const size_t have = carry_.size();
      std::memcpy(buf, carry_.data(), have);
      std::memcpy(buf + have, bytes.data(), bytes.size());
      carry_.clear();
      process(buf, have + bytes.size());
    }
  }
  // Every byte is taken: parsed, copied to the carry (process() keeps an
  // incomplete head), or dropped with a connection that failed on it.
  return bytes.size();
}

template <class S>
void Connection<S>::on_receive_end(int err) {
  if constexpr (kUring) {
    if (state_ != State::kOpen || err == ECANCELED) return;  // this task never stops receiving
    if (send_error_ != 0) {
      // A send met a reset; the answers that came before it were taken.
      fail(Failure::kReset, send_error_);
    } else if (err == 0) {
      on_eof();
    } else {
      fail(err == ECONNRESET ? Failure::kReset : Failure::kRead, err);
    }
  }
}

template <class S>
void Connection<S>::on_sent(int result) {
  if constexpr (kUring) {
    sending_ = 0;
    if (state_ != State::kOpen) return;
    if (result < 0) {
      const int e = -result;
      // As on epoll: a server that answers early (413, 400) and closes
      // resets what we still send, and its answer counts as what it says.
      // It may be in a receive completion not yet delivered: the receive
      // ends with the reset, and on_receive_end() decides.
      if ((e == ECONNRESET || e == EPIPE) && count_ > 0) {
        send_error_ = e;
        return;
      }
      fail(e == ECONNRESET || e == EPIPE ? Failure::kReset : Failure::kWrite, e);
      return;
    }
    // Sent when the wait that brought this completion ended (the turn's
    // start): a send the socket takes at once completes inside the enter
    // that submits it, which then returns without sleeping; one that waited
    // for room ends the wait it completes in. Not when it was queued: a
    // send held up by a server that reads nothing would count its stall.
    took(static_cast<size_t>(result), w_.sched_.now());
    if (unwritten_ > 0) flush();  // the rest of a short send, or requests queued meanwhile
  }
}

template <class S>
void Connection<S>::process(const char* data, size_t len) {
  // One clock read per read(): responses that arrived together share it.
  const TimePoint now = Clock::now();
  const bool checking_body = w_.cfg_.expect_body_given;
  while (len > 0) {
    // Bytes with no request to answer. A request still being written can
    // be answered (an early 413 or 400): that answer counts as its status.
    if (count_ == 0) {
      fail(Failure::kParse);
      return;
    }
    const bool was_in_body = parser_.in_body();
    const ResponseParser::Result r = parser_.feed(data, len);
    if (r.status == ResponseParser::Status::kError) {
      fail(Failure::kParse);
      return;
    }
    if (checking_body) check_body(data, r, was_in_body);
    data += r.consumed;
    len -= r.consumed;
    if (r.status == ResponseParser::Status::kNeedMore) {
      if (len > 0) carry_.assign(data, len);
      break;
    }
    if (!on_response(now) || w_.done_) return;
  }
  // Closed loop: the next batch goes out when the whole batch is answered, as
  // with wrk's pipelining, so pipeline N means batches of N back to back. At a
  // fixed rate the window is topped up as it drains (requests are due then).
  if (count_ == 0 || w_.rate_mode()) w_.offer(this);  // one write for all the room
}

template <class S>
void Connection<S>::check_body(const char* data, const ResponseParser::Result& r, bool was_in_body) {
  size_t head = 0;
  if (!was_in_body) {
    if (r.status != ResponseParser::Status::kDone && !parser_.in_body()) return;  // head incomplete
    head = parser_.head().head_bytes;  // the bytes fed start with the head
    body_.start(parser_.head().framing);
  }
  if (r.consumed > head) body_.feed(data + head, r.consumed - head);
}

template <class S>
bool Connection<S>::on_response(TimePoint now) {
  const ResponseHead& h = parser_.head();
  if (h.status < 200) {  // interim (100 Continue): the final response follows
    if (w_.measuring_) ++w_.stats_.status[1];
    parser_.reset(w_.run_.request.head);
    return true;
  }
  // Answered before its last byte was written: the server will not read the
  // rest as a new request, so the connection cannot be used again. On
  // io_uring, written() is as current as on epoll: a send the socket takes
  // at once completes at submission, before any answer to it can arrive,
  // and a send that waits completes before the server has the last byte.
  const bool early = !written(0);
  const Slot s = ring_[head_];
  head_ = (head_ + 1) % static_cast<uint32_t>(ring_.size());
  --count_;
  --w_.in_flight_;
  if (early) {
    --unwritten_;
    write_offset_ = 0;
  }
  if (s.measured && !w_.done_) {
    tally_.sent += early;
    w_.stats_.requests += early;
    ++tally_.answered;
  }
  const bool keep = h.keep_alive && w_.cfg_.keepalive && !early;
  const int status = h.status;
  parser_.reset(w_.run_.request.head);  // clears h
  w_.record_response(s, status, body_.matches(), now);
  if (keep) {
    w_.settle();
    return true;
  }
  // The server closes (or we asked it to): requests still in flight on this
  // connection go back to the worker to be sent again.
  close(/*hand_back=*/true);
  w_.settle();
  if (!w_.done_) reopen_.start(Duration::zero());
  return false;
}

template <class S>
void Connection<S>::on_eof() {
  if (parser_.in_body() && parser_.head().framing == Framing::kUntilClose) {
    parser_.finish();
    on_response(Clock::now());
    return;
  }
  if (count_ > 0) {
    fail(Failure::kShortRead);
    return;
  }
  // The server closed an idle kept-alive connection: open another.
  close(false);
  if (!w_.done_) reopen_.start(Duration::zero());
}

template <class S>
void Connection<S>::fail(Failure why, int sys_errno) {
  // Requests sent are lost with the connection; those not yet written go
  // back to be sent on another.
  uint64_t lost = 0;
  for (uint32_t i = 0; i < count_; ++i) {
    if (written(i)) {
      lost += slot(i).measured;
    } else {
      w_.hand_back(slot(i), false);
    }
  }
  if (!w_.done_) tally_.lost += lost;
  close(false);
  w_.record_failure(why, lost);
  w_.settle();
  if (why == Failure::kConnect) {
    w_.note_connect_failure(sys_errno);
    backoff_ = backoff_ == Duration::zero() ? Duration(milliseconds(10))
                                            : std::min<Duration>(backoff_ * 2, milliseconds(1000));
  }
  // Reopen from a timer, never from inside this event: the new socket could
  // get the same fd number and receive the rest of the old socket's event.
  if (!w_.done_) reopen_.start(why == Failure::kConnect ? backoff_ : Duration::zero());
}

template <class S>
void Connection<S>::close(bool hand_back) {
  if constexpr (kUring) {
    if (reg_ != hellepoll::UringScheduler::kNoReg) {
      // A send blocked on a server that reads nothing would hold the
      // socket open after the ring's close: shutting the write side ends it.
      if (sending_ > 0) ::shutdown(fd_.get(), SHUT_WR);
      // The ring closes the fd behind the queued sends. Nothing of ours is
      // lent to it but the run's request batch, which outlives the worker,
      // so the connection need not wait for on_released() to open its next
      // socket: detach() keeps the old registration's completions away.
      const auto r = std::exchange(reg_, hellepoll::UringScheduler::kNoReg);
      released_now_ = false;
      w_.sched_.release(r, std::move(fd_));
      if (!released_now_) w_.sched_.detach(r);
    } else if (fd_) {
      if (polled_) w_.sched_.forget(fd_.get());
      fd_.reset();
    }
    polled_ = false;
    sending_ = 0;
    send_error_ = 0;
  } else if (fd_) {
    w_.sched_.forget(fd_.get());  // close() drops it from epoll
    fd_.reset();
  }
  if (hand_back) {
    for (uint32_t i = 0; i < count_; ++i) {
      const bool sent = written(i);
      if (sent && slot(i).measured && !w_.done_) ++tally_.handed_back;
      w_.hand_back(slot(i), sent);
    }
  }
  w_.in_flight_ -= count_;
  state_ = State::kIdle;
  want_write_ = false;
  head_ = count_ = unwritten_ = 0;
  write_offset_ = 0;
  carry_.clear();
  parser_.reset(w_.run_.request.head);
}

template <class S>
void Connection<S>::check_timeout(TimePoint now, Duration timeout) {
  if (state_ == State::kConnecting && now - connect_start_ > timeout) {
    fail(Failure::kConnect, ETIMEDOUT);
  } else if (state_ == State::kOpen && count_ > 0 && now - ring_[head_].sent > timeout) {
    fail(Failure::kTimeout, ETIMEDOUT);
  }
}

// ---------------------------------------------------------------- PaceTimer

// Wakes the loop when the next scheduled request is due. A timerfd, not a
// scheduler Timer: epoll_wait's millisecond timeout would add up to 1 ms to
// every corrected latency; the timerfd fires to the microsecond.
template <class S>
class Worker<S>::PaceTimer final : public hellepoll::Task {
 public:
  explicit PaceTimer(Worker<S>& w) : w_(w), fd_(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)) {
    if (fd_) w_.sched_.add(fd_.get(), this, hellepoll::kReadable);
  }
  ~PaceTimer() override {
    if (fd_) w_.sched_.forget(fd_.get());
  }
  bool ok() const { return static_cast<bool>(fd_); }

  void arm(TimePoint t) {
    if (t == armed_) return;  // the common case: already set for this time
    armed_ = t;
    // steady_clock is CLOCK_MONOTONIC on Linux.
    const int64_t ns = std::max<int64_t>(
        1, std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
    itimerspec its{};
    its.it_value.tv_sec = ns / 1'000'000'000;
    its.it_value.tv_nsec = ns % 1'000'000'000;
    timerfd_settime(fd_.get(), TFD_TIMER_ABSTIME, &its, nullptr);
  }

  void on_readable() override {
    uint64_t expirations;
    const ssize_t r = ::read(fd_.get(), &expirations, sizeof expirations);
    (void)r;
    mark_sated();  // one read drains a timerfd
    armed_ = TimePoint{};
    w_.dispatch();
  }
  std::string_view task_name() const override { return "loadgen-pace"; }

 private:
  Worker<S>& w_;
  hellepoll::UniqueFd fd_;
  TimePoint armed_{};
};

// ---------------------------------------------------------------- Worker

template <class S>
Worker<S>::Worker(Run& run, uint32_t index, uint32_t first_connection, uint32_t connections, uint64_t quota,
                  double rate)
    : run_(run),
      cfg_(run.config),
      index_(index),
      quota_(quota),
      rate_(rate),
      ready_(connections, nullptr),
      rbuf_(256 * 1024),
      sweep_timer_(sched_, [this] { sweep(); }),
      warmup_timer_(sched_, [this] { begin_measuring(); }),
      end_timer_(sched_, [this] { begin_drain(); }),
      drain_timer_(sched_, [this] { finish(); }) {
  if (rate_mode()) pace_ = std::make_unique<PaceTimer>(*this);
  if (run_.end) {
    timeline_cap_ = static_cast<uint64_t>(std::ceil(to_seconds(*run_.end - run_.measure_start)));
    timeline_cap_ = timeline_cap_ > 0 ? timeline_cap_ - 1 : 0;
    stats_.timeline.reserve(timeline_cap_ + 1);
  }
  conns_.reserve(connections);
  for (uint32_t i = 0; i < connections; ++i) {
    // Spread loopback connections over 127.0.0.x from the start, a few
    // thousand per address: with most of one address's ephemeral ports in
    // use, each connect() scans the port range for a free one, and opening
    // 20k connections from one address takes seconds of kernel time.
    uint32_t source = 0;
    if (run_.target.loopback_v4) {
      source = std::min<uint32_t>((first_connection + i) / kConnectionsPerSource, kMaxSourceIndex);
    }
    conns_.push_back(std::make_unique<Conn>(*this, cfg_.pipeline, source));
  }
}

template <class S>
Worker<S>::~Worker() = default;

template <class S>
void Worker<S>::run() {
  // Timer slack defaults to 50 us; the pacing timerfd should fire on time.
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
  if (rate_mode() && !pace_->ok()) {
    run_.fail_run(std::string("timerfd_create failed: ") + std::strerror(errno));
    return;
  }
  const TimePoint now = sched_.refresh_now();
  if (run_.measure_start > now) {
    warmup_timer_.start(run_.measure_start - now);
  } else {
    begin_measuring();
  }
  if (run_.end) end_timer_.start(*run_.end - now);
  const Duration period = cfg_.timeout > Duration::zero()
                              ? std::clamp<Duration>(cfg_.timeout / 10, milliseconds(1), milliseconds(100))
                              : Duration(milliseconds(100));
  sweep_timer_.start_periodic(period);
  if (rate_mode()) {
    // Threads interleave: thread i starts i / (total rate) later.
    const double total = rate_ * run_.config.threads;
    schedule_ = RateSchedule(
        run_.start + std::chrono::nanoseconds(static_cast<int64_t>(1e9 * index_ / total)), rate_);
  }
  for (auto& c : conns_) {
    if (done_) break;
    c->start();
  }
  if (!done_) sched_.run();
  for (auto& c : conns_) c->close(false);
}

template <class S>
void Worker<S>::begin_measuring() {
  stats_.reset();
  for (auto& c : conns_) c->tally_ = {};
  issued_ = finished_ = 0;
  measuring_ = true;
  thread_cpu(&user0_, &sys0_);
}

template <class S>
void Worker<S>::begin_drain() {
  if (done_) return;
  draining_ = true;
  // At a fixed rate, what fell due before the deadline still goes out as
  // connections free up; nothing due later does.
  if (rate_mode()) {
    due_at_drain_ = schedule_.due_by(Clock::now());
    dispatch();
    if (done_) return;
  }
  if (in_flight_ == 0 && !owes_requests()) {
    finish();
    return;
  }
  drain_timer_.start(cfg_.timeout > Duration::zero() ? cfg_.timeout : Duration(std::chrono::seconds(2)));
}

template <class S>
bool Worker<S>::owes_requests() const {
  return rate_mode() && quota_left() > 0 && (!retry_.empty() || next_due_ < due_at_drain_);
}

template <class S>
void Worker<S>::settle() {
  if (draining_ && in_flight_ == 0 && !owes_requests()) finish();
}

// The requests the run ends with: sent and unanswered, or due and never
// sent. At a fixed rate each enters the latency figures at its age, so a
// server that stops answering cannot shorten the tail by leaving requests
// out of it.
template <class S>
void Worker<S>::count_unfinished(TimePoint now) {
  const bool rate = rate_mode();
  for (auto& c : conns_) {
    for (uint32_t i = 0; i < c->count_; ++i) {
      const RequestSlot& s = c->slot(i);
      if (!s.measured) continue;
      if (rate) stats_.latency.record(nanos(now - s.scheduled));
      if (c->written(i)) {
        ++stats_.unanswered_at_end;
        ++c->tally_.unanswered;
        if (rate) stats_.uncorrected.record(nanos(now - s.sent));
      } else {
        ++stats_.not_sent;
      }
    }
    if (!c->tally_.adds_up()) ++stats_.miscounted_connections;
  }
  if (!rate) return;
  uint64_t left = quota_left();
  for (; !retry_.empty() && left > 0; --left) {
    ++stats_.not_sent;
    stats_.latency.record(nanos(now - retry_.back().scheduled));
    retry_.pop_back();
  }
  const uint64_t due = draining_ ? due_at_drain_ : schedule_.due_by(now);
  for (; next_due_ < due && left > 0; --left) {
    ++stats_.not_sent;
    stats_.latency.record(nanos(now - schedule_.time_of(next_due_++)));
  }
}

template <class S>
void Worker<S>::finish() {
  if (done_) return;
  if (measuring_) {
    const TimePoint now = Clock::now();
    count_unfinished(now);
    stats_.duration_s = to_seconds(now - run_.measure_start);
    double u, s;
    thread_cpu(&u, &s);
    stats_.user_s = u - user0_;
    stats_.sys_s = s - sys0_;
  }
  done_ = true;
  sched_.stop();
}

template <class S>
void Worker<S>::sweep() {
  if (run_.stop.load(std::memory_order_relaxed)) {
    finish();
    return;
  }
  // While draining, the drain's own deadline decides what went unanswered.
  if (cfg_.timeout <= Duration::zero() || draining_) return;
  const TimePoint now = Clock::now();
  for (auto& c : conns_) {
    if (done_) return;
    c->check_timeout(now, cfg_.timeout);
  }
}

template <class S>
void Worker<S>::offer(Conn* c) {
  if (done_) return;
  if (rate_mode()) {
    if (!c->in_ready_) {
      ready_[(ready_head_ + ready_size_) % ready_.size()] = c;
      ++ready_size_;
      c->in_ready_ = true;
    }
    dispatch();
    return;
  }
  if (draining_) return;  // closed loop: nothing new after the deadline
  uint64_t k = c->room();
  if (measuring_) k = std::min(k, quota_left());
  if (k == 0) return;
  // The loop turn's time, no clock read: without --rate latency counts from
  // the send (mark_sent), and this only dates requests not yet written.
  const TimePoint now = sched_.now();
  for (uint64_t i = 0; i < k; ++i) c->push(now, now, measuring_);
  if (measuring_) issued_ += k;
  c->send_or_connect();
}

template <class S>
void Worker<S>::dispatch() {
  if (done_) return;
  // A send that meets a reset reads the answers waiting behind it (flush()),
  // and an answer's offer() comes back here: a nested pass would pop
  // connections from the ready ring under this one. It asks for another
  // pass instead.
  if (dispatching_) {
    dispatch_again_ = true;
    return;
  }
  dispatching_ = true;
  do {
    dispatch_again_ = false;
    hand_out_due();
  } while (dispatch_again_ && !done_);
  dispatching_ = false;
  if (done_ || draining_) return;
  if (ready_size_ > 0 && (!measuring_ || quota_left() > 0)) pace_->arm(schedule_.time_of(next_due_));
}

template <class S>
void Worker<S>::hand_out_due() {
  const TimePoint now = Clock::now();
  uint64_t due = (draining_ ? due_at_drain_ : schedule_.due_by(now)) - next_due_ + retry_.size();
  while (due > 0 && ready_size_ > 0) {
    Conn* c = ready_[ready_head_];
    if (c->can_take()) {
      uint64_t k = std::min<uint64_t>(c->room(), due);
      if (measuring_) k = std::min(k, quota_left());
      if (k == 0) break;  // the quota is spent
      for (uint64_t i = 0; i < k; ++i) {
        TimePoint scheduled;
        if (!retry_.empty()) {
          scheduled = retry_.back().scheduled;
          retry_.pop_back();
        } else {
          scheduled = schedule_.time_of(next_due_++);
        }
        c->push(scheduled, now, measuring_);
      }
      if (measuring_) issued_ += k;
      due -= k;
      c->send_or_connect();
      if (done_) return;
    }
    if (!c->can_take() && ready_[ready_head_] == c) {
      ready_head_ = (ready_head_ + 1) % ready_.size();
      --ready_size_;
      c->in_ready_ = false;
    }
  }
}

template <class S>
void Worker<S>::hand_back(const RequestSlot& s, bool written) {
  if (!s.measured || done_) return;
  if (written) --stats_.requests;  // counted again when it is sent again
  if (rate_mode()) {
    // Still due, also after the deadline: sent again as connections free
    // up, or counted as not sent, at its age, if the run ends first.
    stats_.resent += written;
    retry_.push_back(s);
    return;
  }
  // Closed loop: after the deadline nothing is sent again. The server
  // closed the connection on these (having answered an earlier one with
  // Connection: close), so they were declined, not lost; a connection error
  // that took them is counted as an error.
  if (draining_) return;
  stats_.resent += written;
  --issued_;
}

template <class S>
void Worker<S>::record_response(const RequestSlot& s, int status, bool body_ok, TimePoint now) {
  if (!s.measured || done_) return;  // sent during the warm-up, or after the end
  ++stats_.responses;
  const int cls = status / 100;
  ++stats_.status[cls >= 1 && cls <= 5 ? cls : 0];
  // Each failed request counts once: a wrong status before a wrong body.
  if (cfg_.expect_status != 0 ? status != cfg_.expect_status : cls != 2) {
    stats_.count(cfg_.expect_status != 0 ? Failure::kUnexpectedStatus : Failure::kNon2xx);
  } else if (cfg_.expect_body_given && !body_ok) {
    stats_.count(Failure::kUnexpectedBody);
  }
  // Without --rate there is no schedule: latency is from the send.
  stats_.latency.record(nanos(now - (rate_mode() ? s.scheduled : s.sent)));
  if (rate_mode()) stats_.uncorrected.record(nanos(now - s.sent));
  const uint64_t second = nanos(now - run_.measure_start) / 1'000'000'000;
  stats_.record_second(std::min(second, timeline_cap_));
  ++finished_;
  if (quota_ && finished_ >= quota_) finish();
}

template <class S>
void Worker<S>::record_failure(Failure why, uint64_t lost_requests) {
  if (!measuring_ || done_) return;
  stats_.count(why, std::max<uint64_t>(lost_requests, 1));
  stats_.lost += lost_requests;
  finished_ += lost_requests;
  // A failure that took no sent request (a failed connect, a reset before
  // the first byte went out) still uses one up, so that an -n run against a
  // dead server ends.
  if (lost_requests == 0 && quota_ && issued_ < quota_) {
    ++issued_;
    ++finished_;
  }
  if (quota_ && finished_ >= quota_) finish();
}

template <class S>
void Worker<S>::note_connect_failure(int sys_errno) {
  ++connect_failures_;
  const bool never = !run_.ever_connected.load(std::memory_order_relaxed);
  // Give up early when the target is plainly not there: every connection
  // failed before any ever succeeded, or far more failed in a row than there
  // are connections.
  if ((never && connect_failures_ >= conns_.size()) ||
      connect_failures_ >= std::max<uint64_t>(100, 4 * conns_.size())) {
    run_.fail_run("cannot connect to " + run_.target.text + ": " + std::strerror(sys_errno) + " (" +
                  std::to_string(connect_failures_) + " attempts" +
                  (never ? ", none succeeded" : " in a row") + "); " + connect_hint(sys_errno));
    finish();
  }
}

// ---------------------------------------------------------------- threads

template class Connection<hellepoll::EdgeScheduler>;
template class Worker<hellepoll::EdgeScheduler>;
template class Connection<hellepoll::UringScheduler>;
template class Worker<hellepoll::UringScheduler>;

namespace {

template <class S>
Stats run_on(Run& run) {
  const Config& cfg = run.config;
  std::vector<Stats> stats(cfg.threads);
  std::vector<std::thread> threads;
  uint32_t first = 0;
  for (uint32_t i = 0; i < cfg.threads; ++i) {
    const uint32_t conns = cfg.connections / cfg.threads + (i < cfg.connections % cfg.threads);
    const uint64_t quota = cfg.requests / cfg.threads + (i < cfg.requests % cfg.threads);
    const double rate = cfg.rate / cfg.threads;
    threads.emplace_back([&run, &stats, i, first, conns, quota, rate] {
      // Built, run and destroyed here: an io_uring ring set up with
      // SINGLE_ISSUER takes submissions only from the thread that set it up.
      Worker<S> w(run, i, first, conns, quota, rate);
      w.run();
      stats[i] = w.stats();
    });
    first += conns;
  }
  for (auto& t : threads) t.join();
  Stats total;
  for (const Stats& s : stats) total.merge(s);
  return total;
}

}  // namespace

Stats run_workers(Run& run) {
  switch (run.config.backend) {
    case Backend::kUring:
      return run_on<hellepoll::UringScheduler>(run);
    case Backend::kEpoll:
      break;
  }
  return run_on<hellepoll::EdgeScheduler>(run);
}

}  // namespace loadgen
