// The process side of the variants, with real binaries: a stop refuses new
// connections at once (every variant, 1 and 2 workers).
#include <signal.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "server/testing/process.h"
#include "variants/testing/raw_socket.h"
#include "variants/testing/variants_under_test.h"

namespace hellepoll::variants {
namespace {

using hellepoll::testing::ServerProcess;
using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

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
  EXPECT_EQ(ECONNREFUSED, error) << "still connecting 3 s into the stop: " << (error ? strerror(error) : "accepted");
  EXPECT_EQ(-1, s.wait(0ms)) << "the server had exited: the refusal proves nothing";
  held.reset();  // ends the drain
}

INSTANTIATE_TEST_SUITE_P(Variants, Stop, ::testing::ValuesIn(variant_runs()),
                         [](const auto& info) { return run_name(info.param); });

}  // namespace
}  // namespace hellepoll::variants
