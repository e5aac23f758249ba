// StaticFiles served by an HttpServer of every Io policy over real sockets:
// bodies byte for byte (small files copied, larger ones sent from the
// file), the HTTP semantics, the path rules, a slow disk that must not
// stall other clients, and a file that shrinks while it is being sent.
#include "server/http/static/static_files.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <string>

#include "server/http/server.h"
#include "server/http/static/test_tree.h"
#include "server/testing/client.h"
#include "server/testing/server_thread.h"

namespace hellepoll::http::static_files {
namespace {

using hellepoll::testing::Client;
using hellepoll::testing::fetch;
using hellepoll::testing::Reply;
using hellepoll::testing::ServerThread;
using namespace std::chrono_literals;

constexpr size_t kBig = 200 * 1024;  // over StaticOptions::small_file: sent from the file

// Bytes that differ from position to position, so that an offset error
// shows in the body.
std::string pattern(size_t n, uint32_t seed = 1) {
  std::string s(n, '\0');
  uint32_t x = seed;
  for (char& c : s) {
    x = x * 1103515245u + 12345u;
    c = static_cast<char>(x >> 24);
  }
  return s;
}

// Writes the file's dirty pages and drops them from the page cache, so that
// the next read goes to the disk; false where that cannot be done.
bool make_cold(const std::string& path) {
  UniqueFd f(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  return f && ::fdatasync(f.get()) == 0 && ::posix_fadvise(f.get(), 0, 0, POSIX_FADV_DONTNEED) == 0;
}

std::string get(std::string_view path, std::string_view extra = "") {
  return "GET " + std::string(path) + " HTTP/1.1\r\nHost: t\r\n" + std::string(extra) + "\r\n";
}

template <class Io>
class StaticFilesTest : public ::testing::Test {
 protected:
  StaticFilesTest() {
    root_ = tree_ / "root";
    EXPECT_EQ(0, ::mkdir(root_.c_str(), 0755));
    EXPECT_EQ(0, ::mkdir((root_ + "/docs").c_str(), 0755));
    EXPECT_EQ(0, ::mkdir((root_ + "/empty").c_str(), 0755));
    testing::write_file(root_ + "/hello.txt", "hello, static\n");
    testing::write_file(root_ + "/big.bin", pattern(kBig));
    testing::write_file(root_ + "/zero.txt", "");
    testing::write_file(root_ + "/docs/index.html", "<h1>docs</h1>\n");
    testing::write_file(root_ + "/.secret", "dotfile");
    testing::write_file(tree_ / "outside", "outside the root");
    EXPECT_EQ(0, ::symlink("../outside", (root_ + "/out").c_str()));
  }
  void start(ServerConfig config = {}) {
    files_ = std::make_unique<StaticFiles>(root_);
    EXPECT_EQ("", files_->error());
    router_.stem("/static/", kGetHead, *files_);
    router_.stem("/", kGetHead, *files_);  // the same tree at the root (GET / stays hello)
    router_.get("/", [](Request&, Response& res) { res.send_static(200, "Hello World", "text/plain"); });
    server_ = std::make_unique<ServerThread<Io>>(router_, config);
  }
  uint64_t resets() {
    return server_->on_loop([](auto& s) { return s.stats().resets; });
  }
  uint16_t port() { return server_->port(); }
  void set_pool_delay(Duration d) {
    server_->on_loop([d](auto& s) {
      s.locals().pool().set_delay(d);
      return 0;
    });
  }
  size_t pool_in_flight() {
    return server_->on_loop([](auto& s) { return s.locals().pool().in_flight(); });
  }

  hellepoll::http::static_files::testing::TempTree tree_;
  std::string root_;
  std::unique_ptr<StaticFiles> files_;
  Router router_;
  std::unique_ptr<ServerThread<Io>> server_;
};

TYPED_TEST_SUITE(StaticFilesTest, hellepoll::testing::Policies, hellepoll::testing::PolicyNames);

TYPED_TEST(StaticFilesTest, ServesSmallAndLargeFilesWithTheirHeaders) {
  this->start();
  Client c(this->port());
  for (int round = 0; round < 2; ++round) {  // a lookup, then a cache hit
    ASSERT_TRUE(c.send(get("/static/hello.txt")));
    Reply r = c.read_reply();
    ASSERT_TRUE(r.ok) << round;
    EXPECT_EQ(200, r.status);
    EXPECT_EQ("hello, static\n", r.body);
    EXPECT_EQ("text/plain", r.header("content-type"));
    EXPECT_EQ("bytes", r.header("accept-ranges"));
    EXPECT_FALSE(r.header("etag").empty());
    EXPECT_EQ(29u, r.header("last-modified").size());

    ASSERT_TRUE(c.send(get("/static/big.bin")));
    Reply b = c.read_reply();
    ASSERT_TRUE(b.ok) << round;
    EXPECT_EQ(200, b.status);
    EXPECT_EQ("application/octet-stream", b.header("content-type"));
    EXPECT_TRUE(b.body == pattern(kBig)) << "the large file's bytes differ";
  }
  Reply z = fetch(this->port(), get("/static/zero.txt"));
  EXPECT_EQ(200, z.status);
  EXPECT_EQ("0", z.header("content-length"));
  EXPECT_EQ("", z.body);
  Reply d = fetch(this->port(), get("/static/docs/"));
  EXPECT_EQ(200, d.status);
  EXPECT_EQ("<h1>docs</h1>\n", d.body);
  EXPECT_EQ("text/html", d.header("content-type"));
}

TYPED_TEST(StaticFilesTest, PipelinedFilesComeBackInOrder) {
  this->start();
  Client c(this->port());
  std::string batch;
  // More files than one output buffer holds at once (OutBuffer::kMaxFiles).
  for (int i = 0; i < 12; ++i) {
    batch += get(i % 3 == 2 ? "/static/hello.txt" : "/static/big.bin");
    if (i == 5) batch += get("/static/big.bin", "Range: bytes=1000-1999\r\n");
  }
  // Looked up once before, so that the batch is answered from the cache
  // without a deferred answer, and fills the output buffer's file slots.
  ASSERT_EQ(200, fetch(this->port(), get("/static/big.bin")).status);
  ASSERT_EQ(200, fetch(this->port(), get("/static/hello.txt")).status);
  ASSERT_TRUE(c.send(batch));
  const std::string big = pattern(kBig);
  for (int i = 0; i < 12; ++i) {
    Reply r = c.read_reply();
    ASSERT_TRUE(r.ok) << i;
    if (i % 3 == 2) {
      EXPECT_EQ("hello, static\n", r.body) << i;
    } else {
      EXPECT_TRUE(r.body == big) << i;
    }
    if (i == 5) {
      Reply part = c.read_reply();
      ASSERT_TRUE(part.ok);
      EXPECT_EQ(206, part.status);
      EXPECT_EQ("bytes 1000-1999/" + std::to_string(kBig), part.header("content-range"));
      EXPECT_TRUE(part.body == big.substr(1000, 1000));
    }
  }
}

TYPED_TEST(StaticFilesTest, HeadAnswersWhatGetWouldWithoutTheBody) {
  this->start();
  Client c(this->port());
  for (std::string_view path : {"/static/big.bin", "/static/hello.txt"}) {
    ASSERT_TRUE(c.send("HEAD " + std::string(path) + " HTTP/1.1\r\nHost: t\r\n\r\n"));
    Reply h = c.read_reply(/*head_request=*/true);
    ASSERT_TRUE(h.ok) << path;
    EXPECT_EQ(200, h.status);
    EXPECT_EQ(path == "/static/big.bin" ? std::to_string(kBig) : "14", h.header("content-length"));
  }
  // Nothing stray after the heads: the next answer parses.
  ASSERT_TRUE(c.send(get("/static/hello.txt")));
  EXPECT_EQ("hello, static\n", c.read_reply().body);
}

TYPED_TEST(StaticFilesTest, ValidatorsAndRanges) {
  this->start();
  const Reply first = fetch(this->port(), get("/static/big.bin"));
  const std::string etag = first.header("etag");
  const std::string date = first.header("last-modified");
  ASSERT_FALSE(etag.empty());
  Client c(this->port());
  auto ask = [&](std::string_view path, std::string extra) {
    EXPECT_TRUE(c.send(get(path, extra)));
    Reply r = c.read_reply();
    EXPECT_TRUE(r.ok) << extra;
    return r;
  };
  Reply r = ask("/static/big.bin", "If-None-Match: " + etag + "\r\n");
  EXPECT_EQ(304, r.status);
  EXPECT_EQ("", r.body);
  EXPECT_EQ(etag, r.header("etag"));
  EXPECT_EQ(304, ask("/static/big.bin", "If-Modified-Since: " + date + "\r\n").status);
  EXPECT_EQ(200, ask("/static/big.bin", "If-None-Match: \"other\"\r\n").status);
  EXPECT_EQ(412, ask("/static/big.bin", "If-Match: \"other\"\r\n").status);
  // A list on several field lines is one list (RFC 9110 5.3).
  EXPECT_EQ(200, ask("/static/big.bin", "If-Match: \"other\"\r\nIf-Match: " + etag + "\r\n").status);
  EXPECT_EQ(412, ask("/static/big.bin", "If-Match: \"a\"\r\nIf-Match: \"b\"\r\n").status);
  EXPECT_EQ(304, ask("/static/big.bin", "If-None-Match: \"a\"\r\nIf-None-Match: " + etag + "\r\n").status);
  EXPECT_EQ(200, ask("/static/hello.txt", "If-Match: *\r\n").status);

  const std::string big = pattern(kBig);
  r = ask("/static/big.bin", "Range: bytes=100-199\r\n");
  EXPECT_EQ(206, r.status);
  EXPECT_EQ("100", r.header("content-length"));
  EXPECT_EQ("bytes 100-199/" + std::to_string(kBig), r.header("content-range"));
  EXPECT_TRUE(r.body == big.substr(100, 100));
  r = ask("/static/big.bin", "Range: bytes=-10\r\n");
  EXPECT_EQ(206, r.status);
  EXPECT_TRUE(r.body == big.substr(kBig - 10));
  r = ask("/static/hello.txt", "Range: bytes=7-12\r\n");  // a small file's range: from the cached bytes
  EXPECT_EQ(206, r.status);
  EXPECT_EQ("static", r.body);
  r = ask("/static/big.bin", "Range: bytes=999999999-\r\n");
  EXPECT_EQ(416, r.status);
  EXPECT_EQ("bytes */" + std::to_string(kBig), r.header("content-range"));
  r = ask("/static/big.bin", "Range: bytes=0-0\r\nIf-Range: \"other\"\r\n");
  EXPECT_EQ(200, r.status);  // another version: the whole file
  EXPECT_EQ(kBig, r.body.size());
  r = ask("/static/big.bin", "Range: bytes=0-1,5-6\r\n");
  EXPECT_EQ(200, r.status);  // several ranges: the whole file
  // The connection went on through all of it.
  EXPECT_EQ(200, ask("/static/hello.txt", "").status);
}

TYPED_TEST(StaticFilesTest, PathsThatMayNotBeServed) {
  this->start();
  struct Case {
    std::string request;
    int status;
  };
  const Case cases[] = {
      {get("/static/missing.txt"), 404},
      {get("/static/../outside"), 400},
      {get("/static/%2e%2e/outside"), 400},
      {get("/static/docs/%2E%2e/hello.txt"), 400},
      {get("/static/hello%00.txt"), 400},
      {get("/static/a%5c..%5chello.txt"), 400},
      {get("/static/%zz"), 400},
      {get("/static/.secret"), 404},
      {get("/static/docs/.hidden/x"), 404},
      {get("/static/out"), 403},
      {get("/static/empty/"), 403},
      {get("/static/hello.txt/"), 404},
      {"POST /static/hello.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", 405},
      {"DELETE /static/hello.txt HTTP/1.1\r\nHost: t\r\n\r\n", 405},
  };
  for (const Case& c : cases) {
    Reply r = fetch(this->port(), c.request);
    EXPECT_EQ(c.status, r.status) << c.request;
    EXPECT_EQ(std::string::npos, r.body.find("outside the root")) << c.request;
    if (c.status == 405) {
      EXPECT_EQ("GET, HEAD", r.header("allow")) << c.request;
    }
  }
  Reply dir = fetch(this->port(), get("/static/docs?x=1"));
  EXPECT_EQ(301, dir.status);
  EXPECT_EQ("/static/docs/?x=1", dir.header("location"));
  // Mounted at the root, "//docs" names the directory docs: its Location
  // must not read as "//docs/", a URL of the host "docs".
  Reply slashes = fetch(this->port(), get("//docs"));
  EXPECT_EQ(301, slashes.status);
  EXPECT_EQ("/docs/", slashes.header("location"));
  Reply empty = fetch(this->port(), get("/static/empty"));
  EXPECT_EQ(301, empty.status);
  EXPECT_EQ("/static/empty/", empty.header("location"));
}

// The proof that a slow disk does not stall the loop, by order: while one
// client's lookup sleeps in the pool, other clients on the same worker are
// answered (a cached file, a plain route), and the slow one's answer has
// not come yet; then it comes, correct.
TYPED_TEST(StaticFilesTest, ASlowLookupDoesNotHoldUpOtherClients) {
  this->start();
  ASSERT_EQ(200, fetch(this->port(), get("/static/hello.txt")).status);  // cached now
  this->set_pool_delay(200ms);
  Client slow(this->port());
  ASSERT_TRUE(slow.send(get("/static/big.bin")));
  for (int i = 0; i < 200 && this->pool_in_flight() == 0; ++i) std::this_thread::sleep_for(1ms);
  ASSERT_EQ(1u, this->pool_in_flight()) << "the lookup never reached the pool";
  Reply cached = fetch(this->port(), get("/static/hello.txt"));
  Reply plain = fetch(this->port(), get("/"));
  EXPECT_EQ(200, cached.status);
  EXPECT_EQ(200, plain.status);
  EXPECT_EQ(1u, this->pool_in_flight()) << "answered only after the slow lookup ended: no proof";
  pollfd p{slow.fd(), POLLIN, 0};
  EXPECT_EQ(0, ::poll(&p, 1, 0)) << "the slow answer came before the others";
  Reply r = slow.read_reply();
  ASSERT_TRUE(r.ok);
  EXPECT_TRUE(r.body == pattern(kBig));
}

// The same for the bytes of a file not in the page cache: on epoll the
// pool reads them ahead of sendfile() (here slowly), and the loop serves
// others meanwhile; on io_uring the ring reads them, and the pool is idle.
TYPED_TEST(StaticFilesTest, AColdFileIsReadOffTheLoop) {
  testing::write_file(this->root_ + "/cold.bin", pattern(kBig, 3));
  ASSERT_TRUE(make_cold(this->root_ + "/cold.bin"));
  this->start();
  // Looked up (HEAD reads no byte): cached now, and known not resident.
  ASSERT_EQ(200, fetch(this->port(), "HEAD /static/cold.bin HTTP/1.1\r\nHost: t\r\n\r\n").status);
  ASSERT_EQ(200, fetch(this->port(), get("/static/hello.txt")).status);  // cached too: no lookup below
  this->set_pool_delay(200ms);
  Client slow(this->port());
  ASSERT_TRUE(slow.send(get("/static/cold.bin")));
  constexpr bool kRing = TypeParam::kTrigger == Trigger::kCompletion;
  if constexpr (!kRing) {
    for (int i = 0; i < 200 && this->pool_in_flight() == 0; ++i) std::this_thread::sleep_for(1ms);
    ASSERT_EQ(1u, this->pool_in_flight()) << "the cold bytes were not read on the pool";
  }
  EXPECT_EQ(200, fetch(this->port(), get("/")).status);
  EXPECT_EQ(200, fetch(this->port(), get("/static/hello.txt")).status);
  if constexpr (!kRing) {
    EXPECT_EQ(1u, this->pool_in_flight()) << "answered only after the slow read ended: no proof";
  }
  Reply r = slow.read_reply();
  ASSERT_TRUE(r.ok);
  EXPECT_TRUE(r.body == pattern(kBig, 3));
}

// The client resets its connection while its lookup is in the pool: the
// response fails at once (the reset is heard), the late result finds it
// stale and is dropped, and the server serves on.
TYPED_TEST(StaticFilesTest, AClientGoneDuringTheLookup) {
  this->start();
  this->set_pool_delay(100ms);
  {
    Client gone(this->port());
    ASSERT_TRUE(gone.send(get("/static/big.bin")));
    for (int i = 0; i < 200 && this->pool_in_flight() == 0; ++i) std::this_thread::sleep_for(1ms);
    ASSERT_EQ(1u, this->pool_in_flight());
    const ::linger reset{1, 0};
    ASSERT_EQ(0, ::setsockopt(gone.fd(), SOL_SOCKET, SO_LINGER, &reset, sizeof reset));
  }
  for (int i = 0; i < 500 && this->resets() == 0; ++i) std::this_thread::sleep_for(1ms);
  EXPECT_EQ(1u, this->resets()) << "the reset was not heard while the lookup was pending";
  EXPECT_EQ(1u, this->pool_in_flight()) << "no proof: the lookup ended before the reset was heard";
  for (int i = 0; i < 500 && this->pool_in_flight() != 0; ++i) std::this_thread::sleep_for(1ms);
  EXPECT_EQ(0u, this->pool_in_flight());
  this->set_pool_delay(0ms);
  EXPECT_TRUE(fetch(this->port(), get("/static/big.bin")).body == pattern(kBig));
}

// A cold file of several read-ahead chunks to a client that reads late
// (the socket fills, then the bytes beyond what was read ahead wait for the
// pool): every byte arrives, in order, and the loop sleeps while it waits
// (a writable socket with nothing to send must not wake it each turn).
TYPED_TEST(StaticFilesTest, AColdFileOfManyChunksToASlowReader) {
  constexpr size_t kSize = 16 << 20;  // more than the socket buffers: sends block between chunks
  testing::write_file(this->root_ + "/cold5.bin", pattern(kSize, 5));
  ASSERT_TRUE(make_cold(this->root_ + "/cold5.bin"));
  this->start();
  ASSERT_EQ(200, fetch(this->port(), "HEAD /static/cold5.bin HTTP/1.1\r\nHost: t\r\n\r\n").status);
  ASSERT_EQ(200, fetch(this->port(), get("/static/hello.txt")).status);
  this->set_pool_delay(20ms);  // each chunk's read-ahead: a spinning loop would turn for 20 ms
  auto turns = [this] { return this->server_->on_loop([](auto& s) { return s.scheduler().turns(); }); };
  const uint64_t before = turns();
  Client c(this->port());
  const int small = 64 * 1024;
  ASSERT_EQ(0, ::setsockopt(c.fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small));
  ASSERT_TRUE(c.send(get("/static/cold5.bin") + get("/static/hello.txt")));
  std::this_thread::sleep_for(100ms);
  Reply r = c.read_reply();
  ASSERT_TRUE(r.ok);
  EXPECT_TRUE(r.body == pattern(kSize, 5)) << "the body differs";
  EXPECT_EQ("hello, static\n", c.read_reply().body);
  EXPECT_LT(turns() - before, 5000u) << "the loop spun while the pool read ahead";
}

// The client half-closes right after its request while the cold bytes are
// read ahead: a half-close is not a hang-up, so the whole answer goes out,
// then the FIN.
TYPED_TEST(StaticFilesTest, AHalfCloseDuringAReadAheadStillGetsTheWholeFile) {
  testing::write_file(this->root_ + "/cold.bin", pattern(kBig, 4));
  ASSERT_TRUE(make_cold(this->root_ + "/cold.bin"));
  this->start();
  ASSERT_EQ(200, fetch(this->port(), "HEAD /static/cold.bin HTTP/1.1\r\nHost: t\r\n\r\n").status);
  this->set_pool_delay(100ms);
  Client c(this->port());
  ASSERT_TRUE(c.send(get("/static/cold.bin")));
  c.shutdown_write();
  Reply r = c.read_reply();
  ASSERT_TRUE(r.ok) << c.end_reason();
  EXPECT_TRUE(r.body == pattern(kBig, 4));
  EXPECT_TRUE(c.wait_closed()) << c.end_reason();
}

// The disk does not give the bytes within the write deadline: the answer
// cannot be completed, so the connection fails (never a clean-looking end
// of a short body), and others are served. The ring reads files itself,
// so there the slow pool delays nothing and the answer is whole.
TYPED_TEST(StaticFilesTest, AReadAheadPastTheWriteDeadlineFailsTheConnection) {
  constexpr bool kRing = TypeParam::kTrigger == Trigger::kCompletion;
  testing::write_file(this->root_ + "/cold.bin", pattern(kBig, 6));
  ASSERT_TRUE(make_cold(this->root_ + "/cold.bin"));
  ServerConfig config;
  config.write_timeout = 100ms;
  this->start(config);
  ASSERT_EQ(200, fetch(this->port(), "HEAD /static/cold.bin HTTP/1.1\r\nHost: t\r\n\r\n").status);
  this->set_pool_delay(600ms);
  Client c(this->port());
  ASSERT_TRUE(c.send(get("/static/cold.bin")));
  Reply r = c.read_reply();
  if constexpr (kRing) {
    EXPECT_TRUE(r.ok && r.body == pattern(kBig, 6));
  } else {
    EXPECT_FALSE(r.ok) << "a complete answer, though the read outlived the deadline";
    // Failed and closed at the deadline: the late read-ahead finds the
    // connection gone, and nothing is written to a socket already shut.
    for (int i = 0; i < 2000 && this->pool_in_flight() != 0; ++i) std::this_thread::sleep_for(1ms);
    EXPECT_EQ(0u, this->pool_in_flight());
    EXPECT_EQ(0u, this->resets()) << "the server wrote the file after the deadline had ended the answer";
    EXPECT_EQ(1u, this->server_->on_loop([](auto& s) { return s.stats().timeouts; }));
  }
  this->set_pool_delay(0ms);
  EXPECT_EQ(200, fetch(this->port(), get("/")).status);
}

// A cached file of many turns' shares, with a small answer pipelined
// behind it: the large one goes out in pieces between other events (a
// yield, or a wait for room) and still whole and in order.
TYPED_TEST(StaticFilesTest, ALargeCachedFileAndAnAnswerBehindIt) {
  constexpr size_t kSize = 8 << 20;
  testing::write_file(this->root_ + "/large.bin", pattern(kSize, 8));
  this->start();
  Client c(this->port());
  for (int round = 0; round < 2; ++round) {  // a lookup, then from the cache
    ASSERT_TRUE(c.send(get("/static/large.bin") + get("/static/hello.txt")));
    Reply r = c.read_reply();
    ASSERT_TRUE(r.ok) << round;
    EXPECT_TRUE(r.body == pattern(kSize, 8)) << round;
    EXPECT_EQ("hello, static\n", c.read_reply().body) << round;
  }
}

// A client that never reads a large file: the write deadline ends the
// connection (on io_uring while a POLLOUT waits for room, which the close
// cancels), and the server serves on.
TYPED_TEST(StaticFilesTest, AClientThatNeverReadsALargeFileIsCut) {
  constexpr size_t kSize = 32 << 20;
  testing::write_file(this->root_ + "/large.bin", pattern(kSize, 9));
  ServerConfig config;
  config.write_timeout = 200ms;
  this->start(config);
  ASSERT_EQ(200, fetch(this->port(), "HEAD /static/large.bin HTTP/1.1\r\nHost: t\r\n\r\n").status);
  {
    Client c(this->port());
    ASSERT_TRUE(c.send(get("/static/large.bin")));
    auto timeouts = [this] { return this->server_->on_loop([](auto& s) { return s.stats().timeouts; }); };
    for (int i = 0; i < 300 && timeouts() == 0; ++i) std::this_thread::sleep_for(10ms);
    EXPECT_EQ(1u, timeouts());
  }
  auto active = [this] { return this->server_->on_loop([](auto& s) { return s.stats().active; }); };
  for (int i = 0; i < 300 && active() != 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(0u, active()) << "the cut connection was never released";
  EXPECT_EQ(200, fetch(this->port(), get("/static/hello.txt")).status);
}

// A file cut short while it is being sent: the promised Content-Length can
// no longer be kept, so the connection ends instead of going on out of
// step; the server serves others meanwhile and after.
TYPED_TEST(StaticFilesTest, AFileThatShrinksMidSendEndsTheConnection) {
  constexpr size_t kHuge = 32 << 20;  // more than the socket buffers hold
  testing::write_file(this->root_ + "/huge.bin", pattern(kHuge, 7));
  this->start();
  Client c(this->port());
  ASSERT_TRUE(c.send(get("/static/huge.bin") + get("/static/hello.txt")));
  // The head is there: the server is blocked mid-file. Cut the file.
  pollfd p{c.fd(), POLLIN, 5000};
  ASSERT_EQ(1, ::poll(&p, 1, 5000));
  ASSERT_EQ(0, ::truncate((this->root_ + "/huge.bin").c_str(), 1 << 20));
  const std::string all = c.read_until_close();
  const size_t head_end = all.find("\r\n\r\n");
  ASSERT_NE(std::string::npos, head_end);
  EXPECT_EQ(0u, all.find("HTTP/1.1 200 OK\r\n"));
  EXPECT_NE(std::string::npos, all.find("Content-Length: " + std::to_string(kHuge)));
  const size_t body = all.size() - head_end - 4;
  EXPECT_LT(body, kHuge) << "more than the file held";
  EXPECT_EQ(std::string::npos, all.find("hello, static")) << "answered on past a broken body";
  EXPECT_EQ(200, fetch(this->port(), get("/static/hello.txt")).status);
}

}  // namespace
}  // namespace hellepoll::http::static_files
