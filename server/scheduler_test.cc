#include "server/scheduler.h"

#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace hellepoll {
namespace {

using std::chrono::milliseconds;

// A socketpair end that counts how many bytes it read; ET-correct.
class Reader : public Task {
 public:
  Reader(Scheduler& s, int fd, bool drain) : s_(s), fd_(fd), drain_(drain) {}
  void on_readable() override {
    char buf[4];
    for (;;) {
      ssize_t n = ::read(fd_, buf, sizeof buf);
      if (n > 0) {
        bytes += n;
        ++reads;
        if (!drain_) return;
        continue;
      }
      if (n < 0 && errno == EAGAIN) mark_sated();
      return;
    }
  }
  std::string_view task_name() const override { return "test-reader"; }
  Scheduler& s_;
  int fd_;
  bool drain_;
  int bytes = 0;
  int reads = 0;
};

struct Pair {
  Pair() {
    int sv[2];
    EXPECT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv));
    a.reset(sv[0]);
    b.reset(sv[1]);
  }
  UniqueFd a, b;
};

TEST(Scheduler, LevelTriggeredRedeliversUntilDrained) {
  Scheduler s(Trigger::kLevel);
  Pair p;
  Reader r(s, p.b.get(), /*drain=*/false);
  ASSERT_TRUE(s.add(p.b.get(), &r, kReadable));
  ASSERT_EQ(10, ::write(p.a.get(), "0123456789", 10));
  for (int i = 0; i < 5 && r.bytes < 10; ++i) s.run_once(milliseconds(100));
  EXPECT_EQ(10, r.bytes);
  EXPECT_EQ(3, r.reads);  // 4 + 4 + 2: one read per turn, woken each time
}

TEST(Scheduler, EdgeTriggeredTaskReadsUntilEagain) {
  Scheduler s(Trigger::kEdge);
  Pair p;
  Reader r(s, p.b.get(), /*drain=*/true);
  ASSERT_TRUE(s.add(p.b.get(), &r, kReadable));
  ASSERT_EQ(10, ::write(p.a.get(), "0123456789", 10));
  s.run_once(milliseconds(100));
  EXPECT_EQ(10, r.bytes);
}

#ifndef NDEBUG
TEST(SchedulerDeathTest, EdgeTriggeredCheckNamesTaskThatLeftInput) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        Scheduler s(Trigger::kEdge);
        Pair p;
        Reader r(s, p.b.get(), /*drain=*/false);
        s.add(p.b.get(), &r, kReadable);
        (void)!::write(p.a.get(), "0123456789", 10);
        s.run_once(milliseconds(100));
      },
      "edge-triggered task 'test-reader'");
}
#endif

// Reads one 4-byte chunk per call and, edge-triggered, asks to be called
// again rather than read on: a task that yields its turn.
class YieldingReader : public Task {
 public:
  YieldingReader(Scheduler& s, int fd) : s_(s), fd_(fd) {}
  void on_readable() override {
    ++calls;
    char buf[4];
    ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n > 0) {
      bytes += n;
      s_.read_again(fd_, this);
      s_.read_again(fd_, this);  // a second request in one turn is one call
      return;
    }
    if (n < 0 && errno == EAGAIN) mark_sated();
  }
  Scheduler& s_;
  int fd_;
  int calls = 0;
  int bytes = 0;
};

// An edge-triggered scheduler with one YieldingReader registered.
class ReadAgain : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(s.add(p.b.get(), &r, kReadable)); }
  Scheduler s{Trigger::kEdge};
  Pair p;
  YieldingReader r{s, p.b.get()};
};

TEST_F(ReadAgain, CallsTheTaskOnceNextTurnWithoutSleeping) {
  ASSERT_EQ(10, ::write(p.a.get(), "0123456789", 10));
  const auto t0 = std::chrono::steady_clock::now();
  for (int turn = 1; turn <= 3; ++turn) {
    s.run_once(std::chrono::hours(1));  // a pending read_again() must not sleep
    EXPECT_EQ(turn, r.calls);
    EXPECT_EQ(std::min(10, 4 * turn), r.bytes);
  }
  s.run_once(std::chrono::hours(1));  // reads EAGAIN: asks for nothing more
  EXPECT_EQ(4, r.calls);
  EXPECT_FALSE(r.read_again_pending());
  s.run_once(milliseconds(50));  // and is not called again
  EXPECT_EQ(4, r.calls);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, milliseconds(1000));
}

TEST_F(ReadAgain, SkipsARemovedTaskAndWorksAfterItIsAddedBack) {
  ASSERT_EQ(8, ::write(p.a.get(), "01234567", 8));
  s.run_once(milliseconds(100));
  ASSERT_EQ(1, r.calls);
  ASSERT_TRUE(r.read_again_pending());
  s.remove(p.b.get());
  EXPECT_FALSE(r.read_again_pending());
  s.run_once(milliseconds(10));
  EXPECT_EQ(1, r.calls);  // unregistered before its turn: skipped
  // Registered again (a pooled connection), it can queue a new turn.
  ASSERT_TRUE(s.add(p.b.get(), &r, kReadable));
  ASSERT_EQ(1, ::write(p.a.get(), "8", 1));  // a new edge
  s.run_once(milliseconds(100));
  EXPECT_EQ(2, r.calls);
  EXPECT_TRUE(r.read_again_pending());
  s.run_once(milliseconds(100));
  EXPECT_EQ(3, r.calls);
  EXPECT_EQ(9, r.bytes);
}

TEST(Scheduler, RemoveStopsDelivery) {
  Scheduler s;
  Pair p;
  Reader r(s, p.b.get(), true);
  ASSERT_TRUE(s.add(p.b.get(), &r, kReadable));
  EXPECT_EQ(1u, s.task_count());
  s.remove(p.b.get());
  EXPECT_EQ(0u, s.task_count());
  ASSERT_EQ(1, ::write(p.a.get(), "x", 1));
  s.run_once(milliseconds(10));
  EXPECT_EQ(0, r.bytes);
}

TEST(Timer, OneShotFiresOnceInDeadlineOrder) {
  Scheduler s;
  std::vector<int> order;
  Timer t1(s, [&] { order.push_back(1); });
  Timer t2(s, [&] { order.push_back(2); });
  Timer t3(s, [&] { order.push_back(3); });
  t1.start(milliseconds(30));
  t2.start(milliseconds(10));
  t3.start(milliseconds(20));
  auto until = Clock::now() + milliseconds(500);
  while (order.size() < 3 && Clock::now() < until) s.run_once(milliseconds(50));
  EXPECT_EQ((std::vector<int>{2, 3, 1}), order);
  EXPECT_FALSE(t1.active());
}

TEST(Timer, CancelledTimerNeverFires) {
  Scheduler s;
  int fired = 0;
  Timer t(s, [&] { ++fired; });
  t.start(milliseconds(5));
  t.cancel();
  s.run_once(milliseconds(20));
  EXPECT_EQ(0, fired);
}

TEST(Timer, PeriodicCancelsItselfFromItsCallback) {
  Scheduler s;
  int fired = 0;
  Timer* self = nullptr;
  Timer t(s, [&] {
    if (++fired == 3) self->cancel();
  });
  self = &t;
  t.start_periodic(milliseconds(2));
  auto until = Clock::now() + milliseconds(300);
  while (Clock::now() < until && (t.active() || fired == 0)) s.run_once(milliseconds(5));
  EXPECT_EQ(3, fired);
  EXPECT_FALSE(t.active());
}

TEST(Timer, DestroyedFromItsOwnCallbackIsSafe) {
  Scheduler s;
  int fired = 0;
  std::unique_ptr<Timer> t;
  t = std::make_unique<Timer>(s, [&] {
    ++fired;
    t.reset();
  });
  t->start_periodic(milliseconds(1));
  auto until = Clock::now() + milliseconds(100);
  while (t && Clock::now() < until) s.run_once(milliseconds(5));
  EXPECT_EQ(1, fired);
}

// Many fire-and-forget timers, some scheduled from inside others: every one
// fires exactly once, in deadline order.
TEST(Timer, CallLaterFiresEachOnceInDeadlineOrder) {
  Scheduler s;
  constexpr int kTimers = 100000;
  std::vector<int> order;
  order.reserve(kTimers + 1);
  for (int i = 0; i < kTimers; ++i) {
    s.call_later(milliseconds(1 + i % 7), [&order, i] { order.push_back(i % 7); });
  }
  s.call_later(milliseconds(2), [&] { s.call_later(milliseconds(20), [&] { order.push_back(99); }); });
  for (int turn = 0; turn < 1000 && order.size() < kTimers + 1; ++turn) s.run_once(milliseconds(5));
  ASSERT_EQ(static_cast<size_t>(kTimers + 1), order.size());
  EXPECT_TRUE(std::is_sorted(order.begin(), order.end()));
  EXPECT_EQ(99, order.back());
}

TEST(Scheduler, CallbacksFromOtherThreadsRunOnLoopThreadInOrder) {
  Scheduler s;
  std::vector<int> seen;
  std::thread::id loop_id;
  std::thread loop([&] {
    loop_id = std::this_thread::get_id();
    s.run();
  });
  constexpr int kThreads = 4, kEach = 1000;
  std::vector<std::thread> producers;
  std::atomic<int> ran{0};
  std::atomic<bool> wrong_thread{false};
  for (int t = 0; t < kThreads; ++t) {
    producers.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        s.add_callback([&, t, i] {
          if (std::this_thread::get_id() != loop_id) wrong_thread = true;
          if (t == 0) seen.push_back(i);
          ++ran;
        });
      }
    });
  }
  for (auto& p : producers) p.join();
  s.add_callback([&] { s.stop(); });
  loop.join();
  EXPECT_EQ(kThreads * kEach, ran.load());
  EXPECT_FALSE(wrong_thread);
  ASSERT_EQ(static_cast<size_t>(kEach), seen.size());
  for (int i = 0; i < kEach; ++i) ASSERT_EQ(i, seen[i]);
}

// Whether thread `tid` of this process sleeps in epoll_wait: its wait
// channel names it, or, where the kernel hides wait channels, it sleeps.
bool asleep_in_epoll_wait(pid_t tid) {
  const std::string dir = "/proc/self/task/" + std::to_string(tid) + "/";
  std::string wchan;
  std::getline(std::ifstream(dir + "wchan"), wchan);
  if (!wchan.empty() && wchan != "0") return wchan.find("epoll") != std::string::npos;
  std::string stat;
  std::getline(std::ifstream(dir + "stat"), stat);
  const size_t paren = stat.rfind(')');
  return paren != std::string::npos && stat.compare(paren, 3, ") S") == 0;
}

// The loop is seen asleep in epoll_wait (run() sleeps an hour a turn when
// idle) before stop() comes from another thread, so only the wake-up can
// end it. A signal rescues the loop if the wake-up is lost: the test then
// fails instead of hanging.
TEST(Scheduler, StopFromAnotherThreadWakesASleepingLoop) {
  struct sigaction sa {};
  sa.sa_handler = [](int) {};  // no SA_RESTART: epoll_wait returns EINTR
  ASSERT_EQ(0, sigaction(SIGUSR1, &sa, nullptr));
  Scheduler s;
  std::atomic<pid_t> loop_tid{0};
  std::promise<void> returned;
  std::thread loop([&] {
    s.add_callback([&] { loop_tid = gettid(); });  // runs in the first turn
    s.run();
    returned.set_value();
  });
  const auto until = Clock::now() + std::chrono::seconds(10);
  while ((loop_tid == 0 || !asleep_in_epoll_wait(loop_tid)) && Clock::now() < until) {
    std::this_thread::sleep_for(milliseconds(1));  // polling /proc: the kernel sends no event for it
  }
  const bool asleep = loop_tid != 0 && asleep_in_epoll_wait(loop_tid);
  const uint64_t turns = s.turns();
  s.stop();
  std::future<void> done = returned.get_future();
  const bool woke = done.wait_for(std::chrono::seconds(5)) == std::future_status::ready;
  if (!woke) pthread_kill(loop.native_handle(), SIGUSR1);
  loop.join();
  ASSERT_TRUE(asleep) << "the loop never went to sleep: the test proves nothing";
  EXPECT_TRUE(woke) << "stop() did not wake the loop from epoll_wait";
  EXPECT_EQ(turns + 1, s.turns());  // the turn the wake-up ended, no other
}

// ---------------------------------------------------------------- turns

// One way a callback arms itself again from inside with a zero or negative
// delay. `fired` is called at each run; the callback re-arms while it
// returns true. Returns what must outlive the test.
struct RearmCase {
  const char* name;
  std::shared_ptr<void> (*arm)(Scheduler& s, std::function<bool()>& fired);
};

template <int kDelayMs>
std::shared_ptr<void> restart_timer(Scheduler& s, std::function<bool()>& fired) {
  struct Restarting {
    Restarting(Scheduler& s, std::function<bool()>& fired)
        : t(s, [this, &fired] {
            if (fired()) t.start(milliseconds(kDelayMs));
          }) {}
    Timer t;
  };
  auto r = std::make_shared<Restarting>(s, fired);
  r->t.start(milliseconds(kDelayMs));
  return r;
}

template <int kDelayMs>
std::shared_ptr<void> call_later_again(Scheduler& s, std::function<bool()>& fired) {
  struct Again {
    Scheduler* s;
    std::function<bool()>* fired;
    void operator()() const {
      if ((*fired)()) s->call_later(milliseconds(kDelayMs), *this);
    }
  };
  s.call_later(milliseconds(kDelayMs), Again{&s, &fired});
  return nullptr;
}

std::shared_ptr<void> periodic_1ns(Scheduler& s, std::function<bool()>& fired) {
  auto t = std::make_shared<Timer>(s, [&fired] { fired(); });
  t->start_periodic(std::chrono::nanoseconds(1));
  return t;
}

const RearmCase kRearmCases[] = {
    {"Timer::start(0) from its callback", restart_timer<0>},
    {"Timer::start(-1ms) from its callback", restart_timer<-1>},
    {"call_later(0) from its callback", call_later_again<0>},
    {"call_later(-1ms) from its callback", call_later_again<-1>},
    {"start_periodic(1ns)", periodic_1ns},
};

// A callback that arms itself again runs once a turn, and the turn goes on
// to I/O: a socket with input is served every turn meanwhile.
TEST(Timer, ArmedFromItsOwnCallbackRunsOnceATurnAndIoIsServed) {
  for (const RearmCase& c : kRearmCases) {
    SCOPED_TRACE(c.name);
    Scheduler s;
    Pair p;
    Reader r(s, p.b.get(), /*drain=*/false);
    ASSERT_TRUE(s.add(p.b.get(), &r, kReadable));
    ASSERT_EQ(10, ::write(p.a.get(), "0123456789", 10));
    std::vector<uint64_t> fired_in;  // s.turns() at each run
    std::function<bool()> fired = [&] {
      fired_in.push_back(s.turns());
      return fired_in.size() < 100;  // bounded, so a loop that never yields ends
    };
    std::shared_ptr<void> keep = c.arm(s, fired);
    for (int turn = 0; turn < 3; ++turn) s.run_once(milliseconds(100));
    EXPECT_EQ(3, r.reads);  // 4 + 4 + 2 bytes, one read a turn
    EXPECT_EQ((std::vector<uint64_t>{1, 2, 3}), fired_in);
  }
}

}  // namespace
}  // namespace hellepoll
