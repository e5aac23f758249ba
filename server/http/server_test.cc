// HttpServer specification, for every Io policy (trigger x write path), over
// real sockets on 127.0.0.1 with the server's loop on its own thread.
#include "server/http/server.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <future>
#include <regex>
#include <string>
#include <thread>

#include "server/testing/client.h"
#include "server/testing/server_thread.h"

namespace hellepoll::http {
namespace {

using hellepoll::testing::Client;
using hellepoll::testing::fetch;
using hellepoll::testing::Reply;
using hellepoll::testing::ServerThread;
using namespace std::chrono_literals;

constexpr char kGet[] = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
constexpr size_t kTickerFirst = 8 << 20;  // more than loopback buffers hold
constexpr int kTicks = 12;
constexpr auto kTickEvery = std::chrono::milliseconds(50);
constexpr size_t kHugeBody = 16 << 20;

template <class Io>
class HttpServerTest : public ::testing::Test {
 protected:
  HttpServerTest() {
    router_.get("/", [](Request&, Response& res) { res.send_static(200, "Hello World", "text/plain"); });
    router_.exact("/echo", MethodSet{Method::kPost, Method::kPut},
                  [](Request& req, Response& res) { res.send(200, req.body(), "application/octet-stream"); });
    router_.stem("/path/", kGetHead, [](Request& req, Response& res) { res.send(200, req.path()); });
    router_.regex("^/user/[0-9]+$", kGetHead,
                  [](Request& req, Response& res) { res.send(200, req.target()); });
    router_.get("/big", [](Request&, Response& res) { res.send(200, std::string(64 * 1024, 'b')); });
    router_.get("/stream", [](Request&, Response& res) {
      res.start_chunked();
      res.write("one,");
      res.write("two,");
      res.write("three");
      res.end();
    });
    router_.get("/write-then-send", [](Request&, Response& res) {
      res.write("written,");
      res.send(200, std::string("sent"));  // a temporary: dies with the call
    });
    router_.get("/write-then-static", [](Request&, Response& res) {
      res.write("written,");
      res.send_static(200, "static");
    });
    router_.get("/throw", [](Request&, Response&) -> void { throw std::runtime_error("handler bug"); });
    router_.get("/forget", [](Request&, Response&) {});
    router_.get("/later-built", [this](Request&, Response& res) {
      // Builds part of its answer before deferring, finishes it later.
      res.add_header("X-Part", "1");
      res.write("part1");
      Response::Handle handle = res.defer();
      server_->scheduler().call_later(30ms, [handle] {
        (void)handle.write("+part2");
        (void)handle.end();
      });
    });
    router_.get("/ticker", [this](Request&, Response& res) {
      // A stream whose first piece fills the socket, then makes steady
      // progress for longer than the write timeout.
      res.start_chunked();
      res.write(std::string(kTickerFirst, 'f'));
      Response::Handle handle = res.defer();
      auto ticks = std::make_shared<int>(0);
      auto tick = std::make_shared<std::function<void()>>();
      *tick = [this, handle, ticks, tick] {
        if (!handle.alive()) {
          *tick = nullptr;  // breaks the cycle
          return;
        }
        if (++*ticks > kTicks) {
          (void)handle.end();
          *tick = nullptr;
          return;
        }
        (void)handle.write("tick");
        server_->scheduler().call_later(kTickEvery, *tick);
      };
      server_->scheduler().call_later(kTickEvery, *tick);
    });
    router_.get("/huge", [](Request&, Response& res) { res.send(200, std::string(kHugeBody, 'h')); });
    router_.get("/huge-static", [](Request&, Response& res) {
      static const std::string body(kHugeBody, 'h');
      res.send_static(200, body);
    });
    router_.get("/no-content-with-body", [](Request&, Response& res) { res.send(204, "x"); });
    router_.get("/not-modified-stream", [](Request&, Response& res) {
      res.set_status(304);
      res.start_chunked();
      res.write("stale");
      res.end();
    });
    router_.get("/no-content-written", [](Request&, Response& res) {
      res.set_status(204);
      res.write("y");
      res.end();
    });
    router_.get("/never", [this](Request&, Response& res) {
      // Defers and never answers: the handler deadline must.
      res.defer();
      res.on_error([this](const Error& e) { deferred_error_ = static_cast<int>(e.kind); });
    });
    router_.get("/stall-stream", [this](Request&, Response& res) {
      res.start_chunked();
      res.write("begun");
      res.defer();
      res.on_error([this](const Error& e) { deferred_error_ = static_cast<int>(e.kind); });
    });
    router_.get("/defer-then-throw", [](Request&, Response& res) -> void {
      res.add_header("X-Leak", "1");
      res.defer();
      throw std::runtime_error("handler bug after defer()");
    });
    router_.get("/later-throws", [this](Request&, Response& res) {
      // The code that was to complete the answer throws instead.
      res.defer();
      server_->scheduler().call_later(10ms, [] { throw std::runtime_error("completion bug"); });
    });
    router_.get("/later", [this](Request& req, Response& res) {
      // An asynchronous handler: answers 30 ms later from a timer.
      Response::Handle handle = res.defer();
      res.on_error([this](const Error& e) { deferred_error_ = static_cast<int>(e.kind); });
      std::string body = "later " + std::string(req.query());
      server_->scheduler().call_later(30ms, [handle, body] {
        (void)handle.send(200, body);  // refused (kStale) once the client is gone
      });
    });
  }
  void start(ServerConfig config = {}) { server_ = std::make_unique<ServerThread<Io>>(router_, config); }
  uint16_t port() { return server_->port(); }
  // Requests the server has read so far.
  uint64_t requests() {
    return server_->on_loop([](auto& s) { return s.stats().requests; });
  }

  Router router_;
  std::unique_ptr<ServerThread<Io>> server_;
  std::atomic<int> deferred_error_{-1};
};

TYPED_TEST_SUITE(HttpServerTest, hellepoll::testing::Policies, hellepoll::testing::PolicyNames);

// The server ended the connection with a FIN and nothing after the replies
// read so far: no stray bytes, no reset (which would have destroyed replies
// the client had not read yet). `half_closed`: the client shut down its
// side first.
::testing::AssertionResult ClosedCleanly(Client& c, bool half_closed = false) {
  std::string rest = c.read_until_close();
  if (!rest.empty())
    return ::testing::AssertionFailure() << rest.size() << " stray bytes: " << rest.substr(0, 80);
  if (c.end_reason() != "eof with 0 bytes unparsed") return ::testing::AssertionFailure() << c.end_reason();
  // A reset that arrives after the FIN is not reported by recv(): it sets
  // the socket's error and moves it from CLOSE_WAIT to CLOSE (where a
  // half-closed socket goes anyway, through TIME_WAIT).
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(c.fd(), SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) return ::testing::AssertionFailure() << "reset after the FIN: " << std::strerror(err);
  tcp_info info{};
  len = sizeof info;
  getsockopt(c.fd(), IPPROTO_TCP, TCP_INFO, &info, &len);
  if (!half_closed && info.tcpi_state == TCP_CLOSE)
    return ::testing::AssertionFailure() << "reset after the FIN";
  return ::testing::AssertionSuccess();
}

// Closes with a reset (SO_LINGER 0): a client that is gone for good.
void reset(Client& c) {
  linger l{1, 0};
  setsockopt(c.fd(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
  c.close();
}

// Waits until `fn()` holds (bounded: a test that waits for something that
// never happens fails instead of hanging).
template <class Fn>
bool eventually(Fn fn) {
  auto until = std::chrono::steady_clock::now() + 5s;
  while (!fn()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

int tcp_state(const Client& c) {
  tcp_info info{};
  socklen_t len = sizeof info;
  getsockopt(c.fd(), IPPROTO_TCP, TCP_INFO, &info, &len);
  return info.tcpi_state;
}

std::string echo_request(const std::string& body) {
  return "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
         body;
}

int unread_bytes(const Client& c) {
  int n = 0;
  ioctl(c.fd(), FIONREAD, &n);
  return n;
}

// IMF-fixdate from fixed tables: the known lines for known seconds, and the
// live line in the fixed format (the response code copies exactly 37 bytes).
TEST(DateCache, FormatsImfFixdate) {
  const std::pair<time_t, std::string> cases[] = {
      {0, "Date: Thu, 01 Jan 1970 00:00:00 GMT\r\n"},
      {951782400, "Date: Tue, 29 Feb 2000 00:00:00 GMT\r\n"},
      {1796108648, "Date: Tue, 01 Dec 2026 07:04:08 GMT\r\n"},
      {253402300799, "Date: Fri, 31 Dec 9999 23:59:59 GMT\r\n"},
  };
  for (const auto& [t, want] : cases) {
    char out[DateCache::kLineLength];
    DateCache::format_line(t, out);
    EXPECT_EQ(want, std::string(out, sizeof out)) << t;
  }
  DateCache live;
  const std::string line(live.line());
  EXPECT_TRUE(std::regex_match(line, std::regex("Date: (Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} "
                                                "(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
                                                "[0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT\r\n")))
      << line;
}

TYPED_TEST(HttpServerTest, KeepAliveHttp11ServesManyRequestsOnOneConnection) {
  this->start();
  Client c(this->port());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(c.send(kGet));
    Reply r = c.read_reply();
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(200, r.status);
    EXPECT_EQ("Hello World", r.body);
    EXPECT_EQ("11", r.header("content-length"));
    EXPECT_EQ("hellepoll", r.header("server"));
    EXPECT_EQ(29u, r.header("date").size());  // "Mon, 23 Nov 2026 09:14:37 GMT"
    EXPECT_EQ("", r.header("connection"));
  }
}

TYPED_TEST(HttpServerTest, Http10ClosesByDefault) {
  this->start();
  Client c(this->port());
  ASSERT_TRUE(c.send("GET / HTTP/1.0\r\n\r\n"));
  Reply r = c.read_reply();
  ASSERT_TRUE(r.ok);
  EXPECT_EQ("close", r.header("connection"));
  EXPECT_TRUE(c.wait_closed());
}

// ApacheBench -k: HTTP/1.0 with "Connection: keep-alive" is answered with
// "Connection: keep-alive" and the connection stays open.
TYPED_TEST(HttpServerTest, Http10KeepAliveAsApacheBenchSendsIt) {
  this->start();
  Client c(this->port());
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(c.send("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\nHost: t\r\n\r\n"));
    Reply r = c.read_reply();
    ASSERT_TRUE(r.ok);
    EXPECT_EQ("keep-alive", r.header("connection"));
    EXPECT_EQ("Hello World", r.body);
  }
}

TYPED_TEST(HttpServerTest, Http11ConnectionCloseHonoured) {
  this->start();
  Client c(this->port());
  ASSERT_TRUE(c.send("GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
  Reply r = c.read_reply();
  ASSERT_TRUE(r.ok);
  EXPECT_EQ("close", r.header("connection"));
  EXPECT_TRUE(c.wait_closed());
}

TYPED_TEST(HttpServerTest, PipelinedRequestsAnsweredInOrder) {
  this->start();
  Client c(this->port());
  std::string batch;
  for (int i = 0; i < 16; ++i) batch += "GET /path/" + std::to_string(i) + " HTTP/1.1\r\nHost: t\r\n\r\n";
  ASSERT_TRUE(c.send(batch));
  for (int i = 0; i < 16; ++i) {
    Reply r = c.read_reply();
    ASSERT_TRUE(r.ok) << i;
    EXPECT_EQ("/path/" + std::to_string(i), r.body);
  }
}

TYPED_TEST(HttpServerTest, PipelinedBehindADeferredResponseWaitForIt) {
  this->start();
  Client c(this->port());
  ASSERT_TRUE(
      c.send("GET /later?a HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n"
             "GET /later?b HTTP/1.1\r\nHost: t\r\n\r\n"));
  EXPECT_EQ("later a", c.read_reply().body);
  EXPECT_EQ("Hello World", c.read_reply().body);
  EXPECT_EQ("later b", c.read_reply().body);
}

// A reset (not a half-close: see HalfClosedClientGetsADeferredAnswer) is
// a client gone for good: the deferred handler hears it.
TYPED_TEST(HttpServerTest, DeferredHandlerHearsThatTheClientWentAway) {
  this->start();
  Client c(this->port());
  ASSERT_TRUE(c.send("GET /later?x HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_TRUE(eventually([&] { return this->requests() == 1; }));
  reset(c);  // gone before the answer
  ASSERT_TRUE(eventually([&] { return this->deferred_error_ >= 0; }));
  EXPECT_EQ(static_cast<int>(ErrorKind::kReset), this->deferred_error_.load());
}

// A client that sends its requests and half-closes still gets every answer
// it had asked for, then the connection closes.
TYPED_TEST(HttpServerTest, HalfClosedClientStillAnswered) {
  this->start();
  Client c(this->port());
  ASSERT_TRUE(c.send(std::string(kGet) + "GET /path/x HTTP/1.1\r\nHost: t\r\n\r\n"));
  c.shutdown_write();
  EXPECT_EQ("Hello World", c.read_reply().body);
  EXPECT_EQ("/path/x", c.read_reply().body);
  EXPECT_TRUE(c.wait_closed());
}

// A request that arrives while a deferred handler owns the answer, followed
// by the client's FIN: both are answered, then the connection closes (on
// io_uring the second request waits in the stash, behind the FIN).
TYPED_TEST(HttpServerTest, HalfCloseBehindADeferredResponseAnswersEverything) {
  this->start();
  Client c(this->port());
  ASSERT_TRUE(c.send("GET /later?a HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_TRUE(eventually([&] { return this->requests() == 1; }));  // the handler has it
  ASSERT_TRUE(c.send(kGet));
  c.shutdown_write();
  EXPECT_EQ("later a", c.read_reply().body);
  EXPECT_EQ("Hello World", c.read_reply().body);
  EXPECT_TRUE(c.wait_closed());
}

TYPED_TEST(HttpServerTest, HeadHasLengthButNoBody) {
  this->start();
  Client c(this->port());
  ASSERT_TRUE(c.send("HEAD / HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n"));
  Reply head = c.read_reply(/*head_request=*/true);
  ASSERT_TRUE(head.ok);
  EXPECT_EQ("11", head.header("content-length"));
  Reply get = c.read_reply();
  EXPECT_EQ("Hello World", get.body);  // no stray body bytes in between
}

TYPED_TEST(HttpServerTest, RequestBodies) {
  this->start();
  const std::string big(200 * 1024, 'x');  // larger than the read buffer
  struct Case {
    std::string request, body;
  } cases[] = {
      {"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello", "hello"},
      {"PUT /echo HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(big.size()) + "\r\n\r\n" + big,
       big},
      {"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n "
       "world\r\n0\r\n\r\n",
       "hello world"},
      {"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", ""},
  };
  for (const Case& c : cases) {
    Reply r = fetch(this->port(), c.request);
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(200, r.status);
    EXPECT_EQ(c.body.size(), r.body.size());
    EXPECT_TRUE(c.body == r.body);
  }
}

TYPED_TEST(HttpServerTest, BodyArrivingByteByByte) {
  this->start();
  Client c(this->port());
  std::string req =
      "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
  for (char ch : req) ASSERT_TRUE(c.send(std::string_view(&ch, 1)));
  Reply r = c.read_reply();
  ASSERT_TRUE(r.ok);
  EXPECT_EQ("abc", r.body);
}

TYPED_TEST(HttpServerTest, ExpectContinue) {
  this->start();
  Client c(this->port());
  ASSERT_TRUE(c.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"));
  Reply cont = c.read_reply();
  ASSERT_TRUE(cont.ok);
  EXPECT_EQ(100, cont.status);
  ASSERT_TRUE(c.send("data"));
  Reply r = c.read_reply();
  EXPECT_EQ(200, r.status);
  EXPECT_EQ("data", r.body);
}

TYPED_TEST(HttpServerTest, ErrorsAreAnsweredThenClosed) {
  ServerConfig config;
  config.limits.max_request_line = 100;
  config.limits.max_head_bytes = 1000;
  config.limits.max_body = 100;
  this->start(config);
  struct Case {
    std::string request;
    int status;
  } cases[] = {
      {"GET /" + std::string(200, 'a') + " HTTP/1.1\r\nHost: t\r\n\r\n", 414},
      {"GET / HTTP/1.1\r\nHost: t\r\nX: " + std::string(2000, 'a') + "\r\n\r\n", 431},
      {"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 101\r\n\r\n", 413},
      {"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n65\r\n", 413},
      {"GET / HTTP/1.1\r\nHost t\r\n\r\n", 400},
      {"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
      {"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
      {"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505},
      {"GET /nothing-here HTTP/1.1\r\nHost: t\r\n\r\n", 404},
      {"DELETE / HTTP/1.1\r\nHost: t\r\n\r\n", 405},
      {"GET /throw HTTP/1.1\r\nHost: t\r\n\r\n", 500},
      {"GET /forget HTTP/1.1\r\nHost: t\r\n\r\n", 500},
  };
  for (const Case& c : cases) {
    Client client(this->port());
    ASSERT_TRUE(client.send(c.request));
    Reply r = client.read_reply();
    ASSERT_TRUE(r.ok) << c.status;
    EXPECT_EQ(c.status, r.status) << c.request.substr(0, 60);
    if (c.status == 405) {
      EXPECT_EQ("GET, HEAD", r.header("allow"));
    }
    if (c.status >= 400 && c.status != 404 && c.status != 405 && c.status != 500) {
      EXPECT_EQ("close", r.header("connection"));
      EXPECT_TRUE(client.wait_closed());
    }
  }
  // The server is unharmed.
  EXPECT_EQ("Hello World", fetch(this->port(), kGet).body);
}

TYPED_TEST(HttpServerTest, Routing) {
  this->start();
  EXPECT_EQ("/path/a/b", fetch(this->port(), "GET /path/a/b?q HTTP/1.1\r\nHost: t\r\n\r\n").body);
  EXPECT_EQ("/user/42", fetch(this->port(), "GET /user/42 HTTP/1.1\r\nHost: t\r\n\r\n").body);
  EXPECT_EQ(404, fetch(this->port(), "GET /user/x HTTP/1.1\r\nHost: t\r\n\r\n").status);
  EXPECT_EQ("Hello World", fetch(this->port(), "GET http://t/ HTTP/1.1\r\nHost: t\r\n\r\n").body);
}

// send() and send_static() after write(): the body follows what was written,
// and Content-Length counts both, on every write path.
TYPED_TEST(HttpServerTest, SendAfterWriteKeepsTheWrittenBytes) {
  this->start();
  Client c(this->port());
  c.send(
      "GET /write-then-send HTTP/1.1\r\nHost: t\r\n\r\nGET /write-then-static HTTP/1.1\r\nHost: t\r\n\r\n"
      "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
  Reply a = c.read_reply(), b = c.read_reply(), hello = c.read_reply();
  EXPECT_EQ("written,sent", a.body);
  EXPECT_EQ("12", a.header("content-length"));
  EXPECT_EQ("written,static", b.body);
  EXPECT_EQ("14", b.header("content-length"));
  EXPECT_EQ("Hello World", hello.body);
}

TYPED_TEST(HttpServerTest, ChunkedStreamingResponse) {
  this->start();
  Reply r = fetch(this->port(), "GET /stream HTTP/1.1\r\nHost: t\r\n\r\n");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ("chunked", r.header("transfer-encoding"));
  EXPECT_EQ("one,two,three", r.body);
  // HTTP/1.0 has no chunked coding: raw bytes, delimited by close.
  Reply r10 = fetch(this->port(), "GET /stream HTTP/1.0\r\n\r\n");
  ASSERT_TRUE(r10.ok);
  EXPECT_EQ("", r10.header("transfer-encoding"));
  EXPECT_EQ("one,two,three", r10.body);
}

// A client that pipelines many large responses and reads nothing until it
// has sent them all still gets every byte, in order (back-pressure).
TYPED_TEST(HttpServerTest, BackPressureLosesNothing) {
  this->start();
  Client c(this->port());
  std::string batch;
  for (int i = 0; i < 64; ++i) batch += "GET /big HTTP/1.1\r\nHost: t\r\n\r\n";
  batch += kGet;
  std::thread sender([&] { c.send(batch); });
  for (int i = 0; i < 64; ++i) {
    Reply r = c.read_reply();
    ASSERT_TRUE(r.ok) << i;
    ASSERT_EQ(64u * 1024, r.body.size());
  }
  EXPECT_EQ("Hello World", c.read_reply().body);
  sender.join();
}

// A connection that pipelines without pause is served a share of each loop
// turn (~68 KB of input: 4 reads on epoll; 64 KiB on
// io_uring), so that the worker serves its other connections every turn.
// Counted in turns, not timed.
TYPED_TEST(HttpServerTest, PipeliningFloodIsServedAShareOfEachTurn) {
  struct Count {
    uint64_t turn = UINT64_MAX;
    size_t in_turn = 0;
    size_t most = 0;  // the most flood requests served in one turn
    size_t served = 0;
  };
  auto count = std::make_shared<Count>();
  this->router_.get("/flood", [this, count](Request&, Response& res) {
    const uint64_t t = this->server_->scheduler().turns();
    if (t != count->turn) {
      count->turn = t;
      count->in_turn = 0;
    }
    count->most = std::max(count->most, ++count->in_turn);
    ++count->served;
    res.send_static(200, "f");
  });
  this->start();
  constexpr std::string_view kFlood = "GET /flood HTTP/1.1\r\nHost: t\r\n\r\n";  // 32 bytes
  constexpr size_t kRequests = 16 * 1024;                                        // 512 KiB: ~7 shares
  std::string batch;
  batch.reserve(kRequests * kFlood.size());
  for (size_t i = 0; i < kRequests; ++i) batch += kFlood;
  Client flood(this->port(), 20s);
  std::thread sender([&] { flood.send(batch); });
  std::atomic<size_t> answered{0};
  std::thread reader([&] {
    for (size_t i = 0; i < kRequests; ++i) {
      Reply r = flood.read_reply();
      if (!r.ok || r.body != "f") return;
      ++answered;
    }
  });
  // Another client meanwhile: answered on every backend.
  for (int i = 0; i < 20 && answered < kRequests; ++i)
    EXPECT_EQ("Hello World", fetch(this->port(), kGet).body) << i;
  sender.join();
  reader.join();
  EXPECT_EQ(kRequests, answered.load());
  const auto [most, served] =
      this->server_->on_loop([count](auto&) { return std::pair(count->most, count->served); });
  EXPECT_EQ(kRequests, served);
  // A share is at most ~68 KB, 2,176 of these requests, and what the read
  // buffer held already (17 KB: 544) may be served in the same turn.
  EXPECT_LE(most, 2720u) << "one connection took more than its share of a turn";
  std::printf("flood: at most %zu requests of one connection served in a turn\n", most);
}

// A body cut short by the client's FIN is never completed: the connection
// ends at once, not at the read deadline, also when the FIN comes behind
// more than a turn's share (on io_uring the rest waits in the stash then).
TYPED_TEST(HttpServerTest, BodyCutShortByFinEndsAtOnce) {
  ServerConfig config;
  config.read_timeout = 30s;
  this->start(config);
  Client c(this->port());  // waits 5 s at most
  std::string req = "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\n\r\n";
  req.append(900 * 1024, 'x');
  ASSERT_TRUE(c.send(req));
  c.shutdown_write();
  EXPECT_TRUE(c.wait_closed()) << c.end_reason();
}

TYPED_TEST(HttpServerTest, IdleKeepAliveConnectionTimesOut) {
  ServerConfig config;
  config.idle_timeout = 200ms;
  this->start(config);
  Client c(this->port());
  ASSERT_TRUE(c.send(kGet));
  ASSERT_TRUE(c.read_reply().ok);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(c.wait_closed());
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 150ms);
}

// Slowloris: the whole head has one deadline, however slowly bytes trickle.
TYPED_TEST(HttpServerTest, SlowRequestGets408) {
  ServerConfig config;
  config.read_timeout = 300ms;
  this->start(config);
  Client c(this->port());
  ASSERT_TRUE(c.send("GET / HTTP/1.1\r\n"));
  std::this_thread::sleep_for(100ms);  // trickling, not synchronisation
  ASSERT_TRUE(c.send("X-A: 1\r\n"));
  Reply r = c.read_reply();
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(408, r.status);
  EXPECT_TRUE(c.wait_closed());
}

// An idle keep-alive connection owns no buffer: the pool stays small no
// matter how many connections are open.
TYPED_TEST(HttpServerTest, IdleConnectionsOwnNoBuffers) {
  this->start();
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < 200; ++i) {
    clients.push_back(std::make_unique<Client>(this->port()));
    ASSERT_TRUE(clients.back()->send(kGet));
  }
  for (auto& c : clients) ASSERT_TRUE(c->read_reply().ok);
  auto [active, buffers] =
      this->server_->on_loop([](auto& s) { return std::make_pair(s.stats().active, s.buffers_allocated()); });
  EXPECT_EQ(200u, active);
  EXPECT_LE(buffers, 130u);  // two pools of at most 64 idle buffers; none held by a connection
}

// Graceful shutdown: a request in flight when draining starts is answered
// (with Connection: close); idle connections are closed; then drain ends.
TYPED_TEST(HttpServerTest, DrainFinishesInFlightRequests) {
  this->start();
  Client idle(this->port());
  ASSERT_TRUE(idle.send(kGet));
  ASSERT_TRUE(idle.read_reply().ok);
  Client busy(this->port());
  ASSERT_TRUE(busy.send("GET /later?d HTTP/1.1\r\nHost: t\r\n\r\n"));
  // Wait until the server has the request (it is deferred for 30 ms).
  (void)eventually([&] { return this->requests() >= 2; });
  auto drained = this->server_->drain();
  Reply r = busy.read_reply();
  ASSERT_TRUE(r.ok);
  EXPECT_EQ("later d", r.body);
  EXPECT_EQ("close", r.header("connection"));
  EXPECT_TRUE(idle.wait_closed());
  EXPECT_EQ(std::future_status::ready, drained.wait_for(5s));
}

// Draining never drops a request the server has already read: pipelined
// requests behind a deferred one are answered, the last with
// "Connection: close", then the connection closes.
TYPED_TEST(HttpServerTest, DrainAnswersEveryBufferedRequest) {
  this->start();
  Client c(this->port());
  ASSERT_TRUE(c.send("GET /later?p HTTP/1.1\r\nHost: t\r\n\r\n" + std::string(kGet) +
                     "GET /path/last HTTP/1.1\r\nHost: t\r\n\r\n"));
  (void)eventually([&] { return this->requests() >= 1; });
  auto drained = this->server_->drain();
  Reply a = c.read_reply();
  Reply b = c.read_reply();
  Reply last = c.read_reply();
  EXPECT_EQ("later p", a.body);
  EXPECT_EQ("Hello World", b.body);
  EXPECT_EQ("/path/last", last.body);
  EXPECT_EQ("close", last.header("connection"));
  EXPECT_TRUE(c.wait_closed());
  EXPECT_EQ(std::future_status::ready, drained.wait_for(5s));
}

// ---- correctness of deferred, streaming and draining responses ----

// A streamed response must not disturb the bodies of answers queued before
// it in the same output buffer (the writev path points into them).
TYPED_TEST(HttpServerTest, EchoBodiesSurviveAStreamInTheSameBatch) {
  this->start();
  const std::string a(300, 'a'), b(300, 'c');
  Client c(this->port());
  ASSERT_TRUE(c.send(echo_request(a) + "GET /stream HTTP/1.1\r\nHost: t\r\n\r\n" + echo_request(b)));
  Reply ra = c.read_reply(), stream = c.read_reply(), rb = c.read_reply();
  EXPECT_TRUE(ra.body == a) << ra.body.substr(0, 10);
  EXPECT_EQ("one,two,three", stream.body);
  EXPECT_TRUE(rb.body == b) << rb.body.substr(0, 10);
}

// The same when the first echo is still queued behind a blocked socket as
// the stream starts (an answer larger than the socket buffers, sent without
// a copy, blocks the socket without filling the output buffer).
TYPED_TEST(HttpServerTest, EchoBodyQueuedBehindABlockedSocketSurvivesAStream) {
  this->start();
  const std::string a(300, 'a'), b(300, 'c');
  Client c(this->port());
  ASSERT_TRUE(c.send("GET /huge-static HTTP/1.1\r\nHost: t\r\n\r\n" + echo_request(a)));
  if constexpr (std::is_same_v<typename TypeParam::Write, GatherWrite>) {
    // (The write path copies the large answer and pauses reading until it
    // is sent: there the stream comes after it.)
    ASSERT_TRUE(eventually([&] { return this->requests() == 2; }));
  }
  ASSERT_TRUE(c.send("GET /stream HTTP/1.1\r\nHost: t\r\n\r\n" + echo_request(b)));
  ASSERT_TRUE(c.read_reply().body == std::string(kHugeBody, 'h'));
  Reply ra = c.read_reply(), stream = c.read_reply(), rb = c.read_reply();
  EXPECT_TRUE(ra.body == a) << ra.body.substr(0, 10);
  EXPECT_EQ("one,two,three", stream.body);
  EXPECT_TRUE(rb.body == b) << rb.body.substr(0, 10);
}

// Headers and body bytes a handler set before defer() are part of the
// answer it completes later, even when an earlier answer was flushed
// meanwhile.
TYPED_TEST(HttpServerTest, DeferredResponseKeepsWhatItBuiltBeforeDefer) {
  this->start();
  Client c(this->port());
  ASSERT_TRUE(c.send(std::string(kGet) + "GET /later-built HTTP/1.1\r\nHost: t\r\n\r\n"));
  EXPECT_EQ("Hello World", c.read_reply().body);
  Reply r = c.read_reply();
  ASSERT_TRUE(r.ok);
  EXPECT_EQ("part1+part2", r.body);
  EXPECT_EQ("1", r.header("x-part"));
}

// A stream that blocked once and then makes steady progress is not cut by
// a write deadline left over from the blocked write.
TYPED_TEST(HttpServerTest, StreamMakingProgressOutlivesTheWriteTimeout) {
  ServerConfig config;
  config.write_timeout = 300ms;
  this->start(config);
  Client c(this->port());
  ASSERT_TRUE(c.send("GET /ticker HTTP/1.1\r\nHost: t\r\n\r\n"));
  std::this_thread::sleep_for(200ms);  // the client is slow to start reading: the first piece blocks
  Reply r = c.read_reply();
  ASSERT_TRUE(r.ok) << c.end_reason();
  EXPECT_EQ(kTickerFirst + 4 * kTicks, r.body.size());
}

// 204 and 304 never carry a body or Transfer-Encoding, whatever the handler
// tries: bytes after their head would be read as the next response.
TYPED_TEST(HttpServerTest, NoBodyStatusesCarryNoBody) {
  this->start();
  Client c(this->port());
  ASSERT_TRUE(
      c.send("GET /no-content-with-body HTTP/1.1\r\nHost: t\r\n\r\n"
             "GET /not-modified-stream HTTP/1.1\r\nHost: t\r\n\r\n"
             "GET /no-content-written HTTP/1.1\r\nHost: t\r\n\r\n" +
             std::string(kGet)));
  for (int status : {204, 304, 204}) {
    Reply r = c.read_reply();
    ASSERT_TRUE(r.ok) << status;
    EXPECT_EQ(status, r.status);
    EXPECT_EQ("", r.header("content-length")) << status;
    EXPECT_EQ("", r.header("transfer-encoding")) << status;
  }
  Reply hello = c.read_reply();
  EXPECT_EQ(200, hello.status);
  EXPECT_EQ("Hello World", hello.body);
}

// A client that keeps sending after a request that ends the connection,
// while the answer is still blocked: the server's full input buffer is not
// the client's end of stream, and the answer arrives whole, then a FIN.
TYPED_TEST(HttpServerTest, FullInputBufferIsNotEndOfStream) {
  this->start();
  Client c(this->port());
  ASSERT_TRUE(c.send("GET /huge HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
  ASSERT_TRUE(c.send(std::string(40 * 1024, 'x')));  // more than the read buffer holds
  Reply r = c.read_reply();
  ASSERT_TRUE(r.ok) << c.end_reason();
  EXPECT_EQ(kHugeBody, r.body.size());
  EXPECT_TRUE(ClosedCleanly(c));
}

// Draining closes an idle keep-alive connection by lingering: a request the
// client sends as the server's FIN crosses it is discarded, not answered by
// a reset that would destroy the reply the client has not read yet.
TYPED_TEST(HttpServerTest, DrainLingersOnAnIdleConnection) {
  this->start();
  Client c(this->port());
  ASSERT_TRUE(c.send(kGet));
  ASSERT_TRUE(eventually([&] { return unread_bytes(c) > 0; }));  // answered; not read yet
  auto drained = this->server_->drain();
  ASSERT_TRUE(eventually([&] { return tcp_state(c) == TCP_CLOSE_WAIT; }));  // the server's FIN arrived
  ASSERT_TRUE(c.send(kGet));
  Reply r = c.read_reply();
  ASSERT_TRUE(r.ok) << c.end_reason();
  EXPECT_EQ("Hello World", r.body);
  EXPECT_TRUE(ClosedCleanly(c));
  c.close();
  EXPECT_EQ(std::future_status::ready, drained.wait_for(5s));
}

// A 408 for a request that trickles too slowly reaches the client although
// it is still sending: the server lingers instead of resetting.
TYPED_TEST(HttpServerTest, TimeoutReplyIsNotResetAway) {
  ServerConfig config;
  config.read_timeout = 200ms;
  this->start(config);
  Client c(this->port());
  ASSERT_TRUE(c.send("GET / HTTP/1.1\r\n"));
  for (int i = 0; i < 30; ++i) {  // trickles on for 600 ms, past the deadline
    std::this_thread::sleep_for(20ms);
    c.send("X: 1\r\n");
  }
  Reply r = c.read_reply();
  ASSERT_TRUE(r.ok) << c.end_reason();
  EXPECT_EQ(408, r.status);
  EXPECT_TRUE(ClosedCleanly(c));
}

// A half-close (FIN after a complete request) is not a hang-up: a deferred
// handler's answer still arrives.
TYPED_TEST(HttpServerTest, HalfClosedClientGetsADeferredAnswer) {
  this->start();
  Client c(this->port());
  ASSERT_TRUE(c.send("GET /later?h HTTP/1.1\r\nHost: t\r\n\r\n"));
  c.shutdown_write();
  Reply r = c.read_reply();
  ASSERT_TRUE(r.ok) << c.end_reason();
  EXPECT_EQ("later h", r.body);
  EXPECT_TRUE(ClosedCleanly(c, /*half_closed=*/true));
}

// A deferred handler that never answers: after handler_timeout the client
// gets a 504 and a clean close, the handler hears kTimeout.
TYPED_TEST(HttpServerTest, DeferredHandlerPastItsDeadlineIsAnswered504) {
  ServerConfig config;
  config.handler_timeout = 200ms;
  this->start(config);
  Client c(this->port());
  ASSERT_TRUE(c.send("GET /never HTTP/1.1\r\nHost: t\r\n\r\n" + std::string(kGet)));
  Reply r = c.read_reply();
  ASSERT_TRUE(r.ok) << c.end_reason();
  EXPECT_EQ(504, r.status);
  EXPECT_EQ("close", r.header("connection"));
  EXPECT_TRUE(ClosedCleanly(c));  // the pipelined request behind it is not answered
  EXPECT_EQ(static_cast<int>(ErrorKind::kTimeout), this->deferred_error_.load());
}

// A stream that stops making progress is cut after handler_timeout: the
// client sees it unterminated, never a complete-looking answer.
TYPED_TEST(HttpServerTest, StalledStreamIsCutNotEnded) {
  ServerConfig config;
  config.handler_timeout = 200ms;
  this->start(config);
  Client c(this->port());
  ASSERT_TRUE(c.send("GET /stall-stream HTTP/1.1\r\nHost: t\r\n\r\n"));
  Reply r = c.read_reply();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ("eof with 0 bytes unparsed", c.end_reason());
  EXPECT_EQ(static_cast<int>(ErrorKind::kTimeout), this->deferred_error_.load());
}

// A handler that throws after defer() still costs only its own request a
// 500 (without what it had added), and the requests behind it are answered.
TYPED_TEST(HttpServerTest, HandlerThrowingAfterDeferGets500AndPipelinedOnesAnswered) {
  this->start();
  Client c(this->port());
  ASSERT_TRUE(
      c.send("GET /defer-then-throw HTTP/1.1\r\nHost: t\r\n\r\n" + std::string(kGet) + std::string(kGet)));
  Reply r = c.read_reply();
  ASSERT_TRUE(r.ok) << c.end_reason();
  EXPECT_EQ(500, r.status);
  EXPECT_EQ("", r.header("x-leak"));
  EXPECT_EQ("Hello World", c.read_reply().body);
  EXPECT_EQ("Hello World", c.read_reply().body);
}

// An HTTP/1.0 stream is delimited by the close: cut short, it ends in a
// reset, so that the client cannot take the part it got for the whole.
TYPED_TEST(HttpServerTest, StalledHttp10StreamEndsInAReset) {
  ServerConfig config;
  config.handler_timeout = 200ms;
  this->start(config);
  Client c(this->port());
  ASSERT_TRUE(c.send("GET /stall-stream HTTP/1.0\r\n\r\n"));
  Reply r = c.read_reply();  // read until the connection ends
  EXPECT_EQ("begun", r.body);
  EXPECT_EQ("ECONNRESET with 0 bytes unparsed", c.end_reason());
}

// A deferred completion that throws costs its own request an answer from
// the handler deadline, nothing more: the worker serves on.
TYPED_TEST(HttpServerTest, ThrowingDeferredCompletionCostsOnlyItsRequest) {
  ServerConfig config;
  config.handler_timeout = 200ms;
  this->start(config);
  Client doomed(this->port());
  ASSERT_TRUE(doomed.send("GET /later-throws HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_TRUE(eventually([&] { return this->requests() == 1; }));
  EXPECT_EQ("Hello World", fetch(this->port(), kGet).body);
  Reply r = doomed.read_reply();
  ASSERT_TRUE(r.ok) << doomed.end_reason();
  EXPECT_EQ(504, r.status);
  EXPECT_EQ("Hello World", fetch(this->port(), kGet).body);
}

}  // namespace
}  // namespace hellepoll::http
