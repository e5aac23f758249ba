// One conformance suite for every variant (variants/variants.bzl, and
// helloworld), at --workers 1 and 2: the real binaries, started as child
// processes, spoken to over sockets, and hit with ApacheBench and curl.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "server/fd.h"
#include "server/testing/client.h"
#include "server/testing/process.h"
#include "variants/testing/raw_socket.h"
#include "variants/testing/variants_under_test.h"

namespace hellepoll::variants {
namespace {

using hellepoll::testing::Client;
using hellepoll::testing::fetch;
using hellepoll::testing::Reply;
using hellepoll::testing::run_command;
using hellepoll::testing::ServerProcess;
using namespace std::chrono_literals;

constexpr char kGet[] = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";

class Conformance : public ::testing::TestWithParam<VariantRun> {
 protected:
  std::unique_ptr<ServerProcess> start(std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"--workers", std::to_string(GetParam().workers)};
    args.insert(args.end(), extra.begin(), extra.end());
    auto p = std::make_unique<ServerProcess>("variants/" + GetParam().variant, args);
    EXPECT_TRUE(p->ready()) << p->ready_line();
    return p;
  }
};

TEST_P(Conformance, KeepAliveRules) {
  auto s = start();
  {
    Client c(s->port());
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(c.send(kGet));
      Reply r = c.read_reply();
      ASSERT_TRUE(r.ok);
      EXPECT_EQ(200, r.status);
      EXPECT_EQ("Hello World", r.body);
      EXPECT_FALSE(r.header("date").empty());
      EXPECT_EQ("11", r.header("content-length"));
    }
  }
  {
    Client c(s->port());
    ASSERT_TRUE(c.send("GET / HTTP/1.0\r\n\r\n"));
    EXPECT_EQ("close", c.read_reply().header("connection"));
    EXPECT_TRUE(c.wait_closed());
  }
  {
    Client c(s->port());
    for (int i = 0; i < 2; ++i) {
      ASSERT_TRUE(c.send("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
      Reply r = c.read_reply();
      EXPECT_EQ("keep-alive", r.header("connection"));
      EXPECT_EQ("Hello World", r.body);
    }
  }
  {
    Client c(s->port());
    ASSERT_TRUE(c.send("GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
    EXPECT_EQ("close", c.read_reply().header("connection"));
    EXPECT_TRUE(c.wait_closed());
  }
}

TEST_P(Conformance, PipelinedSixteen) {
  auto s = start();
  Client c(s->port());
  std::string batch;
  for (int i = 0; i < 16; ++i) batch += kGet;
  batch += "HEAD / HTTP/1.1\r\nHost: t\r\n\r\nGET /nope HTTP/1.1\r\nHost: t\r\n\r\n";
  ASSERT_TRUE(c.send(batch));
  for (int i = 0; i < 16; ++i) {
    Reply r = c.read_reply();
    ASSERT_TRUE(r.ok) << i;
    EXPECT_EQ("Hello World", r.body);
  }
  Reply head = c.read_reply(true);
  EXPECT_EQ(200, head.status);
  EXPECT_EQ("11", head.header("content-length"));
  EXPECT_EQ(404, c.read_reply().status);
}

TEST_P(Conformance, Limits) {
  auto s = start({"--max-head", "1024", "--max-body", "100"});
  struct Case {
    std::string request;
    int status;
  } cases[] = {
      {"GET /" + std::string(2000, 'a') + " HTTP/1.1\r\nHost: t\r\n\r\n", 414},
      {"GET / HTTP/1.1\r\nHost: t\r\nX: " + std::string(2000, 'a') + "\r\n\r\n", 431},
      {"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 101\r\n\r\n", 413},
      {"GET / HTTP/1.1\r\nHost t\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: br\r\n\r\n", 501},
      {"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
  };
  for (const Case& c : cases) {
    Client client(s->port());
    ASSERT_TRUE(client.send(c.request));
    Reply r = client.read_reply();
    ASSERT_TRUE(r.ok) << c.status;
    EXPECT_EQ(c.status, r.status);
    EXPECT_EQ("close", r.header("connection"));
    EXPECT_TRUE(client.wait_closed());
  }
  EXPECT_EQ("Hello World", fetch(s->port(), kGet).body);
}

TEST_P(Conformance, Timeouts) {
  auto s = start({"--idle-timeout", "300ms", "--read-timeout", "300ms"});
  Client idle(s->port());
  ASSERT_TRUE(idle.send(kGet));
  ASSERT_TRUE(idle.read_reply().ok);
  Client slow(s->port());
  ASSERT_TRUE(slow.send("GET / HTTP/1.1\r\nHo"));
  Reply r = slow.read_reply();
  EXPECT_EQ(408, r.status);
  EXPECT_TRUE(slow.wait_closed());
  EXPECT_TRUE(idle.wait_closed());
}

// SIGTERM: stop accepting, finish the request in flight (answered with
// Connection: close), close idle connections, exit 0.
TEST_P(Conformance, GracefulShutdown) {
  auto s = start();
  Client idle(s->port());
  ASSERT_TRUE(idle.send(kGet));
  ASSERT_TRUE(idle.read_reply().ok);
  Client busy(s->port());
  ASSERT_TRUE(busy.send("GET / HTTP/1.1\r\n"));  // half a request: in flight
  ASSERT_TRUE(idle.send(kGet));                  // ...and a full one, to be sure
  ASSERT_TRUE(idle.read_reply().ok);             //    the half has been read
  ASSERT_TRUE(s->signal(SIGTERM));
  EXPECT_TRUE(idle.wait_closed());
  ASSERT_TRUE(busy.send("Host: t\r\n\r\n"));
  Reply r = busy.read_reply();
  ASSERT_TRUE(r.ok);
  EXPECT_EQ("Hello World", r.body);
  // With one worker, idle's close proves that worker is draining; with two,
  // busy's worker may see the request just before it starts to.
  if (GetParam().workers == 1) {
    EXPECT_EQ("close", r.header("connection"));
  }
  EXPECT_TRUE(busy.wait_closed());
  int status = s->wait(10s);
  ASSERT_NE(-1, status) << "did not exit after SIGTERM";
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(0, WEXITSTATUS(status));
}

TEST_P(Conformance, ApacheBenchKeepAliveAndCurl) {
  auto s = start();
  const std::string url = "http://127.0.0.1:" + std::to_string(s->port()) + "/";
  std::string out;
  ASSERT_EQ(0, run_command({"/usr/bin/ab", "-q", "-k", "-c", "25", "-n", "20000", url}, &out)) << out;
  EXPECT_NE(std::string::npos, out.find("Complete requests:      20000")) << out;
  EXPECT_NE(std::string::npos, out.find("Failed requests:        0")) << out;
  EXPECT_EQ(std::string::npos, out.find("Non-2xx")) << out;
  EXPECT_NE(std::string::npos, out.find("Keep-Alive requests:    20000")) << out;
  ASSERT_EQ(0, run_command({"/usr/bin/ab", "-q", "-c", "25", "-n", "2000", url}, &out)) << out;
  EXPECT_NE(std::string::npos, out.find("Failed requests:        0")) << out;
  ASSERT_EQ(0, run_command({"/usr/bin/curl", "-sS", "--max-time", "5", url}, &out)) << out;
  EXPECT_EQ("Hello World", out);
  ASSERT_EQ(0, run_command({"/usr/bin/curl", "-sS", "--max-time", "5", "-o", "/dev/null", "-w",
                            "%{http_code}", url + "missing"},
                           &out));
  EXPECT_EQ("404", out);
}

// --root serves a directory under --mount (GET / stays Hello World): the
// body of a file sent from the file and of one copied, byte for byte,
// with its validators, a range and a 304, then ApacheBench on a 64 KiB
// file and curl's own check of the length.
TEST_P(Conformance, StaticFilesUnderRoot) {
  char dir[] = "/tmp/hellepoll-www-XXXXXX";
  ASSERT_NE(nullptr, ::mkdtemp(dir));
  const std::string root = dir;
  struct Cleanup {
    std::string dir;
    ~Cleanup() {
      std::string out;
      EXPECT_EQ(0, run_command({"/bin/rm", "-rf", dir}, &out)) << out;
    }
  } cleanup{root};
  std::string big(1 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 7919) >> 3);
  std::string out;
  // Written, synced and dropped from the page cache: the binary reads it
  // ahead off the loop (epoll) or through the ring.
  auto write = [&](const std::string& name, const std::string& text) {
    const std::string path = root + "/" + name;
    FILE* f = std::fopen(path.c_str(), "wb");
    if (f == nullptr) return false;
    const bool whole = std::fwrite(text.data(), 1, text.size(), f) == text.size();
    const bool synced = std::fflush(f) == 0 && ::fdatasync(fileno(f)) == 0 &&
                        ::posix_fadvise(fileno(f), 0, 0, POSIX_FADV_DONTNEED) == 0;
    return std::fclose(f) == 0 && whole && synced;
  };
  ASSERT_TRUE(write("big.bin", big));
  ASSERT_TRUE(write("small.txt", "small file\n"));
  ASSERT_TRUE(write("64k.bin", big.substr(0, 64 * 1024)));
  {
    auto s = start({"--root", root, "--mount", "/static/"});
    EXPECT_EQ("Hello World", fetch(s->port(), kGet).body);
    Client c(s->port());
    ASSERT_TRUE(
        c.send("GET /static/big.bin HTTP/1.1\r\nHost: t\r\n\r\n"
               "GET /static/small.txt HTTP/1.1\r\nHost: t\r\n\r\n"
               "GET /static/big.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=5-9\r\n\r\n"));
    Reply r = c.read_reply();
    ASSERT_TRUE(r.ok);
    EXPECT_TRUE(r.body == big) << "the 1 MiB body differs";
    const std::string etag = r.header("etag");
    EXPECT_FALSE(etag.empty());
    EXPECT_EQ("small file\n", c.read_reply().body);
    Reply part = c.read_reply();
    EXPECT_EQ(206, part.status);
    EXPECT_EQ(big.substr(5, 5), part.body);
    ASSERT_TRUE(c.send("GET /static/big.bin HTTP/1.1\r\nHost: t\r\nIf-None-Match: " + etag + "\r\n\r\n"));
    EXPECT_EQ(304, c.read_reply().status);
    EXPECT_EQ(404, fetch(s->port(), "GET /static/none HTTP/1.1\r\nHost: t\r\n\r\n").status);
    EXPECT_EQ(400, fetch(s->port(), "GET /static/%2e%2e/etc/passwd HTTP/1.1\r\nHost: t\r\n\r\n").status);
    const std::string url = "http://127.0.0.1:" + std::to_string(s->port()) + "/static/64k.bin";
    ASSERT_EQ(0, run_command({"/usr/bin/ab", "-q", "-k", "-c", "8", "-n", "2000", url}, &out)) << out;
    EXPECT_NE(std::string::npos, out.find("Complete requests:      2000")) << out;
    EXPECT_NE(std::string::npos, out.find("Failed requests:        0")) << out;
    EXPECT_NE(std::string::npos, out.find("Document Length:        65536 bytes")) << out;
    ASSERT_EQ(0, run_command({"/usr/bin/curl", "-sS", "--max-time", "5", "-o", "/dev/null", "-w",
                              "%{size_download}", url},
                             &out))
        << out;
    EXPECT_EQ("65536", out);
  }
}

// A --root that cannot be served stops the binary at start, saying why.
TEST_P(Conformance, ARootThatCannotBeServedIsAStartError) {
  std::string out;
  const int rc =
      run_command({"variants/" + GetParam().variant, "--port", "0", "--root", "/nonexistent-www"}, &out);
  EXPECT_EQ(2, rc) << out;
  EXPECT_NE(std::string::npos, out.find("/nonexistent-www: No such file or directory")) << out;
}

// procs: a worker that dies is replaced, and the port keeps answering.
// Threads variants have no worker process to kill: they are not in this suite.
class ProcsConformance : public Conformance {};

TEST_P(ProcsConformance, KilledWorkerIsRestarted) {
  auto s = start();
  std::vector<pid_t> before = s->children();
  ASSERT_EQ(static_cast<size_t>(GetParam().workers), before.size());
  ASSERT_EQ(0, kill(before[0], SIGKILL));
  auto until = std::chrono::steady_clock::now() + 10s;
  std::vector<pid_t> after;
  do {
    std::this_thread::sleep_for(20ms);  // polling /proc for the replacement
    after = s->children();
  } while ((after.size() != before.size() || after == before) && std::chrono::steady_clock::now() < until);
  ASSERT_EQ(before.size(), after.size());
  for (int i = 0; i < 50; ++i) ASSERT_EQ("Hello World", fetch(s->port(), kGet).body) << i;
}

INSTANTIATE_TEST_SUITE_P(Variants, Conformance, ::testing::ValuesIn(variant_runs()),
                         [](const auto& info) { return run_name(info.param); });
INSTANTIATE_TEST_SUITE_P(Variants, ProcsConformance,
                         ::testing::ValuesIn(variant_runs("HELLEPOLL_PROCS_VARIANTS")),
                         [](const auto& info) { return run_name(info.param); });

// The floor parses nothing, but must still answer every request terminator.
TEST(Floor, AnswersEveryRequestAndApacheBench) {
  ServerProcess s("variants/floor", {"--workers", "1"});
  ASSERT_TRUE(s.ready()) << s.ready_line();
  Client c(s.port());
  std::string batch;
  for (int i = 0; i < 16; ++i) batch += kGet;
  ASSERT_TRUE(c.send(batch));
  for (int i = 0; i < 16; ++i) ASSERT_EQ("Hello World", c.read_reply().body) << i;
  std::string out;
  const std::string url = "http://127.0.0.1:" + std::to_string(s.port()) + "/";
  ASSERT_EQ(0, run_command({"/usr/bin/ab", "-q", "-k", "-c", "25", "-n", "20000", url}, &out)) << out;
  EXPECT_NE(std::string::npos, out.find("Failed requests:        0")) << out;
}

// `--file`: every request is answered with the file, byte for byte, also
// pipelined behind answers that fill the socket (12 MiB unread: more than
// loopback's buffers hold, so sendfile() is resumed after EAGAIN).
TEST(Floor, AnswersEveryRequestWithTheFile) {
  const char* dir = std::getenv("TEST_TMPDIR");
  const std::string path = std::string(dir ? dir : "/tmp") + "/floor-file.bin";
  std::string bytes(3 << 20, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>((i * 2654435761u) >> 13);
  {
    hellepoll::UniqueFd f(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    ASSERT_TRUE(f);
    ASSERT_EQ(static_cast<ssize_t>(bytes.size()), ::write(f.get(), bytes.data(), bytes.size()));
  }
  ServerProcess s("variants/floor", {"--workers", "1", "--file", path});
  ASSERT_TRUE(s.ready()) << s.ready_line();
  Client c(s.port());
  std::string batch;
  for (int i = 0; i < 4; ++i) batch += kGet;
  ASSERT_TRUE(c.send(batch));
  std::this_thread::sleep_for(100ms);  // lets the socket fill before the client reads
  for (int i = 0; i < 4; ++i) {
    Reply r = c.read_reply();
    ASSERT_TRUE(r.ok) << i;
    EXPECT_EQ(200, r.status);
    EXPECT_EQ(std::to_string(bytes.size()), r.header("content-length"));
    ASSERT_TRUE(r.body == bytes) << i << ": " << r.body.size() << " bytes";
  }
  ASSERT_TRUE(c.send(kGet));
  ASSERT_TRUE(c.read_reply().body == bytes);
  // An empty file: the head alone, not held back waiting for a body.
  ASSERT_EQ(0, ::truncate(path.c_str(), 0));
  ServerProcess empty("variants/floor", {"--workers", "1", "--file", path});
  ASSERT_TRUE(empty.ready()) << empty.ready_line();
  Reply r = fetch(empty.port(), kGet);
  EXPECT_EQ(200, r.status);
  EXPECT_EQ("0", r.header("content-length"));
}

// Waits (5 s at most) until the server has read every byte `c` sent.
bool server_has_read_all(const Client& c) {
  const auto until = std::chrono::steady_clock::now() + 5s;
  long unread;
  while ((unread = unread_by_peer(c.fd())) > 0 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(1ms);  // polling the kernel's queues
  }
  return unread == 0;
}

// A terminator split across two reads is answered once, wherever the cut.
// The second part goes out only once the floor has read the first, so the
// two cannot arrive, and be read, as one.
TEST(Floor, AnswersATerminatorSplitAcrossReads) {
  ServerProcess s("variants/floor", {"--workers", "1"});
  ASSERT_TRUE(s.ready()) << s.ready_line();
  Client c(s.port());
  const std::string get = kGet;  // ends "t\r\n\r\n"
  for (size_t cut = 1; cut <= 5; ++cut) {
    ASSERT_TRUE(c.send(get.substr(0, get.size() - cut)));
    ASSERT_TRUE(server_has_read_all(c)) << cut << ": unread " << unread_by_peer(c.fd());
    ASSERT_TRUE(c.send(get.substr(get.size() - cut) + get));
    ASSERT_EQ("Hello World", c.read_reply().body) << cut;
    ASSERT_EQ("Hello World", c.read_reply().body) << cut;
  }
}

}  // namespace
}  // namespace hellepoll::variants
