// Faults against every variant (workers 1): descriptor exhaustion and
// SIGTERM under load. (A killed procs worker being restarted is
// conformance_test's KilledWorkerIsRestarted.)
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <atomic>
#include <cstdlib>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "server/testing/client.h"
#include "server/testing/process.h"
#include "variants/testing/variants_under_test.h"

namespace hellepoll::variants {
namespace {

using hellepoll::testing::Client;
using hellepoll::testing::fetch;
using hellepoll::testing::Reply;
using hellepoll::testing::ServerProcess;
using namespace std::chrono_literals;

constexpr char kGet[] = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
[[maybe_unused]] const bool kPipeIgnored = signal(SIGPIPE, SIG_IGN) != SIG_ERR;

class Faults : public ::testing::TestWithParam<std::string> {
protected:
  std::unique_ptr<ServerProcess> start() {
    auto p = std::make_unique<ServerProcess>(
        "variants/" + GetParam(), std::vector<std::string>{"--workers", "1"});
    EXPECT_TRUE(p->ready()) << p->ready_line();
    return p;
  }
};

// Started with 64 descriptors, the server is offered 100 connections: the
// ones it accepted are served, the rest wait in the backlog (accept
// backs off instead of spinning), and once fds are freed accepting resumes
// and the waiting ones are served too.
TEST_P(Faults, DescriptorExhaustion) {
  rlimit saved{};
  ASSERT_EQ(0, getrlimit(RLIMIT_NOFILE, &saved));
  rlimit low = saved;
  low.rlim_cur = 64;
  ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &low)); // inherited by the server only:
  auto s = start(); // this process is single-threaded here
  ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &saved));
  ASSERT_TRUE(s->ready());

  constexpr int kConns = 100;
  std::vector<std::unique_ptr<Client>> conns;
  for (int i = 0; i < kConns; ++i) {
    conns.push_back(std::make_unique<Client>(s->port(), 5s));
    ASSERT_TRUE(conns.back()->connected()) << i;
    ASSERT_TRUE(conns.back()->send(kGet)) << i;
  }
  for (int i = 0; i < 20; ++i) {
    Reply r = conns[i]->read_reply();
    ASSERT_TRUE(r.ok) << "connection " << i
                      << " was accepted before the limit and must be served";
    ASSERT_TRUE(conns[i]->send(kGet)); // and keeps being served
    ASSERT_EQ("Hello World", conns[i]->read_reply().body) << i;
  }
  for (int i = 0; i < 50; ++i)
    conns[i]->close();
  for (int i = 50; i < kConns; ++i) {
    Reply r = conns[i]->read_reply();
    ASSERT_TRUE(r.ok) << "connection " << i << ": accepting did not resume";
    EXPECT_EQ("Hello World", r.body);
  }
  conns.clear();
  EXPECT_EQ("Hello World", fetch(s->port(), kGet).body);
}

// SIGTERM while clients pipeline batches: no response is lost or cut. Each
// connection sends 50 requests in one write and reads their answers. A
// batch the server read is answered in full, or up to an answer that says
// "Connection: close" (a client then knows the rest were not processed);
// one it never read gets no answer. Nothing in between, and exit 0.
TEST_P(Faults, SigtermUnderLoadLosesNoResponse) {
  auto s = start();
  ASSERT_TRUE(s->ready());
  constexpr int kClients = 4;
  constexpr int kBatch = 50;
  std::string batch;
  for (int i = 0; i < kBatch; ++i)
    batch += kGet;
  struct Tally {
    int batches = 0;
    long answered = 0;
    int last_batch_answers = 0;
    bool ended_with_close = false;
    bool error = false;
    std::string why;
  };
  std::vector<Tally> tallies(kClients);
  std::atomic<int> warmed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kClients; ++t) {
    threads.emplace_back([&, t] {
      Tally &tally = tallies[t];
      Client c(s->port(), 5s);
      for (int round = 0; round < 100000; ++round) {
        if (!c.send(batch))
          break; // reset by a close: this batch was never read
        ++tally.batches;
        int got = 0;
        for (; got < kBatch; ++got) {
          Reply r = c.read_reply();
          if (!r.ok)
            break;
          if (r.status != 200 || r.body != "Hello World") {
            tally.error = true;
            tally.why = "status " + std::to_string(r.status);
          }
          ++tally.answered;
          if (r.header("connection") == "close") {
            tally.ended_with_close = true;
            ++got;
            break;
          }
        }
        tally.last_batch_answers = got;
        if (round == 3)
          ++warmed;
        if (got < kBatch || tally.ended_with_close)
          break;
      }
    });
  }
  while (warmed < kClients)
    std::this_thread::sleep_for(5ms); // every client is mid-stream
  std::this_thread::sleep_for(100ms); // ...and well into it
  ASSERT_TRUE(s->signal(SIGTERM));
  for (auto &t : threads)
    t.join();
  int status = s->wait(10s);
  ASSERT_NE(-1, status) << "did not exit after SIGTERM";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  long total = 0;
  int closes = 0, unread = 0;
  for (int t = 0; t < kClients; ++t) {
    const Tally &x = tallies[t];
    total += x.answered;
    EXPECT_FALSE(x.error) << t << ": " << x.why;
    const bool whole = x.last_batch_answers == kBatch;
    const bool never_read = x.last_batch_answers == 0;
    closes += x.ended_with_close;
    unread += never_read && !x.ended_with_close;
    EXPECT_TRUE(whole || never_read || x.ended_with_close)
        << "client " << t << ": batch " << x.batches << " got "
        << x.last_batch_answers << " of " << kBatch
        << " answers and no Connection: close";
  }
  std::printf("%ld responses on %d connections; %d ended with Connection: "
              "close, %d with a batch never read\n",
              total, kClients, closes, unread);
}

INSTANTIATE_TEST_SUITE_P(Variants, Faults, ::testing::ValuesIn(variants_under_test()),
                         [](const auto &info) { return info.param; });

} // namespace
} // namespace hellepoll::variants
