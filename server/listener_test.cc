// Listener: accepted sockets arrive non-blocking, with TCP_NODELAY as asked.
#include "server/listener.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <chrono>
#include <vector>

#include "server/backend/epoll.h"
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

// Accepts `n` connections from real clients and returns the accepted fds'
// TCP_NODELAY and O_NONBLOCK state.
struct Accepted {
  std::vector<int> nodelay;
  std::vector<bool> nonblocking;
};

Accepted accept_some(bool nodelay, int n) {
  LevelScheduler sched;
  ListenOptions lo;
  lo.host = "127.0.0.1";
  lo.defer_accept = false;  // accept without waiting for a request
  std::string err;
  Accepted got;
  std::vector<UniqueFd> keep;
  Listener::Options opts;
  opts.nodelay = nodelay;
  Listener listener(
      sched, bind_listen_socket(lo, &err),
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
  ListenOptions lo;
  lo.host = "127.0.0.1";
  lo.defer_accept = false;
  std::string err;
  std::vector<UniqueFd> keep;
  Listener listener(
      sched, bind_listen_socket(lo, &err), [&](UniqueFd fd) { keep.push_back(std::move(fd)); },
      Listener::Options{});
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

}  // namespace
}  // namespace hellepoll
