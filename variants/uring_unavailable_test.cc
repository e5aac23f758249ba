// Where io_uring is refused (here: a seccomp filter on io_uring_setup, as a
// container runtime's default profile installs), a uring variant exits at
// start with status 1 and one line that names the cause and the fix. It
// never falls back to epoll silently. The same filter leaves an epoll
// variant serving, so the line comes from the refusal and nothing else.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

#include "server/testing/client.h"
#include "server/testing/process.h"
#include "variants/testing/variants_under_test.h"

namespace {

using hellepoll::testing::run_command;
using hellepoll::testing::ServerProcess;

struct Case {
  std::string variant;
  std::string err;  // what the filter makes io_uring_setup fail with
};

std::vector<Case> cases() {
  std::vector<Case> out;
  for (const std::string& v : hellepoll::variants::variants_under_test("HELLEPOLL_URING_VARIANTS")) {
    for (const char* err : {"EPERM", "EACCES", "ENOSYS"}) out.push_back({v, err});
  }
  return out;
}

// kernel.io_uring_disabled=2 refuses before seccomp is asked: then the line
// names the sysctl instead.
int io_uring_disabled() {
  std::ifstream f("/proc/sys/kernel/io_uring_disabled");
  int v = 0;
  return f >> v ? v : 0;
}

class UringUnavailable : public ::testing::TestWithParam<Case> {};

TEST_P(UringUnavailable, ExitsWithOneLineNamingCauseAndFix) {
  const Case& c = GetParam();
  std::string out;
  const int rc = run_command({"variants/deny_io_uring", c.err, "variants/" + c.variant, "--port", "0"}, &out,
                             std::chrono::seconds(20));
  EXPECT_EQ(1, rc) << out;
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(1, std::count(out.begin(), out.end(), '\n')) << out;
  EXPECT_EQ('\n', out.back()) << out;
  EXPECT_EQ(0u, out.find(c.variant + ": ")) << out;
  EXPECT_NE(std::string::npos, out.find("or run an epoll variant")) << out;
  if (io_uring_disabled() == 2) {
    EXPECT_NE(std::string::npos, out.find("sysctl kernel.io_uring_disabled=0")) << out;
  } else if (c.err == "ENOSYS") {
    EXPECT_NE(std::string::npos, out.find("io_uring_setup does not exist here (ENOSYS)")) << out;
    EXPECT_NE(std::string::npos, out.find("use Linux 6.1 or later")) << out;
  } else {
    EXPECT_NE(std::string::npos, out.find("a seccomp filter forbids it")) << out;
    EXPECT_NE(std::string::npos, out.find("allow io_uring_setup, io_uring_enter and io_uring_register"))
        << out;
  }
}

INSTANTIATE_TEST_SUITE_P(Uring, UringUnavailable, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return info.param.variant + "_" + info.param.err; });

TEST(UringUnavailable, EveryUringVariantIsCovered) {
  // Four variants (write, writev x threads, procs) and uring_floor.
  EXPECT_EQ(5u, hellepoll::variants::variants_under_test("HELLEPOLL_URING_VARIANTS").size());
}

TEST(UringUnavailable, TheFilterLeavesEpollServing) {
  ServerProcess p("variants/lt_writev_procs", {"--workers", "1"}, {"variants/deny_io_uring", "EPERM"});
  ASSERT_TRUE(p.ready()) << p.output();
  const auto reply = hellepoll::testing::fetch(p.port(), "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_EQ(200, reply.status) << p.output();
  EXPECT_EQ("Hello World", reply.body);
}

}  // namespace
