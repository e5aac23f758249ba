// The process side of the variants, with real binaries: a procs worker that
// cannot start is restarted with backoff and then given up on, and a stop
// refuses new connections at once (every variant, 1 and 2 workers).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "server/testing/process.h"
#include "variants/testing/raw_socket.h"
#include "variants/testing/variants_under_test.h"

namespace hellepoll::variants {
namespace {

using hellepoll::testing::ServerProcess;
using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

// The worker supervisor is one piece of code (workers.cc) shared by every
// procs variant: one of them stands for all.
std::string a_procs_variant() {
  const std::vector<std::string> procs = variants_under_test("HELLEPOLL_PROCS_VARIANTS");
  return procs.empty() ? "" : procs.front();
}

// A procs variant whose every worker exits with status 3 as soon as it is
// forked (the supervisor's test hook): a worker that can never start. Run
// once for the suite; each test reads one side of what it did.
class WorkerThatCannotStart : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string variant = a_procs_variant();
    ASSERT_FALSE(variant.empty());
    ASSERT_EQ(0, setenv("HELLEPOLL_TEST_WORKER_EXIT", "3", 1));  // inherited by the server only:
    const auto t0 = SteadyClock::now();
    ServerProcess s("variants/" + variant, {"--workers", "1"});  // this process is single-threaded here
    ASSERT_EQ(0, unsetenv("HELLEPOLL_TEST_WORKER_EXIT"));
    ASSERT_TRUE(s.ready()) << s.ready_line();
    status_ = s.wait(10s);  // given up after the waits (about 3 s), or never
    ran_for_ = SteadyClock::now() - t0;
    output_ = s.output();
  }

  // The supervisor's line for each death of worker 0: pid, how long it
  // lived, and what followed ("restarting it in 100 ms", "... giving up").
  struct Death {
    std::string pid;
    std::string then;
  };
  static std::vector<Death> deaths() {
    static const std::regex kLine(R"(worker 0 \(pid (\d+)\) exited with 3 after \d+ ms; ([^\n]*))");
    std::vector<Death> out;
    for (std::sregex_iterator it(output_.begin(), output_.end(), kLine), end; it != end; ++it) {
      out.push_back({(*it)[1], (*it)[2]});
    }
    return out;
  }

  static inline int status_ = -1;
  static inline SteadyClock::duration ran_for_{};
  static inline std::string output_;
};

TEST_F(WorkerThatCannotStart, IsRestartedAfterDoublingWaits) {
  EXPECT_EQ(5u, count_of(output_, "restarting it")) << output_.substr(0, 4000);
  const std::vector<Death> d = deaths();
  ASSERT_EQ(6u, d.size()) << output_.substr(0, 4000);
  const char* waits[] = {"100", "200", "400", "800", "1600"};
  for (size_t i = 0; i < 5; ++i)
    EXPECT_EQ(std::string("restarting it in ") + waits[i] + " ms", d[i].then) << i;
  EXPECT_GE(ran_for_, 3100ms) << "the waits it announced were not kept";
}

TEST_F(WorkerThatCannotStart, EachDeathNamesItsOwnWorkerProcess) {
  std::set<std::string> pids;
  for (const Death& d : deaths()) pids.insert(d.pid);
  EXPECT_EQ(6u, pids.size()) << output_.substr(0, 4000);
}

TEST_F(WorkerThatCannotStart, IsGivenUpOnAndTheServerExitsWithStatus1) {
  ASSERT_NE(-1, status_) << "still restarting after 10 s:\n" << output_.substr(0, 4000);
  EXPECT_TRUE(WIFEXITED(status_) && WEXITSTATUS(status_) == 1) << status_;
  ASSERT_FALSE(deaths().empty());
  EXPECT_EQ("it failed to start 6 times in a row: giving up, stopping the server", deaths().back().then);
}

// A worker that served for a while (a second or more) and then died is no
// start-up failure: it is forked again at once, and the line says which
// signal ended it.
TEST(Supervisor, RestartsAWorkerThatLivedAtOnceAndSaysWhatKilledIt) {
  ServerProcess s("variants/" + a_procs_variant(), {"--workers", "1"});
  ASSERT_TRUE(s.ready()) << s.ready_line();
  const std::vector<pid_t> before = s.children();
  ASSERT_EQ(1u, before.size());
  std::this_thread::sleep_for(1100ms);  // not synchronisation: the worker must have lived past start-up
  ASSERT_EQ(0, kill(before[0], SIGKILL));
  const std::regex line("worker 0 \\(pid " + std::to_string(before[0]) +
                        R"(\) killed by signal 9 \([^)]*\) after \d+ ms; restarting it\n)");
  const auto until = SteadyClock::now() + 5s;
  std::vector<pid_t> after;
  do {
    std::this_thread::sleep_for(10ms);  // polling the log and /proc for the replacement
    after = s.children();
  } while ((after.size() != 1 || after == before) && SteadyClock::now() < until);
  EXPECT_TRUE(std::regex_search(s.output(), line)) << s.output();
  ASSERT_EQ(1u, after.size());
  EXPECT_NE(before, after);
}

class Stop : public ::testing::TestWithParam<VariantRun> {};

// Once SIGTERM has begun the stop, a new connection is refused, for as long
// as the drain lasts (here a request in flight holds it up to the 10 s
// --drain-timeout), not completed by the kernel on a socket nobody accepts
// from any more and reset when the server exits.
TEST_P(Stop, RefusesNewConnectionsAtOnce) {
  ServerProcess s("variants/" + GetParam().variant,
                  {"--workers", std::to_string(GetParam().workers), "--drain-timeout", "10s"});
  ASSERT_TRUE(s.ready()) << s.ready_line();
  UniqueFd held = connect_loopback(s.port());
  ASSERT_TRUE(held);
  ASSERT_TRUE(send_all(held.get(), "GET / HTTP/1.1\r\nHost: t\r\n"));  // half a request: in flight
  ASSERT_TRUE(s.signal(SIGTERM));
  const auto until = SteadyClock::now() + 3s;
  int error = 0;
  for (;;) {
    UniqueFd c = connect_loopback(s.port());
    error = c ? 0 : errno;
    if (error == ECONNREFUSED || SteadyClock::now() >= until) break;
    std::this_thread::sleep_for(10ms);  // polling: nothing tells a client that the stop has begun
  }
  EXPECT_EQ(ECONNREFUSED, error) << "still connecting 3 s into the stop: "
                                 << (error ? strerror(error) : "accepted");
  EXPECT_EQ(-1, s.wait(0ms)) << "the server had exited: the refusal proves nothing";
  held.reset();  // ends the drain
}

INSTANTIATE_TEST_SUITE_P(Variants, Stop, ::testing::ValuesIn(variant_runs()),
                         [](const auto& info) { return run_name(info.param); });

}  // namespace
}  // namespace hellepoll::variants
