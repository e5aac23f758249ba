#include "server/scheduler.h"

#include <gtest/gtest.h>
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
#include <ostream>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "server/backend/epoll.h"
#include "server/backend/uring.h"

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

// The backend-neutral contract holds on every backend. UringScheduler's
// readiness is a multishot poll, which reports a wake-up once like an edge:
// the tasks below that are not level-specific read until EAGAIN.
template <class S>
class Backend : public ::testing::Test {};

struct BackendName {
  template <class S>
  static std::string GetName(int) {
    return S::kTrigger == Trigger::kLevel  ? "EpollLevel"
           : S::kTrigger == Trigger::kEdge ? "EpollEdge"
                                           : "IoUring";
  }
};

using Backends = ::testing::Types<LevelScheduler, EdgeScheduler, UringScheduler>;
TYPED_TEST_SUITE(Backend, Backends, BackendName);

TEST(Scheduler, LevelTriggeredRedeliversUntilDrained) {
  LevelScheduler s;
  Pair p;
  Reader r(s, p.b.get(), /*drain=*/false);
  ASSERT_TRUE(s.add(p.b.get(), &r, kReadable));
  ASSERT_EQ(10, ::write(p.a.get(), "0123456789", 10));
  for (int i = 0; i < 5 && r.bytes < 10; ++i) s.run_once(milliseconds(100));
  EXPECT_EQ(10, r.bytes);
  EXPECT_EQ(3, r.reads);  // 4 + 4 + 2: one read per turn, woken each time
}

TEST(Scheduler, EdgeTriggeredTaskReadsUntilEagain) {
  EdgeScheduler s;
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
        EdgeScheduler s;
        Pair p;
        Reader r(s, p.b.get(), /*drain=*/false);
        s.add(p.b.get(), &r, kReadable);
        (void)!::write(p.a.get(), "0123456789", 10);
        s.run_once(milliseconds(100));
      },
      "edge-triggered task 'test-reader'");
}
#endif

// Reads one 4-byte chunk per call and asks to be called again rather than
// read on: a task that yields its turn. Once it has input it takes itself
// off readiness (no interest), so that on every backend, level-triggered
// too, each later call is read_again()'s.
class YieldingReader : public Task {
 public:
  YieldingReader(Scheduler& s, int fd) : s_(s), fd_(fd) {}
  void on_readable() override {
    ++calls;
    char buf[4];
    ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n > 0) {
      bytes += n;
      s_.modify(fd_, 0);
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

// A scheduler with one YieldingReader registered.
template <class S>
class ReadAgain : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(s.add(p.b.get(), &r, kReadable)); }
  S s;
  Pair p;
  YieldingReader r{s, p.b.get()};
};
TYPED_TEST_SUITE(ReadAgain, Backends, BackendName);

TYPED_TEST(ReadAgain, CallsTheTaskOnceNextTurnWithoutSleeping) {
  auto& s = this->s;
  auto& p = this->p;
  auto& r = this->r;
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

TYPED_TEST(ReadAgain, SkipsARemovedTaskAndWorksAfterItIsAddedBack) {
  auto& s = this->s;
  auto& p = this->p;
  auto& r = this->r;
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

TYPED_TEST(Backend, RemoveStopsDelivery) {
  TypeParam s;
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

TYPED_TEST(Backend, TimerOneShotFiresOnceInDeadlineOrder) {
  TypeParam s;
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

TYPED_TEST(Backend, TimerCancelledTimerNeverFires) {
  TypeParam s;
  int fired = 0;
  Timer t(s, [&] { ++fired; });
  t.start(milliseconds(5));
  t.cancel();
  s.run_once(milliseconds(20));
  EXPECT_EQ(0, fired);
}

TYPED_TEST(Backend, TimerPeriodicCancelsItselfFromItsCallback) {
  TypeParam s;
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

TYPED_TEST(Backend, TimerDestroyedFromItsOwnCallbackIsSafe) {
  TypeParam s;
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
TYPED_TEST(Backend, TimerCallLaterFiresEachOnceInDeadlineOrder) {
  TypeParam s;
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

TYPED_TEST(Backend, CallbacksFromOtherThreadsRunOnLoopThreadInOrder) {
  TypeParam s;
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

// Whether thread `tid` of this process sleeps in its backend's wait: its
// wait channel names `wait` ("epoll", "io_cqring"), or, where the kernel
// hides wait channels, it sleeps.
bool asleep_in(pid_t tid, std::string_view wait) {
  const std::string dir = "/proc/self/task/" + std::to_string(tid) + "/";
  std::string wchan;
  std::getline(std::ifstream(dir + "wchan"), wchan);
  if (!wchan.empty() && wchan != "0") return wchan.find(wait) != std::string::npos;
  std::string stat;
  std::getline(std::ifstream(dir + "stat"), stat);
  const size_t paren = stat.rfind(')');
  return paren != std::string::npos && stat.compare(paren, 3, ") S") == 0;
}

// The loop is seen asleep in its wait (run() sleeps an hour a turn when
// idle) before stop() comes from another thread, so only the wake-up can
// end it. A signal rescues the loop if the wake-up is lost: the test then
// fails instead of hanging.
TYPED_TEST(Backend, StopFromAnotherThreadWakesASleepingLoop) {
  struct sigaction sa {};
  sa.sa_handler = [](int) {};  // no SA_RESTART: the wait returns EINTR
  ASSERT_EQ(0, sigaction(SIGUSR1, &sa, nullptr));
  const std::string_view wait = TypeParam::kTrigger == Trigger::kCompletion ? "io_cqring" : "epoll";
  TypeParam s;
  std::atomic<pid_t> loop_tid{0};
  std::promise<void> returned;
  std::thread loop([&] {
    s.add_callback([&] { loop_tid = gettid(); });  // runs in the first turn
    s.run();
    returned.set_value();
  });
  const auto until = Clock::now() + std::chrono::seconds(10);
  while ((loop_tid == 0 || !asleep_in(loop_tid, wait)) && Clock::now() < until) {
    std::this_thread::sleep_for(milliseconds(1));  // polling /proc: the kernel sends no event for it
  }
  const bool asleep = loop_tid != 0 && asleep_in(loop_tid, wait);
  const uint64_t turns = s.turns();
  s.stop();
  std::future<void> done = returned.get_future();
  const bool woke = done.wait_for(std::chrono::seconds(5)) == std::future_status::ready;
  if (!woke) pthread_kill(loop.native_handle(), SIGUSR1);
  loop.join();
  ASSERT_TRUE(asleep) << "the loop never went to sleep in " << wait << ": the test proves nothing";
  EXPECT_TRUE(woke) << "stop() did not wake the loop from its wait";
  EXPECT_EQ(turns + 1, s.turns());  // the turn the wake-up ended, no other
}

// A scheduler built on one thread runs on another (UringScheduler: the ring
// is enabled by the first turn), takes callbacks and stop() from the thread
// that built it, and is destroyed there.
TYPED_TEST(Backend, BuiltOnOneThreadRunsOnAnother) {
  auto s = std::make_unique<TypeParam>();
  std::thread::id ran_on;
  std::promise<void> ran;
  std::thread loop([&] { EXPECT_TRUE(s->run()); });
  const std::thread::id loop_id = loop.get_id();
  s->add_callback([&] {
    ran_on = std::this_thread::get_id();
    ran.set_value();
  });
  const bool served = ran.get_future().wait_for(std::chrono::seconds(5)) == std::future_status::ready;
  s->stop();
  loop.join();
  EXPECT_TRUE(served) << "a callback from the building thread never ran";
  EXPECT_EQ(loop_id, ran_on);
  s.reset();  // on the building thread, not the one that ran it
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
TYPED_TEST(Backend, TimerArmedFromItsOwnCallbackRunsOnceATurnAndIoIsServed) {
  for (const RearmCase& c : kRearmCases) {
    SCOPED_TRACE(c.name);
    TypeParam s;
    Pair p;
    YieldingReader r(s, p.b.get());
    ASSERT_TRUE(s.add(p.b.get(), &r, kReadable));
    ASSERT_EQ(10, ::write(p.a.get(), "0123456789", 10));
    std::vector<uint64_t> fired_in;  // s.turns() at each run
    std::function<bool()> fired = [&] {
      fired_in.push_back(s.turns());
      return fired_in.size() < 100;  // bounded, so a loop that never yields ends
    };
    std::shared_ptr<void> keep = c.arm(s, fired);
    for (int turn = 0; turn < 3; ++turn) s.run_once(milliseconds(100));
    EXPECT_EQ(3, r.calls);  // 4 + 4 + 2 bytes, one read a turn
    EXPECT_EQ(10, r.bytes);
    EXPECT_EQ((std::vector<uint64_t>{1, 2, 3}), fired_in);
  }
}

// ---------------------------------------------------------------- exceptions

// A backend as a value, for tests parametrised by backend and case.
struct BackendCase {
  const char* name;
  std::unique_ptr<Scheduler> (*make)();
  Trigger trigger;
};

std::ostream& operator<<(std::ostream& os, const BackendCase& b) { return os << b.name; }

const BackendCase kBackends[] = {
    {"EpollLevel", [] { return std::unique_ptr<Scheduler>(new LevelScheduler); }, Trigger::kLevel},
    {"EpollEdge", [] { return std::unique_ptr<Scheduler>(new EdgeScheduler); }, Trigger::kEdge},
    {"IoUring", [] { return std::unique_ptr<Scheduler>(new UringScheduler); }, Trigger::kCompletion},
};

// A scheduler with bystanders that must go on being served after something
// else threw: a task with 10 bytes to read (level-triggered: 4 a turn) and a
// periodic timer. Captures stderr, where the scheduler logs what threw.
class Exceptions : public ::testing::Test {
 protected:
  explicit Exceptions(const BackendCase& b)
      : owned_(b.make()), s(*owned_), reader{s, p.b.get(), /*drain=*/b.trigger != Trigger::kLevel} {}
  void SetUp() override {
    ASSERT_TRUE(s.add(p.b.get(), &reader, kReadable));
    ASSERT_EQ(10, ::write(p.a.get(), "0123456789", 10));
    ticker.start_periodic(milliseconds(1));
    ::testing::internal::CaptureStderr();
    capturing_ = true;
  }
  void TearDown() override { stderr_text(); }
  // Runs turns until `done()` and the bystanders have been served (or 2 s).
  void run_until(const std::function<bool()>& done) {
    const auto until = Clock::now() + std::chrono::seconds(2);
    while (!(done() && reader.bytes == 10 && ticks >= 3) && Clock::now() < until) s.run_once(milliseconds(5));
    EXPECT_EQ(10, reader.bytes);
    EXPECT_LE(3, ticks);
  }
  // What was logged on stderr since SetUp (ends the capture).
  std::string stderr_text() {
    if (capturing_) logged_ = ::testing::internal::GetCapturedStderr();
    capturing_ = false;
    return logged_;
  }

  std::unique_ptr<Scheduler> owned_;
  Scheduler& s;
  Pair p;
  Reader reader;
  int ticks = 0;
  Timer ticker{s, [this] { ++ticks; }};

 private:
  bool capturing_ = false;
  std::string logged_;
};

// Throws std::runtime_error("boom") from one of its callbacks, once.
class ThrowingTask : public Task {
 public:
  enum class From { kReadable, kWritable, kReadAgain };
  ThrowingTask(Scheduler& s, int fd, From from) : s_(s), fd_(fd), from_(from) {}
  void on_readable() override {
    ++readable_calls;
    char buf[16];
    while (::read(fd_, buf, sizeof buf) > 0) {
    }
    mark_sated();
    if (from_ == From::kReadAgain && readable_calls == 1) s_.read_again(fd_, this);
    const int throw_on = from_ == From::kReadable ? 1 : from_ == From::kReadAgain ? 2 : 0;
    if (readable_calls == throw_on) throw std::runtime_error("boom");
  }
  void on_writable() override {
    if (from_ == From::kWritable && ++writable_calls == 1) throw std::runtime_error("boom");
  }
  void on_exception() override { ++exceptions; }
  std::string_view task_name() const override { return "thrower"; }

  int readable_calls = 0;
  int writable_calls = 0;
  int exceptions = 0;

 private:
  Scheduler& s_;
  int fd_;
  From from_;
};

std::ostream& operator<<(std::ostream& os, ThrowingTask::From f) {
  return os << (f == ThrowingTask::From::kReadable   ? "on_readable"
                : f == ThrowingTask::From::kWritable ? "on_writable"
                                                     : "on_readable called again");
}

class TaskExceptions : public Exceptions,
                       public ::testing::WithParamInterface<std::tuple<BackendCase, ThrowingTask::From>> {
 protected:
  TaskExceptions() : Exceptions(std::get<0>(GetParam())) {}
  static ThrowingTask::From from() { return std::get<1>(GetParam()); }
};

// The task that threw hears of it once, the line names it, and it and the
// others go on being served.
TEST_P(TaskExceptions, AreLoggedToldToTheTaskAndTheLoopGoesOn) {
  Pair q;
  ThrowingTask t(s, q.b.get(), from());
  const uint32_t interest = from() == ThrowingTask::From::kWritable ? kReadable | kWritable : kReadable;
  ASSERT_TRUE(s.add(q.b.get(), &t, interest));
  ASSERT_EQ(1, ::write(q.a.get(), "x", 1));
  run_until([&] { return t.exceptions > 0; });
  EXPECT_EQ(1, t.exceptions);
  const std::string line = "hellepoll: task 'thrower' (fd " + std::to_string(q.b.get()) + ") threw: boom\n";
  EXPECT_NE(std::string::npos, stderr_text().find(line)) << stderr_text();
  const int calls = t.readable_calls;
  ASSERT_EQ(1, ::write(q.a.get(), "y", 1));
  s.run_once(milliseconds(100));
  EXPECT_EQ(calls + 1, t.readable_calls);
  EXPECT_EQ(1, t.exceptions);
}

INSTANTIATE_TEST_SUITE_P(From, TaskExceptions,
                         ::testing::Combine(::testing::ValuesIn(kBackends),
                                            ::testing::Values(ThrowingTask::From::kReadable,
                                                              ThrowingTask::From::kWritable,
                                                              ThrowingTask::From::kReadAgain)),
                         [](const auto& info) {
                           std::string name = std::get<0>(info.param).name;
                           switch (std::get<1>(info.param)) {
                             case ThrowingTask::From::kReadable:
                               return name + "OnReadable";
                             case ThrowingTask::From::kWritable:
                               return name + "OnWritable";
                             case ThrowingTask::From::kReadAgain:
                               return name + "OnReadableCalledAgain";
                           }
                           return name;
                         });

// A timer or callback that throws on its first run. `runs` counts its runs;
// returns what must outlive the test.
struct CallbackThrowCase {
  const char* name;
  std::shared_ptr<void> (*arm)(Scheduler& s, int& runs);
  int runs_to_see;  // 2 for a periodic timer: it keeps its schedule
  const char* logged;
};

std::ostream& operator<<(std::ostream& os, const CallbackThrowCase& c) { return os << c.name; }

void throw_on_first(int& runs) {
  if (++runs == 1) throw std::runtime_error("boom");
}

template <bool kPeriodic>
std::shared_ptr<void> throwing_timer(Scheduler& s, int& runs) {
  auto t = std::make_shared<Timer>(s, [&runs] { throw_on_first(runs); });
  if (kPeriodic) {
    t->start_periodic(milliseconds(1));
  } else {
    t->start(milliseconds(0));
  }
  return t;
}

const CallbackThrowCase kCallbackThrowCases[] = {
    {"Timer", throwing_timer<false>, 1, "hellepoll: timer threw: boom\n"},
    {"PeriodicTimer", throwing_timer<true>, 2, "hellepoll: timer threw: boom\n"},
    {"CallLater",
     [](Scheduler& s, int& runs) -> std::shared_ptr<void> {
       s.call_later(milliseconds(0), [&runs] { throw_on_first(runs); });
       return nullptr;
     },
     1, "hellepoll: timer threw: boom\n"},
    {"AddCallback",
     [](Scheduler& s, int& runs) -> std::shared_ptr<void> {
       s.add_callback([&runs] { throw_on_first(runs); });
       return nullptr;
     },
     1, "hellepoll: callback threw: boom\n"},
    {"AddCallbackNotAStdException",
     [](Scheduler& s, int& runs) -> std::shared_ptr<void> {
       s.add_callback([&runs] {
         ++runs;
         throw 42;
       });
       return nullptr;
     },
     1, "hellepoll: callback threw: unknown exception\n"},
};

class CallbackExceptions : public Exceptions,
                           public ::testing::WithParamInterface<std::tuple<BackendCase, CallbackThrowCase>> {
 protected:
  CallbackExceptions() : Exceptions(std::get<0>(GetParam())) {}
  static const CallbackThrowCase& c() { return std::get<1>(GetParam()); }
};

TEST_P(CallbackExceptions, AreLoggedAndTheLoopGoesOn) {
  int runs = 0;
  std::shared_ptr<void> keep = c().arm(s, runs);
  run_until([&] { return runs >= c().runs_to_see; });
  if (c().runs_to_see == 1) {
    EXPECT_EQ(1, runs);  // a periodic one runs on meanwhile
  }
  EXPECT_LE(c().runs_to_see, runs);
  EXPECT_NE(std::string::npos, stderr_text().find(c().logged)) << stderr_text();
}

INSTANTIATE_TEST_SUITE_P(Sources, CallbackExceptions,
                         ::testing::Combine(::testing::ValuesIn(kBackends),
                                            ::testing::ValuesIn(kCallbackThrowCases)),
                         [](const auto& info) {
                           return std::string(std::get<0>(info.param).name) + std::get<1>(info.param).name;
                         });

TEST(Error, InternalIsNamed) { EXPECT_EQ("internal error", Error{ErrorKind::kInternal}.name()); }

}  // namespace
}  // namespace hellepoll
