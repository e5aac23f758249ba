// Listener: accepted sockets arrive non-blocking, with TCP_NODELAY as asked;
// a queue is accepted in batches; close() on io_uring loses no connection.
#include "server/listener.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <chrono>
#include <vector>

#include "server/backend/epoll.h"
#include "server/backend/uring.h"
#include "server/testing/client.h"

namespace hellepoll {
namespace {

using namespace std::chrono_literals;

int sockopt(int fd, int level, int name) {
  int v = -1;
  socklen_t len = sizeof v;
  getsockopt(fd, level, name, &v, &len);
  return v;
}

// A loopback listening socket that accepts without waiting for a request.
UniqueFd loopback_socket() {
  ListenOptions lo;
  lo.host = "127.0.0.1";
  lo.defer_accept = false;
  std::string err;
  UniqueFd s = bind_listen_socket(lo, &err);
  EXPECT_TRUE(s) << err;
  return s;
}

Listener::AcceptFn keep_into(std::vector<UniqueFd>& keep) {
  return [&keep](UniqueFd fd) { keep.push_back(std::move(fd)); };
}

// Accepts `n` connections from real clients and returns the accepted fds'
// TCP_NODELAY and O_NONBLOCK state.
struct Accepted {
  std::vector<int> nodelay;
  std::vector<bool> nonblocking;
};

Accepted accept_some(bool nodelay, int n) {
  LevelScheduler sched;
  Accepted got;
  std::vector<UniqueFd> keep;
  Listener::Options opts;
  opts.nodelay = nodelay;
  Listener listener(
      sched, loopback_socket(),
      [&](UniqueFd fd) {
        got.nodelay.push_back(sockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY));
        got.nonblocking.push_back(fcntl(fd.get(), F_GETFL) & O_NONBLOCK);
        keep.push_back(std::move(fd));
      },
      opts);
  std::vector<testing::Client> clients;
  for (int i = 0; i < n; ++i) clients.emplace_back(listener.port());
  for (int turn = 0; turn < 200 && static_cast<int>(keep.size()) < n; ++turn) sched.run_once(10ms);
  return got;
}

TEST(Listener, AcceptedSocketsInheritNoDelay) {
  Accepted a = accept_some(/*nodelay=*/true, 3);
  ASSERT_EQ(3u, a.nodelay.size());
  for (int v : a.nodelay) EXPECT_NE(0, v);
  for (bool nb : a.nonblocking) EXPECT_TRUE(nb);
}

TEST(Listener, NoDelayOffLeavesNagleOn) {
  Accepted a = accept_some(/*nodelay=*/false, 2);
  ASSERT_EQ(2u, a.nodelay.size());
  for (int v : a.nodelay) EXPECT_EQ(0, v);
}

// Edge-triggered, one edge for a queue of 150 connections: 64 are accepted
// a turn (an accept storm yields like any task) and the rest in the next
// turns without a new edge, through Scheduler::read_again().
TEST(Listener, EdgeTriggeredAcceptsAQueueInBatchesWithoutANewEdge) {
  EdgeScheduler sched;
  std::vector<UniqueFd> keep;
  Listener listener(sched, loopback_socket(), keep_into(keep), Listener::Options{});
  constexpr size_t kQueued = 150;
  std::vector<testing::Client> clients;
  for (size_t i = 0; i < kQueued; ++i) {
    clients.emplace_back(listener.port());
    ASSERT_TRUE(clients.back().connected()) << i;
  }
  std::vector<size_t> after_turn;
  for (int turn = 0; turn < 10 && keep.size() < kQueued; ++turn) {
    sched.run_once(1s);
    after_turn.push_back(keep.size());
  }
  ASSERT_EQ(kQueued, keep.size());
  EXPECT_EQ(std::vector<size_t>({64, 128, 150}), after_turn);
}

// Closes the listener when woken: from inside a batch that may also hold
// accepts the ring made, behind this one.
class Closer : public Task {
 public:
  explicit Closer(Listener& l) : l_(l) {}
  void on_readable() override { l_.close(); }

 private:
  Listener& l_;
};

// On io_uring a graceful stop (the signal's completion) can come in the
// same batch as accepts of connections made just before it: every
// connection made before close() is handed on, those the ring took as
// well as those close() takes from the queue, and ended() comes after.
TEST(Listener, CloseOnIoUringHandsOnWhatTheRingAcceptedMeanwhile) {
  UringScheduler sched;
  std::vector<UniqueFd> keep;
  Listener listener(sched, loopback_socket(), keep_into(keep), Listener::Options{});
  int ended = 0;
  listener.on_ended([&] { ++ended; });
  UniqueFd wake(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  Closer closer(listener);
  ASSERT_TRUE(sched.add(wake.get(), &closer, EPOLLIN));
  sched.run_once(10ms);  // the accept and the poll armed
  ASSERT_EQ(0, ::eventfd_write(wake.get(), 1));
  constexpr size_t kClients = 8;
  std::vector<testing::Client> clients;
  for (size_t i = 0; i < kClients; ++i) clients.emplace_back(listener.port());
  for (int turn = 0; turn < 200 && !listener.ended(); ++turn) sched.run_once(10ms);
  ASSERT_TRUE(listener.ended());
  EXPECT_EQ(1, ended);
  EXPECT_EQ(kClients, keep.size()) << "a connection made before close() was not handed on";
  sched.remove(wake.get());
}

}  // namespace
}  // namespace hellepoll
