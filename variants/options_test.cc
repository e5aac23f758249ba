#include "variants/options.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "server/duration.h"

namespace hellepoll::variants {
namespace {

using namespace std::chrono_literals;

const Identity kId{"lt_writev_procs", "level", "writev", "procs", "epoll-level"};

// parse_options on {"variant", args...}; returns its exit code (-1: go on).
int parse(std::vector<std::string> args, Options* o) {
  args.insert(args.begin(), "variant");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  return parse_options(static_cast<int>(argv.size()), argv.data(), kId, o);
}

// The timeouts read server/duration.h's grammar.
TEST(Options, Timeouts) {
  Options o;
  ASSERT_EQ(parse({"--idle-timeout", "1.5s", "--read-timeout", "3", "--write-timeout", "250ms",
                   "--handler-timeout", "2m", "--drain-timeout", ".5s"},
                  &o),
            -1);
  EXPECT_EQ(o.config.idle_timeout, 1500ms);
  EXPECT_EQ(o.config.read_timeout, 3s);
  EXPECT_EQ(o.config.write_timeout, 250ms);
  EXPECT_EQ(o.config.handler_timeout, 2min);
  EXPECT_EQ(o.config.drain_timeout, 500ms);
}

TEST(Options, BadTimeoutsAreUsageErrors) {
  const std::vector<std::string> bad[] = {
      {"--idle-timeout", "10x"}, {"--read-timeout", "-1s"}, {"--drain-timeout", "1 s"}, {"--write-timeout"}};
  for (const auto& args : bad) {
    Options o;
    EXPECT_EQ(parse(args, &o), 2) << args[0];
  }
}

TEST(Options, StaticFiles) {
  Options o;
  ASSERT_EQ(parse({"--root", "./www", "--mount", "/static/", "--small-file", "0", "--pool-threads", "8"}, &o),
            -1);
  EXPECT_EQ("./www", o.root);
  EXPECT_EQ("/static/", o.mount);
  EXPECT_EQ(0, o.small_file);
  EXPECT_EQ(8u, o.config.pool_threads);
  Options d;
  ASSERT_EQ(parse({}, &d), -1);
  EXPECT_EQ("", d.root);
  EXPECT_EQ("/", d.mount);
  EXPECT_EQ(-1, d.small_file);
  const std::vector<std::string> bad[] = {{"--mount", "static/"},  {"--mount", "/static"},
                                          {"--root", ""},          {"--small-file", "-1"},
                                          {"--pool-threads", "0"}, {"--small-file", "99999999999"}};
  for (const auto& args : bad) {
    Options b;
    EXPECT_EQ(parse(args, &b), 2) << args[0] << " " << args[1];
  }
}

TEST(Options, HelpDescribesDurations) {
  Options o;
  testing::internal::CaptureStdout();
  EXPECT_EQ(parse({"--help"}, &o), 0);
  EXPECT_NE(testing::internal::GetCapturedStdout().find(kDurationHelp), std::string::npos);
}

}  // namespace
}  // namespace hellepoll::variants
