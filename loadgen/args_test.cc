#include "loadgen/args.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "loadgen/request.h"
#include "loadgen/units.h"
#include "server/duration.h"

namespace loadgen {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

ParseResult parse(std::vector<std::string> args) {
  args.insert(args.begin(), "loadgen");
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());
  return parse_args(static_cast<int>(argv.size()), argv.data());
}

constexpr const char* kUrl = "http://127.0.0.1:42042/";

struct GoodCase {
  const char* name;
  std::vector<std::string> args;
  std::function<void(const Config&)> check;
};

const std::vector<GoodCase> kGood = {
    {"defaults_are_wrk_mode",
     {kUrl},
     [](const Config& c) {
       EXPECT_FALSE(c.count_mode());
       EXPECT_EQ(c.duration, seconds(10));
       EXPECT_EQ(c.threads, 1u);
       EXPECT_EQ(c.connections, 10u);
       EXPECT_EQ(c.pipeline, 1u);
       EXPECT_TRUE(c.keepalive);
       EXPECT_EQ(c.method, "GET");
       EXPECT_EQ(c.timeout, seconds(2));
       EXPECT_EQ(c.backend, kDefaultBackend);
     }},
    {"backend_epoll",
     {"--backend", "epoll", kUrl},
     [](const Config& c) { EXPECT_EQ(c.backend, Backend::kEpoll); }},
    {"backend_uring",
     {"--backend=uring", kUrl},
     [](const Config& c) { EXPECT_EQ(c.backend, Backend::kUring); }},
    {"ab_mode_without_k_closes",
     {"-n", "100k", "-c", "25", kUrl},
     [](const Config& c) {
       EXPECT_EQ(c.requests, 100000u);
       EXPECT_EQ(c.connections, 25u);
       EXPECT_FALSE(c.keepalive);
     }},
    {"ab_mode_with_k_keeps_alive",
     {"-n", "1000", "-c", "25", "-k", kUrl},
     [](const Config& c) { EXPECT_TRUE(c.keepalive); }},
    {"wrk_mode",
     {"-d", "5s", "-t", "2", "-c", "100", "--latency", kUrl},
     [](const Config& c) {
       EXPECT_EQ(c.duration, seconds(5));
       EXPECT_EQ(c.threads, 2u);
       EXPECT_EQ(c.connections, 100u);
       EXPECT_TRUE(c.latency);
       EXPECT_TRUE(c.keepalive);
     }},
    {"no_keepalive_in_wrk_mode",
     {"-d", "1s", "--no-keepalive", kUrl},
     [](const Config& c) { EXPECT_FALSE(c.keepalive); }},
    {"attached_and_equals_forms",
     {"-c25", "--threads=5", "--duration=500ms", kUrl},
     [](const Config& c) {
       EXPECT_EQ(c.connections, 25u);
       EXPECT_EQ(c.threads, 5u);
       EXPECT_EQ(c.duration, milliseconds(500));
     }},
    {"pipeline_rate_warmup_timeout",
     {"--pipeline", "16", "--rate", "50k", "--warmup", "2s", "--timeout", "250ms", kUrl},
     [](const Config& c) {
       EXPECT_EQ(c.pipeline, 16u);
       EXPECT_DOUBLE_EQ(c.rate, 50000);
       EXPECT_EQ(c.warmup, seconds(2));
       EXPECT_EQ(c.timeout, milliseconds(250));
     }},
    {"durations_with_fractions_or_bare_seconds",
     {"-d", "1.5s", "--timeout", "3", "--warmup", ".25s", kUrl},
     [](const Config& c) {
       EXPECT_EQ(c.duration, milliseconds(1500));
       EXPECT_EQ(c.timeout, seconds(3));
       EXPECT_EQ(c.warmup, milliseconds(250));
     }},
    {"rate_short_form", {"-R", "1.5k", kUrl}, [](const Config& c) { EXPECT_DOUBLE_EQ(c.rate, 1500); }},
    {"request_shape",
     {"-m", "POST", "-H", "X-A: 1", "-H", "Content-Type: text/plain", "--body", "hi", "--http1.0", kUrl},
     [](const Config& c) {
       EXPECT_EQ(c.method, "POST");
       ASSERT_EQ(c.headers.size(), 2u);
       EXPECT_EQ(c.headers[1], "Content-Type: text/plain");
       EXPECT_EQ(c.body, "hi");
       EXPECT_TRUE(c.http10);
     }},
    {"json_and_n_with_time_limit",
     {"-n", "10", "-c", "1", "-d", "3s", "--json", "-", kUrl},
     [](const Config& c) {
       EXPECT_TRUE(c.count_mode());
       EXPECT_TRUE(c.duration_given);
       EXPECT_EQ(c.json_path, "-");
     }},
    {"url_parts",
     {"http://example.com:8080/a/b?q=1"},
     [](const Config& c) {
       EXPECT_EQ(c.url.host, "example.com");
       EXPECT_EQ(c.url.port, "8080");
       EXPECT_EQ(c.url.path, "/a/b?q=1");
       EXPECT_EQ(c.url.host_header, "example.com:8080");
     }},
    {"url_default_port_and_path",
     {"http://localhost"},
     [](const Config& c) {
       EXPECT_EQ(c.url.port, "80");
       EXPECT_EQ(c.url.path, "/");
     }},
    {"url_ipv6",
     {"http://[::1]:9000/x"},
     [](const Config& c) {
       EXPECT_EQ(c.url.host, "::1");
       EXPECT_EQ(c.url.port, "9000");
     }},
    {"expectations_default_to_none",
     {kUrl},
     [](const Config& c) {
       EXPECT_EQ(c.expect_status, 0);
       EXPECT_FALSE(c.expect_body_given);
       EXPECT_EQ(c.allow_unanswered, 0u);
     }},
    {"expectations",
     {"--expect-status", "200", "--expect-body", "Hello World", "--allow-unanswered", "3", kUrl},
     [](const Config& c) {
       EXPECT_EQ(c.expect_status, 200);
       EXPECT_TRUE(c.expect_body_given);
       EXPECT_EQ(c.expect_body, "Hello World");
       EXPECT_EQ(c.allow_unanswered, 3u);
     }},
    {"expect_empty_body",
     {"--expect-body=", kUrl},
     [](const Config& c) {
       EXPECT_TRUE(c.expect_body_given);
       EXPECT_EQ(c.expect_body, "");
     }},
    {"command_is_recorded",
     {"-c", "2", kUrl},
     [](const Config& c) {
       EXPECT_EQ(c.command, (std::vector<std::string>{"loadgen", "-c", "2", kUrl}));
     }},
};

TEST(Args, GoodCommandLines) {
  for (const GoodCase& c : kGood) {
    SCOPED_TRACE(c.name);
    const ParseResult r = parse(c.args);
    ASSERT_EQ(r.action, ParseResult::Action::kRun) << r.error;
    c.check(r.config);
  }
}

struct BadCase {
  std::vector<std::string> args;
  const char* error;  // a substring of the message
};

const std::vector<BadCase> kBad = {
    {{}, "no URL"},
    {{kUrl, "http://127.0.0.1:1/x"}, "every URL must name the same server"},
    {{"https://x/"}, "http://"},
    {{"http://:80/"}, "no host"},
    {{"http://h:99999/"}, "bad port"},
    {{"--bogus", kUrl}, "unknown option --bogus"},
    {{"-c", kUrl}, "--connections"},  // the URL is taken as the value
    {{"-c"}, "needs a value"},
    {{"-c", "0", kUrl}, "--connections"},
    {{"-n", "ten", kUrl}, "--requests"},
    {{"-d", "10x", kUrl}, "--duration"},
    {{"-t", "4", "-c", "2", kUrl}, "each thread needs a connection"},
    {{"-n", "5", "-c", "10", kUrl}, "more than -n"},
    {{"-n", "100", "--pipeline", "4", kUrl}, "--pipeline needs keep-alive"},
    {{"-k", "--no-keepalive", kUrl}, "contradict"},
    {{"-H", "NoColon", kUrl}, "--header"},
    {{"-m", "GE T", kUrl}, "--method"},
    {{"--rate", "-5", kUrl}, "--rate"},
    {{"--body-file", "/nonexistent/file", kUrl}, "cannot read"},
    {{"--expect-status", "20", kUrl}, "--expect-status"},
    {{"--expect-status", "2xx", kUrl}, "--expect-status"},
    {{"--expect-body", "@/nonexistent/file", kUrl}, "cannot read --expect-body file"},
    {{"-m", "HEAD", "--expect-body", "x", kUrl}, "HEAD"},
    {{"--allow-unanswered", "some", kUrl}, "--allow-unanswered"},
    {{"--backend", "kqueue", kUrl}, "bad value for --backend: 'kqueue' (epoll or uring)"},
    {{"--backend"}, "--backend needs a value"},
};

TEST(Args, BadCommandLinesSayWhatIsWrong) {
  for (const BadCase& c : kBad) {
    const ParseResult r = parse(c.args);
    EXPECT_EQ(r.action, ParseResult::Action::kError) << c.error;
    EXPECT_NE(r.error.find(c.error), std::string::npos) << "got: " << r.error;
  }
}

TEST(Args, ExpectBodyFromAFile) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string path = std::string(tmp ? tmp : "/tmp") + "/expect-body";
  std::ofstream(path, std::ios::binary) << std::string("Hello\0World", 11);
  const ParseResult r = parse({"--expect-body", "@" + path, kUrl});
  ASSERT_EQ(r.action, ParseResult::Action::kRun) << r.error;
  EXPECT_EQ(r.config.expect_body, std::string("Hello\0World", 11));
}

TEST(Args, HelpAndVersion) {
  EXPECT_EQ(parse({"--help"}).action, ParseResult::Action::kHelp);
  EXPECT_EQ(parse({"-h", kUrl}).action, ParseResult::Action::kHelp);
  EXPECT_EQ(parse({"--version"}).action, ParseResult::Action::kVersion);
  EXPECT_NE(usage().find("Examples:"), std::string::npos);
  EXPECT_NE(usage().find(hellepoll::kDurationHelp), std::string::npos);
  EXPECT_NE(usage().find("--backend B"), std::string::npos);
  EXPECT_NE(usage().find("(default " + std::string(backend_name(kDefaultBackend)) + ")"), std::string::npos);
}

TEST(Units, Counts) {
  struct {
    const char* in;
    std::optional<uint64_t> out;
  } cases[] = {{"25", 25}, {"100k", 100000}, {"1.5M", 1500000}, {"2G", 2000000000}, {"1.5", {}},
               {"", {}},   {"k", {}},        {"10x", {}},       {"-1", {}},         {"1kk", {}}};
  for (const auto& c : cases) EXPECT_EQ(parse_count(c.in), c.out) << c.in;
}

TEST(Units, Formatting) {
  EXPECT_EQ(format_us(12.345), "12.35us");
  EXPECT_EQ(format_us(1234.5), "1.23ms");
  EXPECT_EQ(format_us(2.5e6), "2.50s");
  EXPECT_EQ(format_bytes(512), "512.00B");
  EXPECT_EQ(format_bytes(1536), "1.50KB");
  EXPECT_EQ(format_si(1234567), "1.23M");
}

Config config_of(std::vector<std::string> args) {
  const ParseResult r = parse(std::move(args));
  EXPECT_EQ(r.action, ParseResult::Action::kRun) << r.error;
  return r.config;
}

TEST(Request, RenderedForEachProtocolAndKeepAlive) {
  struct {
    std::vector<std::string> args;
    const char* want;
  } cases[] = {
      {{"-d", "1s", kUrl}, "GET / HTTP/1.1\r\nHost: 127.0.0.1:42042\r\n\r\n"},
      {{"-n", "1", "-c", "1", kUrl}, "GET / HTTP/1.1\r\nHost: 127.0.0.1:42042\r\nConnection: close\r\n\r\n"},
      {{"-n", "1", "-c", "1", "-k", "--http1.0", kUrl},
       "GET / HTTP/1.0\r\nHost: 127.0.0.1:42042\r\nConnection: keep-alive\r\n\r\n"},
      {{"-n", "1", "-c", "1", "--http1.0", kUrl}, "GET / HTTP/1.0\r\nHost: 127.0.0.1:42042\r\n\r\n"},
      {{"-m", "POST", "--body", "abc", "-H", "Host: other", "http://h/p"},
       "POST /p HTTP/1.1\r\nHost: other\r\nContent-Length: 3\r\n\r\nabc"},
  };
  for (const auto& c : cases) EXPECT_EQ(render_request(config_of(c.args)), c.want);
}

TEST(Request, SeveralUrlsArePaddedToOneSizeAndRotate) {
  const RenderedRequest r(config_of({"--pipeline", "3", kUrl, "http://127.0.0.1:42042/a/longer/path"}));
  EXPECT_EQ(2u, r.count);
  EXPECT_EQ(r.batch.size(), 4 * r.size);  // a slice of 3 may start at either
  const std::string first = r.batch.substr(0, r.size);
  const std::string second = r.batch.substr(r.size, r.size);
  EXPECT_EQ(0u, first.find("GET / HTTP/1.1\r\n"));
  EXPECT_EQ(0u, second.find("GET /a/longer/path HTTP/1.1\r\n"));
  // The shorter path's request is filled up to the longer one's.
  const size_t longer = std::string_view("/a/longer/path").size() - 1;
  EXPECT_NE(std::string::npos, first.find("\r\nX-Pad: " + std::string(longer, 'x') + "\r\n\r\n")) << first;
  EXPECT_NE(std::string::npos, second.find("\r\nX-Pad: \r\n\r\n")) << second;
  EXPECT_EQ(first, r.batch.substr(2 * r.size, r.size));
  EXPECT_EQ(r.at(1), r.batch.data() + r.size);
  EXPECT_EQ(r.at(2), r.batch.data());
}

TEST(Request, BatchHoldsPipelineCopies) {
  const RenderedRequest r(config_of({"--pipeline", "3", "-m", "HEAD", kUrl}));
  EXPECT_EQ(r.batch.size(), 3 * r.size);
  EXPECT_EQ(r.batch.substr(0, r.size), r.batch.substr(2 * r.size));
  EXPECT_TRUE(r.head);
}

}  // namespace
}  // namespace loadgen
