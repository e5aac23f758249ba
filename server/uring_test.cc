// UringScheduler's completion API on real sockets: multishot accept,
// multishot receive into the provided-buffer ring, send and sendmsg,
// release/detach, registrations, the batch knob and the debug check.
//
// This machine and CI have io_uring: where UringScheduler::unavailable()
// is not empty, these tests fail (the constructor aborts with the line); they
// never skip.
#include "server/backend/uring.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "server/fd.h"
#include "server/testing/loopback.h"

namespace hellepoll {
namespace {

using std::chrono::milliseconds;

struct Pair {
  Pair() {
    int sv[2];
    EXPECT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv));
    a.reset(sv[0]);
    b.reset(sv[1]);
  }
  UniqueFd a, b;  // a: the peer, the test's end; b: the scheduler's
};

// Runs turns until `done()` (true) or 5 s have passed (false).
bool run_until(UringScheduler& s, const std::function<bool()>& done) {
  const auto until = Clock::now() + std::chrono::seconds(5);
  while (!done()) {
    if (Clock::now() > until) return false;
    s.run_once(milliseconds(10));
  }
  return true;
}

// Runs `n` turns of at most 10 ms: time for anything that should not come.
void run_turns(UringScheduler& s, int n) {
  for (int i = 0; i < n; ++i) s.run_once(milliseconds(10));
}

// Every byte `fd` has until EOF (non-blocking: waits with poll, 5 s at most).
// Ends with "<EOF>" when the peer closed, "<RESET>" when it closed with
// input unread, "<ERR>" on another error, "<TIMEOUT>".
std::string read_to_eof(int fd) {
  std::string got;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      got.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n == 0) return got + "<EOF>";
    if (errno == ECONNRESET) return got + "<RESET>";
    if (errno != EAGAIN) return got + "<ERR>";
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 5000) != 1) return got + "<TIMEOUT>";
  }
}

// What is readable on `fd` now, without waiting.
std::string drain(int fd) {
  std::string got;
  char buf[65536];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) got.append(buf, static_cast<size_t>(n));
  return got;
}

// A connection that records every completion it hears. Once released
// (on_released()), or once the test says it is gone, any call is a failure.
class Conn : public Task {
 public:
  void on_readable() override { ADD_FAILURE() << "on_readable() on a completion task"; }
  size_t on_received(std::string_view bytes) override {
    check("on_received");
    in.append(bytes);
    return bytes.size();
  }
  void on_receive_end(int err) override {
    check("on_receive_end");
    ends.push_back(err);
  }
  void on_sent(int result) override {
    check("on_sent");
    sent.push_back(result);
  }
  void on_released() override {
    check("on_released");
    ++released;
  }
  std::string_view task_name() const override { return "test-conn"; }

  std::string in;
  std::vector<int> ends;
  std::vector<int> sent;
  int released = 0;
  bool gone = false;  // the test released or detached it: nothing but on_released() may come

 private:
  void check(const char* what) {
    EXPECT_EQ(0, released) << what << "() after on_released()";
    if (std::string_view(what) != "on_released") {
      EXPECT_FALSE(gone) << what << "() after release()";
    }
  }
};

TEST(Uring, IsAvailableHere) {
  EXPECT_EQ("", UringScheduler::unavailable());
  EXPECT_EQ("", UringScheduler::unavailable({.buffers = 8, .buffer_size = 64}));
}

// ---------------------------------------------------------------- accept

// A loopback listening socket on an ephemeral port.
struct Listener {
  Listener() : fd(testing::listen_loopback(64, &port, SOCK_NONBLOCK)), addr(testing::loopback(port)) {
    EXPECT_TRUE(fd);
  }
  // A client connected to it (the handshake completes in the backlog).
  UniqueFd connect() const {
    UniqueFd c(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    EXPECT_EQ(0, ::connect(c.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr));
    return c;
  }
  uint16_t port = 0;
  UniqueFd fd;
  sockaddr_in addr;
};

class Acceptor : public Task {
 public:
  void on_readable() override { ADD_FAILURE() << "on_readable() on an accepting task"; }
  void on_accepted(int result) override {
    EXPECT_FALSE(gone) << "on_accepted() after unwatch_accept()";
    ASSERT_GE(result, 0) << "accept failed: " << std::strerror(-result);
    accepted.emplace_back(result);
  }
  std::vector<UniqueFd> accepted;
  bool gone = false;
};

TEST(UringAccept, OneWatchAcceptsEveryConnection) {
  UringScheduler s;
  Listener l;
  Acceptor a;
  ASSERT_TRUE(s.watch_accept(l.fd.get(), &a, /*exclusive=*/false));
  EXPECT_EQ(1u, s.task_count());
  std::vector<UniqueFd> clients;
  for (int round = 1; round <= 3; ++round) {  // one at a time, then two at once
    clients.push_back(l.connect());
    if (round == 3) clients.push_back(l.connect());
    const size_t want = clients.size();
    ASSERT_TRUE(run_until(s, [&] { return a.accepted.size() == want; })) << a.accepted.size();
  }
  EXPECT_EQ(1u, s.registrations());  // the one multishot accept, not re-armed per connection
  // Each accepted fd is a live, non-blocking connection to its client.
  for (size_t i = 0; i < clients.size(); ++i) {
    ASSERT_EQ(1, ::write(clients[i].get(), "x", 1));
  }
  for (const UniqueFd& fd : a.accepted) {
    EXPECT_NE(0, ::fcntl(fd.get(), F_GETFL) & O_NONBLOCK);
    pollfd p{fd.get(), POLLIN, 0};
    EXPECT_EQ(1, ::poll(&p, 1, 5000));
    EXPECT_EQ("x", drain(fd.get()));
  }
}

TEST(UringAccept, UnwatchStopsItAndClosesWhatItAcceptedMeanwhile) {
  UringScheduler s;
  Listener l;
  Acceptor a;
  ASSERT_TRUE(s.watch_accept(l.fd.get(), &a, false));
  UniqueFd first = l.connect();
  ASSERT_TRUE(run_until(s, [&] { return a.accepted.size() == 1; }));
  // A connection the kernel accepts while the loop is away (the accept's
  // completion waits for the next enter), then the listener is unwatched:
  // whether the accept or the cancel wins, the client is never left open.
  UniqueFd raced = l.connect();
  s.unwatch_accept(l.fd.get());
  a.gone = true;
  EXPECT_EQ(0u, s.task_count());
  ASSERT_TRUE(run_until(s, [&] { return s.registrations() == 0; }));
  UniqueFd later = l.connect();  // in the backlog: nobody accepts it
  run_turns(s, 5);
  EXPECT_EQ(1u, a.accepted.size());
  l.fd.reset();  // a connection still in the backlog is reset
  const std::string r = read_to_eof(raced.get());
  EXPECT_TRUE(r == "<EOF>" || r == "<RESET>") << "the raced connection was leaked: " << r;
  EXPECT_NE("<TIMEOUT>", read_to_eof(later.get()));
}

// Ends the accept on `listener` when woken: from inside a batch that may
// also hold the accept's completions, behind this one.
class AcceptEnder : public Task {
 public:
  AcceptEnder(UringScheduler& s, int listener) : s_(s), listener_(listener) {}
  void on_readable() override {
    if (ended) return;
    ended = true;
    waits = s_.end_accept(listener_);
  }
  bool ended = false;
  bool waits = false;

 private:
  UringScheduler& s_;
  int listener_;
};

class EndingAcceptor : public Acceptor {
 public:
  void on_released() override { ++released; }
  int released = 0;
};

uint16_t local_port(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

uint16_t peer_port(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  ::getpeername(fd, reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

// A graceful stop as a signal arrives: end_accept() is called in the batch
// that holds the accepts of connections made just before. Each connection
// the ring took from the queue is handed to the task, none is closed; the
// rest stay in the backlog (reset when the socket goes); on_released()
// comes once, after the last.
TEST(UringAccept, EndAcceptHandsOnWhatTheRingTookBeforeItsCancelLanded) {
  UringScheduler s;
  Listener l;
  EndingAcceptor a;
  ASSERT_TRUE(s.watch_accept(l.fd.get(), &a, false));
  UniqueFd wake(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  AcceptEnder e(s, l.fd.get());
  ASSERT_TRUE(s.add(wake.get(), &e, EPOLLIN));
  run_turns(s, 1);  // the accept and the poll armed
  // The wake-up first, then the connections: the ender's completion comes
  // ahead of the accepts' in the next batch.
  ASSERT_EQ(0, ::eventfd_write(wake.get(), 1));
  constexpr int kClients = 8;
  std::vector<UniqueFd> clients;
  for (int i = 0; i < kClients; ++i) clients.push_back(l.connect());
  ASSERT_TRUE(run_until(s, [&] { return a.released == 1; }));
  EXPECT_TRUE(e.waits);
  EXPECT_EQ(1u, s.registrations());  // the eventfd's poll
  run_turns(s, 3);
  EXPECT_EQ(1, a.released);
  l.fd.reset();  // what is still in the backlog is reset
  std::vector<uint16_t> served;
  for (const UniqueFd& fd : a.accepted) served.push_back(peer_port(fd.get()));
  size_t reset = 0;
  for (const UniqueFd& c : clients) {
    if (std::find(served.begin(), served.end(), local_port(c.get())) != served.end()) continue;
    const std::string r = read_to_eof(c.get());
    EXPECT_EQ("<RESET>", r) << "a connection the ring accepted was closed unserved";
    ++reset;
  }
  EXPECT_EQ(static_cast<size_t>(kClients), a.accepted.size() + reset);
  std::printf("end_accept: %zu handed on, %zu left in the backlog\n", a.accepted.size(), reset);
  s.remove(wake.get());
}

// ---------------------------------------------------------------- receive

TEST(UringReceive, BytesArriveInOrder) {
  UringScheduler s;
  Pair p;
  Conn c;
  const auto r = s.attach(p.b.get(), &c);
  s.receive(r);
  ASSERT_EQ(5, ::write(p.a.get(), "hello", 5));
  ASSERT_TRUE(run_until(s, [&] { return c.in == "hello"; })) << c.in;
  ASSERT_EQ(6, ::write(p.a.get(), " world", 6));
  ASSERT_TRUE(run_until(s, [&] { return c.in == "hello world"; })) << c.in;
  EXPECT_TRUE(s.receiving(r));
  EXPECT_TRUE(c.ends.empty());
}

// 8 buffers of 64 bytes and 1 MiB to receive: the receive runs out of
// buffers (ENOBUFS) again and again; each time they are recycled and it is
// armed again, and every byte arrives, in order.
TEST(UringReceive, ManyMoreBytesThanThePoolArriveCompleteAndInOrder) {
  UringScheduler s({.buffers = 8, .buffer_size = 64});
  Pair p;
  Conn c;
  s.receive(s.attach(p.b.get(), &c));
  std::string want(1 << 20, '\0');
  for (size_t i = 0; i < want.size(); ++i) want[i] = static_cast<char>('a' + (i * 7 + i / 251) % 26);
  size_t written = 0;
  const bool done = run_until(s, [&] {
    ssize_t n = ::write(p.a.get(), want.data() + written, want.size() - written);
    if (n > 0) written += static_cast<size_t>(n);
    return c.in.size() == want.size();
  });
  ASSERT_TRUE(done) << c.in.size() << " of " << want.size() << " bytes";
  EXPECT_TRUE(c.in == want) << "bytes lost, repeated or out of order";
  EXPECT_TRUE(c.ends.empty());
}

TEST(UringReceive, PeerCloseEndsItWithZero) {
  UringScheduler s;
  Pair p;
  Conn c;
  s.receive(s.attach(p.b.get(), &c));
  ASSERT_EQ(4, ::write(p.a.get(), "last", 4));
  p.a.reset();
  ASSERT_TRUE(run_until(s, [&] { return !c.ends.empty(); }));
  EXPECT_EQ("last", c.in);
  EXPECT_EQ(std::vector<int>{0}, c.ends);
}

TEST(UringReceive, StopReceivingEndsItWithEcanceledAndReceiveResumes) {
  UringScheduler s;
  Pair p;
  Conn c;
  const auto r = s.attach(p.b.get(), &c);
  s.receive(r);
  run_turns(s, 1);  // armed
  s.stop_receiving(r);
  ASSERT_TRUE(run_until(s, [&] { return !c.ends.empty(); }));
  EXPECT_EQ(std::vector<int>{ECANCELED}, c.ends);
  EXPECT_FALSE(s.receiving(r));
  ASSERT_EQ(4, ::write(p.a.get(), "late", 4));
  run_turns(s, 5);
  EXPECT_EQ("", c.in) << "bytes after stop_receiving()";
  s.receive(r);
  ASSERT_TRUE(run_until(s, [&] { return c.in == "late"; })) << c.in;
  EXPECT_EQ(1u, c.ends.size());
}

// receive() before the cancel of stop_receiving() lands takes the stop
// back: the task hears no end, and bytes go on arriving.
TEST(UringReceive, ReceiveAgainBeforeTheCancelLandsTakesTheStopBack) {
  UringScheduler s;
  Pair p;
  Conn c;
  const auto r = s.attach(p.b.get(), &c);
  s.receive(r);
  run_turns(s, 1);  // armed
  s.stop_receiving(r);
  s.receive(r);
  run_turns(s, 2);  // the cancel lands, the receive is armed again
  ASSERT_EQ(4, ::write(p.a.get(), "more", 4));
  ASSERT_TRUE(run_until(s, [&] { return c.in == "more"; })) << c.in;
  EXPECT_TRUE(c.ends.empty()) << "on_receive_end(" << c.ends[0] << ") though receive() came again";
  EXPECT_TRUE(s.receiving(r));
}

// A task that stops receiving from inside on_received(), as a connection
// pausing for back-pressure does.
class StopsAtFirstBytes : public Conn {
 public:
  StopsAtFirstBytes(UringScheduler& s) : s_(s) {}
  size_t on_received(std::string_view bytes) override {
    if (in.empty()) s_.stop_receiving(reg);
    return Conn::on_received(bytes);
  }
  UringScheduler& s_;
  UringScheduler::Reg reg = UringScheduler::kNoReg;
};

// The input is larger than the pool: in the turn the task stops, the
// multishot receive also ends by running out of buffers (ENOBUFS) before
// its cancel lands. The task is still told that receiving ended.
TEST(UringReceive, StopReceivingIsHeardWhenTheReceiveRanOutOfBuffersMeanwhile) {
  UringScheduler s({.buffers = 8, .buffer_size = 64});
  Pair p;
  StopsAtFirstBytes c(s);
  c.reg = s.attach(p.b.get(), &c);
  s.receive(c.reg);
  run_turns(s, 1);  // armed
  const std::string big(4096, 'x');
  ASSERT_EQ(4096, ::write(p.a.get(), big.data(), big.size()));
  ASSERT_TRUE(run_until(s, [&] { return !c.ends.empty(); })) << "no on_receive_end() after stop_receiving()";
  EXPECT_EQ(std::vector<int>{ECANCELED}, c.ends);
  EXPECT_FALSE(s.receiving(c.reg));
  const size_t got = c.in.size();
  EXPECT_LE(got, 8u * 64u);  // at most the pool, then nothing more
  run_turns(s, 3);
  EXPECT_EQ(got, c.in.size());
  s.receive(c.reg);  // resumes with the rest
  ASSERT_TRUE(run_until(s, [&] { return c.in.size() == big.size(); })) << c.in.size();
}

// A readiness task that stops another registration's receive when woken.
class Stopper : public Task {
 public:
  Stopper(UringScheduler& s, int fd, UringScheduler::Reg victim) : s_(s), fd_(fd), victim_(victim) {}
  void on_readable() override {
    char buf[64];
    while (::read(fd_, buf, sizeof buf) > 0) {
    }
    mark_sated();
    s_.stop_receiving(victim_);
  }

 private:
  UringScheduler& s_;
  int fd_;
  UringScheduler::Reg victim_;
};

// The receive runs out of buffers, and in the same turn, after that, another
// task stops it: no cancel is needed, and the task is told all the same.
TEST(UringReceive, StopReceivingAfterTheReceiveRanOutOfBuffersIsHeard) {
  UringScheduler s({.buffers = 8, .buffer_size = 64});
  Pair p, wake;
  Conn c;
  const auto r = s.attach(p.b.get(), &c);
  s.receive(r);
  Stopper stopper(s, wake.b.get(), r);
  ASSERT_TRUE(s.add(wake.b.get(), &stopper, kReadable));
  run_turns(s, 1);  // armed
  const std::string big(4096, 'x');
  ASSERT_EQ(4096, ::write(p.a.get(), big.data(), big.size()));
  ASSERT_EQ(1, ::write(wake.a.get(), "!", 1));  // its completion comes after the receive's
  ASSERT_TRUE(run_until(s, [&] { return !c.ends.empty(); })) << "no on_receive_end() after stop_receiving()";
  EXPECT_EQ(std::vector<int>{ECANCELED}, c.ends);
  EXPECT_FALSE(s.receiving(r));
  const size_t got = c.in.size();
  run_turns(s, 3);
  EXPECT_EQ(got, c.in.size()) << "bytes after on_receive_end(ECANCELED)";
  s.receive(r);
  ASSERT_TRUE(run_until(s, [&] { return c.in.size() == big.size(); })) << c.in.size();
  s.remove(wake.b.get());
}

// ---------------------------------------------------------------- readiness

// Counts readiness calls; reads until EAGAIN (a multishot poll reports a
// wake-up once).
class Watcher : public Task {
 public:
  explicit Watcher(int fd) : fd_(fd) {}
  void on_readable() override {
    ++readable;
    char buf[64];
    while (::read(fd_, buf, sizeof buf) > 0) {
    }
    mark_sated();
  }
  void on_writable() override { ++writable; }
  int readable = 0;
  int writable = 0;

 private:
  int fd_;
};

// modify() changes what the multishot poll waits for, in place.
TEST(UringReadiness, ModifyChangesTheInterest) {
  UringScheduler s;
  Pair p;
  Watcher w(p.b.get());
  ASSERT_TRUE(s.add(p.b.get(), &w, kReadable));
  run_turns(s, 2);
  EXPECT_EQ(0, w.readable);
  EXPECT_EQ(0, w.writable);  // writable, but not asked
  ASSERT_TRUE(s.modify(p.b.get(), kReadable | kWritable));
  ASSERT_TRUE(run_until(s, [&] { return w.writable > 0; }));
  ASSERT_TRUE(s.modify(p.b.get(), kReadable));
  run_turns(s, 2);
  const int writable = w.writable;
  ASSERT_EQ(1, ::write(p.a.get(), "x", 1));  // a wake-up: readable only
  ASSERT_TRUE(run_until(s, [&] { return w.readable > 0; }));
  run_turns(s, 2);
  EXPECT_EQ(writable, w.writable);
  EXPECT_FALSE(s.modify(p.a.get(), kReadable)) << "modify() of an fd never added";
  s.remove(p.b.get());
  ASSERT_TRUE(run_until(s, [&] { return s.registrations() == 0; }));
}

// ---------------------------------------------------------------- send

TEST(UringSend, SendAndSendmsgReportTheBytesSent) {
  UringScheduler s;
  Pair p;
  Conn c;
  const auto r = s.attach(p.b.get(), &c);
  s.send(r, "hello ", 6, MSG_NOSIGNAL);
  char part1[] = "io", part2[] = "_", part3[] = "uring";
  iovec iov[] = {{part1, 2}, {part2, 1}, {part3, 5}};
  msghdr m{};
  m.msg_iov = iov;
  m.msg_iovlen = 3;
  s.sendmsg(r, &m, MSG_NOSIGNAL);
  ASSERT_TRUE(run_until(s, [&] { return c.sent.size() == 2; }));
  EXPECT_EQ((std::vector<int>{6, 8}), c.sent);
  EXPECT_EQ("hello io_uring", drain(p.a.get()));
}

TEST(UringSend, AFailedSendReportsMinusErrno) {
  UringScheduler s;
  Pair p;
  Conn c;
  const auto r = s.attach(p.b.get(), &c);
  p.a.reset();
  s.send(r, "x", 1, MSG_NOSIGNAL);
  ASSERT_TRUE(run_until(s, [&] { return c.sent.size() == 1; }));
  EXPECT_EQ(-EPIPE, c.sent[0]);
}

// A send larger than the socket's buffers completes with the count it
// sent, as write() and writev() do; the caller sends the rest.
struct PartialCase {
  const char* name;
  bool vectored;
};

class UringPartialSend : public ::testing::TestWithParam<PartialCase> {};

TEST_P(UringPartialSend, ReportsTheCountAndTheRestCanBeResubmitted) {
  UringScheduler s;
  Pair p;
  const int small = 4096;
  ASSERT_EQ(0, ::setsockopt(p.b.get(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small));
  ASSERT_EQ(0, ::setsockopt(p.a.get(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small));
  Conn c;
  const auto r = s.attach(p.b.get(), &c);
  std::string out(1 << 20, '\0');
  for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<char>(i % 251);
  size_t sent = 0;
  int partial = 0;
  iovec iov[2];
  msghdr m{};
  auto submit = [&] {
    const size_t left = out.size() - sent;
    if (!GetParam().vectored) {
      s.send(r, out.data() + sent, left, MSG_NOSIGNAL);
      return;
    }
    // Two iovecs: the first half of what is left, then the rest.
    iov[0] = {out.data() + sent, left / 2};
    iov[1] = {out.data() + sent + left / 2, left - left / 2};
    m.msg_iov = iov;
    m.msg_iovlen = 2;
    s.sendmsg(r, &m, MSG_NOSIGNAL);
  };
  submit();
  std::string got;
  const bool done = run_until(s, [&] {
    got += drain(p.a.get());
    if (c.sent.empty()) return false;
    const int res = c.sent.back();
    c.sent.clear();
    EXPECT_GE(res, 0) << std::strerror(-res);
    if (res < 0) return true;
    const size_t left = out.size() - sent;
    EXPECT_LE(static_cast<size_t>(res), left);
    if (static_cast<size_t>(res) < left) ++partial;
    sent += static_cast<size_t>(res);
    if (sent < out.size()) submit();
    return sent == out.size();
  });
  ASSERT_TRUE(done) << sent << " of " << out.size();
  got += drain(p.a.get());
  EXPECT_LT(0, partial) << "every send completed whole: the test proves nothing";
  EXPECT_EQ(out.size(), got.size());
  EXPECT_TRUE(got == out) << "bytes lost, repeated or out of order";
}

INSTANTIATE_TEST_SUITE_P(Calls, UringPartialSend,
                         ::testing::Values(PartialCase{"Send", false}, PartialCase{"Sendmsg", true}),
                         [](const auto& info) { return info.param.name; });

// ---------------------------------------------------------------- release

// Sends queued before release() are issued before the close: the peer reads
// every byte, then EOF. The task hears on_released() once and nothing else.
TEST(UringRelease, ClosesAfterTheQueuedSends) {
  UringScheduler s;
  Pair p;
  Conn c;
  const auto r = s.attach(p.b.get(), &c);
  s.receive(r);
  run_turns(s, 1);  // the receive armed: release() cancels it
  s.send(r, "abc", 3, MSG_NOSIGNAL);
  s.send(r, "def", 3, MSG_NOSIGNAL);
  s.release(r, std::move(p.b));
  c.gone = true;
  ASSERT_TRUE(run_until(s, [&] { return c.released == 1; }));
  EXPECT_EQ("abcdef<EOF>", read_to_eof(p.a.get()));
  run_turns(s, 3);
  EXPECT_EQ(1, c.released);
  EXPECT_TRUE(c.ends.empty());
  EXPECT_EQ(0u, s.registrations());
}

TEST(UringRelease, WithNothingInFlightIsHeardAtOnce) {
  UringScheduler s;
  Conn c;
  const auto r = s.attach(-1, &c);
  s.release(r, UniqueFd());
  EXPECT_EQ(1, c.released);
  EXPECT_EQ(0u, s.registrations());
}

// A task that must not be called: its owner detached and destroyed it.
class Tripwire : public Task {
 public:
  void on_readable() override { called("on_readable"); }
  size_t on_received(std::string_view b) override {
    called("on_received");
    return b.size();
  }
  void on_receive_end(int) override { called("on_receive_end"); }
  void on_sent(int) override { called("on_sent"); }
  void on_released() override { called("on_released"); }

 private:
  [[noreturn]] static void called(const char* what) {
    std::fprintf(stderr, "%s() on a detached task\n", what);
    std::abort();
  }
};

// Destroyed while its receive's cancel, a send and the close are in flight:
// nothing is called on it (ASan also sees any use of the freed task).
TEST(UringRelease, DetachedTaskHearsNothing) {
  UringScheduler s;
  Pair p;
  auto* t = new Tripwire;
  const auto r = s.attach(p.b.get(), t);
  s.receive(r);
  run_turns(s, 1);
  ASSERT_EQ(2, ::write(p.a.get(), "in", 2));  // bytes on their way as it goes
  s.send(r, "out", 3, MSG_NOSIGNAL);
  s.release(r, std::move(p.b));
  s.detach(r);
  delete t;
  ASSERT_TRUE(run_until(s, [&] { return s.registrations() == 0; }));
  // "in" may be left unread at the close: AF_UNIX then resets the peer.
  const std::string peer = read_to_eof(p.a.get());
  EXPECT_TRUE(peer == "out<EOF>" || peer == "out<RESET>") << peer;
}

// What a detached task's queued send reads lives until that send is in:
// detach()'s when_done runs after the registration's last completion (the
// server's pooled buffers go with it), or as the scheduler goes.
TEST(UringRelease, DetachWhenDoneRunsAfterTheLastCompletion) {
  for (const bool destroyed_first : {false, true}) {
    SCOPED_TRACE(destroyed_first ? "scheduler destroyed first" : "completions in");
    auto s = std::make_unique<UringScheduler>();
    Pair p;
    auto* t = new Tripwire;
    const auto r = s->attach(p.b.get(), t);
    auto out = std::make_unique<std::string>("answer");
    s->send(r, out->data(), out->size(), MSG_NOSIGNAL);
    s->release(r, std::move(p.b));
    bool freed = false;
    s->detach(r, [&freed, held = std::shared_ptr<std::string>(std::move(out))] { freed = true; });
    delete t;
    EXPECT_FALSE(freed) << "freed while its send was queued";
    if (destroyed_first) {
      s.reset();
    } else {
      ASSERT_TRUE(run_until(*s, [&] { return s->registrations() == 0; }));
      EXPECT_EQ("answer<EOF>", read_to_eof(p.a.get()));
    }
    EXPECT_TRUE(freed);
  }
}

TEST(UringRelease, RegistrationsReturnToZero) {
  UringScheduler s;
  EXPECT_EQ(0u, s.registrations());
  constexpr int kConns = 16;
  std::vector<Pair> pairs(kConns);
  std::vector<Conn> conns(kConns);
  std::vector<UringScheduler::Reg> regs;
  for (int i = 0; i < kConns; ++i) {
    regs.push_back(s.attach(pairs[i].b.get(), &conns[i]));
    s.receive(regs.back());
    if (i % 2) s.send(regs.back(), "x", 1, MSG_NOSIGNAL);
  }
  run_turns(s, 1);
  EXPECT_EQ(static_cast<size_t>(kConns), s.registrations());
  for (int i = 0; i < kConns; ++i) {
    s.release(regs[i], std::move(pairs[i].b));
    conns[i].gone = true;
  }
  ASSERT_TRUE(run_until(s, [&] { return s.registrations() == 0; })) << s.registrations();
  for (const Conn& c : conns) EXPECT_EQ(1, c.released);
}

// stop_receiving(), release() and at once a new connection: the old slot is
// busy until its cancel and close complete, so the new task never hears
// the old task's completions (a late ECANCELED, its bytes).
TEST(UringRelease, ASlotIsNotReusedWhileACancelIsInFlight) {
  UringScheduler s;
  Pair old_pair, new_pair;
  Conn old_conn, new_conn;
  const auto old_reg = s.attach(old_pair.b.get(), &old_conn);
  s.receive(old_reg);
  run_turns(s, 1);
  ASSERT_EQ(3, ::write(old_pair.a.get(), "old", 3));
  s.stop_receiving(old_reg);
  s.release(old_reg, std::move(old_pair.b));
  old_conn.gone = true;
  const auto new_reg = s.attach(new_pair.b.get(), &new_conn);
  EXPECT_NE(old_reg, new_reg);
  s.receive(new_reg);
  ASSERT_EQ(3, ::write(new_pair.a.get(), "new", 3));
  ASSERT_TRUE(run_until(s, [&] { return old_conn.released == 1 && new_conn.in == "new"; }));
  run_turns(s, 3);
  EXPECT_EQ("new", new_conn.in);
  EXPECT_TRUE(new_conn.ends.empty()) << "the new task heard the old one's end: " << new_conn.ends[0];
  EXPECT_EQ(1u, s.registrations());
  // The old slot is free again now, and reused.
  Pair third;
  Conn third_conn;
  EXPECT_EQ(old_reg, s.attach(third.b.get(), &third_conn));
}

// The queued close of a released connection is done when the scheduler is
// destroyed on a thread other than the one that ran it (which alone may
// submit): the fd is closed and the peer sees EOF.
TEST(UringRelease, QueuedCloseIsDoneWhenDestroyedOnAnotherThread) {
  auto s = std::make_unique<UringScheduler>();
  Pair p;
  Conn c;
  const int fd = p.b.get();
  std::thread loop([&] {
    s->add_callback([&] {
      // Queued in the loop's last turn: run() returns without submitting it.
      s->release(s->attach(p.b.get(), &c), std::move(p.b));
      s->stop();
    });
    EXPECT_TRUE(s->run());
  });
  loop.join();
  EXPECT_EQ(0, c.released);  // the close was queued, not done
  EXPECT_NE(-1, ::fcntl(fd, F_GETFD));
  s.reset();
  errno = 0;
  EXPECT_EQ(-1, ::fcntl(fd, F_GETFD));
  EXPECT_EQ(EBADF, errno);
  EXPECT_EQ("<EOF>", read_to_eof(p.a.get()));
}

// Destroyed on the test thread, a scheduler that ran on another thread
// leaves the test thread's own ring alone: its ring fd was registered in the
// other thread, at an index this thread's own registered ring may also use.
TEST(UringRelease, DestroyedOnAnotherThreadLeavesThisThreadsRingAlone) {
  auto other = std::make_unique<UringScheduler>();
  std::thread loop([&] {
    other->add_callback([&] { other->stop(); });
    EXPECT_TRUE(other->run());
  });
  loop.join();
  UringScheduler mine;
  Pair p;
  Conn c;
  mine.receive(mine.attach(p.b.get(), &c));
  ASSERT_TRUE(mine.run_once(milliseconds(1)));  // enabled here, its ring fd registered here
  other.reset();
  ASSERT_EQ(2, ::write(p.a.get(), "ok", 2));
  EXPECT_TRUE(run_until(mine, [&] { return c.in == "ok"; })) << "this thread's ring stopped working";
}

// As above, but the connection's receive is armed in the kernel (it holds
// the socket) and the thread that ran the scheduler is still alive when it
// is destroyed elsewhere: the socket is closed all the same.
TEST(UringRelease, ArmedConnectionIsClosedWhenDestroyedOnAnotherThreadWhileItsThreadLives) {
  auto s = std::make_unique<UringScheduler>();
  Pair p;
  Conn c;
  const int fd = p.b.get();
  std::promise<void> stopped, may_exit;
  std::thread loop([&] {
    UringScheduler::Reg r = UringScheduler::kNoReg;
    s->add_callback([&] {
      r = s->attach(p.b.get(), &c);
      s->receive(r);
    });
    s->call_later(milliseconds(20), [&] {  // turns later: the receive is armed
      s->release(r, std::move(p.b));
      s->stop();
    });
    EXPECT_TRUE(s->run());
    stopped.set_value();
    may_exit.get_future().wait();  // a worker thread that lives on
  });
  stopped.get_future().wait();
  s.reset();
  errno = 0;
  EXPECT_EQ(-1, ::fcntl(fd, F_GETFD));
  EXPECT_EQ(EBADF, errno);
  EXPECT_EQ("<EOF>", read_to_eof(p.a.get())) << "the armed receive kept the socket open";
  may_exit.set_value();
  loop.join();
}

// ---------------------------------------------------------------- batch

TEST(UringBatch, ASingleMessageIsServedPromptly) {
  UringScheduler::Options o{.batch = 4};
  UringScheduler s(o);
  Pair p;
  Conn c;
  s.receive(s.attach(p.b.get(), &c));
  run_turns(s, 1);
  const auto t0 = Clock::now();
  ASSERT_EQ(4, ::write(p.a.get(), "ping", 4));
  while (c.in.empty() && Clock::now() - t0 < std::chrono::seconds(5)) s.run_once(std::chrono::seconds(1));
  const auto took = Clock::now() - t0;
  EXPECT_EQ("ping", c.in);
  // batch_wait (50 us) and a wide margin for a shared machine; a turn that
  // waited for the whole batch would take the 1 s max_wait.
  EXPECT_LT(took, o.batch_wait + milliseconds(500));
}

// 64 connections with a message each waiting: a batching turn serves many
// of them per kernel entry.
TEST(UringBatch, FewerEntersThanMessagesUnderLoad) {
  UringScheduler s({.batch = 4});
  constexpr int kConns = 64;
  std::vector<Pair> pairs(kConns);
  std::vector<Conn> conns(kConns);
  for (int i = 0; i < kConns; ++i) s.receive(s.attach(pairs[i].b.get(), &conns[i]));
  run_turns(s, 1);  // every receive armed
  for (Pair& p : pairs) ASSERT_EQ(3, ::write(p.a.get(), "msg", 3));
  const uint64_t before = s.enters();
  ASSERT_TRUE(run_until(s, [&] {
    for (const Conn& c : conns) {
      if (c.in != "msg") return false;
    }
    return true;
  }));
  const uint64_t enters = s.enters() - before;
  EXPECT_LT(enters, static_cast<uint64_t>(kConns)) << enters << " enters for " << kConns << " messages";
}

// ---------------------------------------------------------------- debug check

class ShortTaker : public Conn {
 public:
  size_t on_received(std::string_view bytes) override { return bytes.size() - 1; }
  std::string_view task_name() const override { return "short-taker"; }
};

TEST(UringDeathTest, ATaskThatTakesFewerBytesThanGivenIsNamed) {
#ifdef NDEBUG
  GTEST_SKIP() << "the check is compiled out under NDEBUG";
#else
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        UringScheduler s;
        Pair p;
        ShortTaker t;
        s.receive(s.attach(p.b.get(), &t));
        (void)!::write(p.a.get(), "hello", 5);
        run_until(s, [] { return false; });
      },
      "task 'short-taker' \\(fd [0-9]+\\) took 4 of 5 received bytes");
#endif
}

}  // namespace
}  // namespace hellepoll
