// Worker: one load generator thread: a Scheduler, its connections, its Stats.
//
// Like wrk's threads on redis ae: each Worker owns an event loop and a share
// of the connections, quota and rate; workers share nothing mutable but the
// few atomics in Run. A Connection is a Task that writes pre-rendered request
// bytes and parses responses where they were read (the worker's read buffer,
// or io_uring's provided buffer), copying only an incomplete head.
//
// Closed loop (no --rate): a connection keeps `pipeline` requests in flight;
// after each read it tops up with one write. Open loop (--rate): requests
// become due on a fixed schedule (pacing.h); a due request goes to the first
// connection with room, a timerfd wakes the loop for the next due time, and
// latency counts from the due time.
//
// Worker and Connection are templates on the scheduler (--backend), so that
// every call into it is direct, as in the server's Connection<Io>:
// - EdgeScheduler (epoll): edge-triggered readiness (see Worker::sched_ for
//   why); a connection reads until a short read, writes with send().
// - UringScheduler (io_uring): completions. Connecting is readiness (a poll
//   for EPOLLOUT); once connected the socket is attach()ed, one multishot
//   receive delivers responses from the scheduler's provided buffers
//   (on_received(), parsed in place, an incomplete head copied to the
//   carry), and sends are queued in the turn and go out with the next wait
//   (one io_uring_enter a turn), one in flight per connection, completed by
//   on_sent(). A close hands the fd to the ring (release()).
//
// At the deadline a worker stops issuing and drains: it waits up to
// --timeout for the answers to what is in flight, then counts what is left
// (unanswered at end, not sent) so that no request disappears from the
// figures.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "loadgen/args.h"
#include "loadgen/body_check.h"
#include "loadgen/net.h"
#include "loadgen/pacing.h"
#include "loadgen/request.h"
#include "loadgen/stats.h"
#include "server/backend/epoll.h"
#include "server/backend/uring.h"
#include "server/http/client/response_parser.h"
#include "server/scheduler.h"

namespace loadgen {

using hellepoll::http::client::Framing;
using hellepoll::http::client::ResponseHead;
using hellepoll::http::client::ResponseParser;

// What all workers share. Set up before the threads start.
struct Run {
  Run(const Config& c, const RenderedRequest& r, const Target& t) : config(c), request(r), target(t) {}
  const Config& config;
  const RenderedRequest& request;
  const Target& target;
  hellepoll::TimePoint start{};             // load begins (warm-up included)
  hellepoll::TimePoint measure_start{};     // start + warmup
  std::optional<hellepoll::TimePoint> end;  // measure_start + duration, if timed

  std::atomic<bool> stop{false};  // Ctrl-C, or a fatal error in some worker
  std::atomic<bool> ever_connected{false};
  std::atomic<uint32_t> sources_used{1};  // 127.0.0.x addresses in use

  void fail_run(std::string message);  // records the first message, stops all
  std::string fatal() const;

 private:
  mutable std::mutex mu_;
  std::string fatal_;
};

// One request in flight on a connection.
struct RequestSlot {
  hellepoll::TimePoint scheduled;  // due time (rate) or queueing time
  hellepoll::TimePoint sent;       // when send() took its last byte (queueing time until then)
  bool measured;                   // sent after the warm-up
};

// A connection's own count of its measured requests, checked at the end:
// sent == answered + lost + unanswered + handed_back.
struct ConnectionTally {
  uint64_t sent = 0, answered = 0, lost = 0, unanswered = 0, handed_back = 0;
  bool adds_up() const { return sent == answered + lost + unanswered + handed_back; }
};

template <class Sched>
class Worker;

template <class Sched>
class Connection final : public hellepoll::Task {
 public:
  static constexpr bool kUring = std::is_same_v<Sched, hellepoll::UringScheduler>;

  Connection(Worker<Sched>& w, uint32_t pipeline, uint32_t source);
  ~Connection() override;

  void start();
  void on_readable() override;
  void on_writable() override;
  size_t on_received(std::string_view bytes) override;
  void on_receive_end(int err) override;
  void on_sent(int result) override;
  void on_released() override { released_now_ = true; }
  std::string_view task_name() const override { return "loadgen-connection"; }

 private:
  friend class Worker<Sched>;
  enum class State : uint8_t { kIdle, kConnecting, kOpen };
  using Slot = RequestSlot;
  using Tally = ConnectionTally;

  // Requests this connection may still take.
  uint32_t room() const;
  bool can_take() const { return !done_reopening() && room() > 0; }
  bool done_reopening() const { return reopen_.active(); }
  void push(hellepoll::TimePoint scheduled, hellepoll::TimePoint sent, bool measured);
  void send_or_connect();
  // The i-th in-flight slot, oldest first; the newest unwritten_ are not sent.
  Slot& slot(uint32_t i) { return ring_[(head_ + i) % ring_.size()]; }
  bool written(uint32_t i) const { return i < count_ - unwritten_; }
  // The oldest n unwritten slots are now sent, at `when` (nullopt: now).
  void mark_sent(uint32_t n, std::optional<hellepoll::TimePoint> when);
  // The socket took n more bytes of the unwritten requests, queued at `when`.
  void took(size_t n, std::optional<hellepoll::TimePoint> when);

  void connect();
  void finish_connect();
  void flush();
  // One read() behind any carried head bytes, and process() on what came;
  // returns read()'s result; *drained when it emptied the socket.
  ssize_t read_and_process(bool* drained);
  void process(const char* data, size_t len);
  void check_body(const char* data, const ResponseParser::Result& r, bool was_in_body);
  bool on_response(hellepoll::TimePoint now);  // false if the connection was closed
  void on_eof();
  void fail(Failure why, int sys_errno = 0);
  void close(bool hand_back);
  void check_timeout(hellepoll::TimePoint now, hellepoll::Duration timeout);

  Worker<Sched>& w_;
  hellepoll::UniqueFd fd_;
  State state_ = State::kIdle;
  bool want_write_ = false;
  bool in_ready_ = false;          // queued in the worker's ready list (rate mode)
  uint32_t head_ = 0, count_ = 0;  // ring of in-flight slots
  uint32_t unwritten_ = 0;         // newest slots whose bytes are not all written
  size_t write_offset_ = 0;        // bytes of those already written
  uint32_t next_ = 0;              // the rotation's request the oldest of them is (several URLs)
  std::vector<Slot> ring_;
  ResponseParser parser_;
  BodyCheck body_;
  Tally tally_;
  std::string carry_;  // an incomplete response head, kept across reads
  hellepoll::TimePoint connect_start_{};
  hellepoll::Duration backoff_{};
  uint32_t source_;          // source address index (net.h), for loopback targets
  hellepoll::Timer reopen_;  // reconnects outside the event that closed us

  // io_uring only. While connecting the fd is a readiness registration;
  // once open, a completion registration (reg_).
  hellepoll::UringScheduler::Reg reg_ = hellepoll::UringScheduler::kNoReg;
  bool polled_ = false;        // registered for readiness (connecting)
  bool released_now_ = false;  // on_released() came inside release()
  int send_error_ = 0;         // a send met a reset: the receive's end decides
  size_t sending_ = 0;         // bytes of the send in flight (0: none)
};

template <class Sched>
class Worker {
 public:
  // Connections first_connection .. first_connection + connections - 1 of
  // the run are this worker's (the number picks their source address).
  Worker(Run& run, uint32_t index, uint32_t first_connection, uint32_t connections, uint64_t quota,
         double rate);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void run();  // the thread body; returns when done, at the end time, or on stop
  const Stats& stats() const { return stats_; }

 private:
  friend class Connection<Sched>;
  using Conn = Connection<Sched>;
  class PaceTimer;

  bool rate_mode() const { return rate_ > 0; }
  uint64_t quota_left() const { return quota_ ? quota_ - issued_ : UINT64_MAX; }
  void offer(Conn* c);  // c has room: give it requests (now or when due)
  void dispatch();      // rate mode: hand due requests to ready connections
  void hand_out_due();  // one pass of dispatch()
  // An unanswered request, to send again; `written`: it had been sent.
  void hand_back(const RequestSlot& s, bool written);
  void record_response(const RequestSlot& s, int status, bool body_ok, hellepoll::TimePoint now);
  void record_failure(Failure why, uint64_t lost_requests);
  void note_connect_failure(int sys_errno);
  void begin_measuring();
  void begin_drain();          // the deadline: stop issuing, wait for what is in flight
  bool owes_requests() const;  // draining at a fixed rate: due requests not yet sent
  void settle();               // while draining: finish once nothing is in flight or owed
  void count_unfinished(hellepoll::TimePoint now);
  void finish();
  void sweep();

  Run& run_;
  const Config& cfg_;
  // epoll edge-triggered: level-triggered epoll re-polls (tcp_poll) every
  // fd it returned at the next epoll_wait, ~8% of this client's CPU at c25.
  // Built on the thread that runs it (an io_uring ring with SINGLE_ISSUER
  // belongs to the thread that set it up).
  Sched sched_;  // first: outlives the timers and connections below
  const uint32_t index_;
  const uint64_t quota_;  // requests to send in the measured window; 0 = no limit
  const double rate_;
  uint64_t issued_ = 0, finished_ = 0;  // measured requests sent / done
  uint64_t in_flight_ = 0;              // slots on all connections, for the drain
  bool measuring_ = false;
  bool draining_ = false;
  bool done_ = false;
  bool dispatching_ = false, dispatch_again_ = false;  // dispatch() is not re-entered
  uint64_t connect_failures_ = 0;
  double user0_ = 0, sys0_ = 0;

  RateSchedule schedule_;
  uint64_t next_due_ = 0;           // index of the next request on the schedule
  uint64_t due_at_drain_ = 0;       // requests due by the deadline (rate mode)
  std::vector<RequestSlot> retry_;  // scheduled requests handed back by a close
  std::vector<Conn*> ready_;        // ring of connections with room
  size_t ready_head_ = 0, ready_size_ = 0;
  std::unique_ptr<PaceTimer> pace_;

  std::vector<char> rbuf_;
  Stats stats_;
  uint64_t timeline_cap_ = UINT64_MAX;  // last second of a timed run
  hellepoll::Timer sweep_timer_, warmup_timer_, end_timer_, drain_timer_;
  std::vector<std::unique_ptr<Conn>> conns_;  // last: destroyed first
};

// Runs run.config.threads workers on run.config.backend's scheduler, each
// built, run and destroyed on its own thread; returns their Stats merged.
// For --backend uring the caller has checked UringScheduler::unavailable().
Stats run_workers(Run& run);

}  // namespace loadgen
