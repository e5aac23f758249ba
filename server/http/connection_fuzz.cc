// libFuzzer target for the whole connection state machine: a real
// HttpServer<Io> on a Scheduler, a real loopback TCP client, the input
// written in chunks, the loop turned until the server is quiet.
//
// Input: byte 0 picks the Io policy (bits 0-1: lt/et x write/writev) and
// small limits (bit 2); byte 1 the chunk size (1..256); byte 2 what the
// client does at the end (bit 0: half-close and read to EOF, else close at
// once; bit 1: read nothing until the end, like a client that never reads).
// The rest is the bytes the client sends.
//
// Checked for every input: no crash or sanitizer report (in debug builds
// the scheduler also aborts an edge-triggered task that stops short of
// EAGAIN); after the client is gone the server holds no connection and no
// more buffers than a pool's worth (nothing leaks across inputs); what the
// server sent parses, response after response, with loadgen's parser.
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "loadgen/response_parser.h"
#include "server/http/server.h"
#include "server/listener.h"
#include "server/testing/fuzz_check.h"

namespace {

using namespace hellepoll;
using namespace hellepoll::http;

Router &router() {
  static Router *r = [] {
    auto *r = new Router;
    r->get("/", [](Request &, Response &res) {
      res.send_static(200, "Hello World", "text/plain");
    });
    r->exact("/echo", MethodSet{Method::kPost, Method::kPut},
             [](Request &req, Response &res) { res.send(200, req.body()); });
    r->get("/stream", [](Request &, Response &res) {
      res.start_chunked();
      res.write("one,");
      res.write("two");
      res.end();
    });
    r->get("/throw", [](Request &, Response &) -> void { throw 1; });
    r->get("/forget", [](Request &, Response &) {});
    return r;
  }();
  return *r;
}

// The client's end: non-blocking, everything it receives kept in `got`.
struct Client {
  UniqueFd fd;
  std::string got;
  bool eof = false;

  void drain() {
    char buf[16384];
    for (;;) {
      ssize_t n = ::read(fd.get(), buf, sizeof buf);
      if (n > 0) {
        got.append(buf, static_cast<size_t>(n));
        continue;
      }
      if (n == 0 || (errno != EAGAIN && errno != EINTR))
        eof = true;
      if (n == 0 || errno != EINTR)
        return;
    }
  }
};

template <class Io> class Harness {
public:
  explicit Harness(bool small_limits)
      : sched_(Io::kTrigger), server_(sched_, router(), config(small_limits)) {
    ListenOptions lo;
    lo.host = "127.0.0.1";
    lo.defer_accept =
        false; // accept at connect, so an empty request is served too
    std::string err;
    UniqueFd sock = bind_listen_socket(lo, &err);
    FUZZ_CHECK(sock);
    server_.listen(std::move(sock));
    addr_.sin_family = AF_INET;
    addr_.sin_port = htons(server_.port());
    addr_.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  }

  void run(const uint8_t *data, size_t size, size_t chunk, bool half_close,
           bool never_read) {
    Client c;
    c.fd = UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    FUZZ_CHECK(c.fd);
    FUZZ_CHECK(::connect(c.fd.get(), reinterpret_cast<const sockaddr *>(&addr_),
                         sizeof addr_) == 0);
    ::fcntl(c.fd.get(), F_SETFL, O_NONBLOCK);
    const uint64_t accepted = server_.stats().accepted;
    for (int i = 0; i < 100 && server_.stats().accepted == accepted; ++i)
      turn();
    FUZZ_CHECK(server_.stats().accepted == accepted + 1);

    size_t off = 0;
    int stalled = 0;
    while (off < size && !c.eof) {
      const size_t n = std::min(chunk, size - off);
      ssize_t w = ::send(c.fd.get(), data + off, n, MSG_NOSIGNAL);
      if (w > 0) {
        off += static_cast<size_t>(w);
        stalled = 0;
      } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
        break; // the server closed on us (after an error reply)
      } else if (++stalled > 1000) {
        break; // the server stopped reading (back-pressure): fine, stop here
      }
      turn();
      turn();
      if (!never_read || stalled > 0)
        c.drain();
    }
    quiesce(c);
    if (half_close && !c.eof) {
      ::shutdown(c.fd.get(), SHUT_WR);
      for (int i = 0; i < 200 && !c.eof; ++i) {
        turn();
        c.drain();
      }
      FUZZ_CHECK(c.eof || server_.stats().active ==
                              1); // only a deferred answer may keep it
    }
    c.drain();
    check_responses(c.got, data, size);
    c.fd.reset(); // unread input: RST, which the server must also survive
    for (int i = 0; i < 200 && server_.stats().active != 0; ++i)
      turn();
    FUZZ_CHECK(server_.stats().active == 0); // no connection leaked
    FUZZ_CHECK(server_.buffers_allocated() <=
               4); // nor buffers (each pool reuses)
  }

private:
  static ServerConfig config(bool small) {
    ServerConfig c;
    if (small) {
      c.limits.max_request_line = 64;
      c.limits.max_head_bytes = 256;
      c.limits.max_headers = 4;
      c.limits.max_body = 1000;
      c.output_high_water = 512; // reach back-pressure with short inputs
    }
    return c;
  }

  void turn() { FUZZ_CHECK(sched_.run_once(Duration::zero())); }

  // Turns the loop until the client hears nothing new for a few turns.
  void quiesce(Client &c) {
    size_t seen = c.got.size();
    for (int quiet = 0, i = 0; quiet < 3 && i < 200; ++i) {
      turn();
      c.drain();
      quiet = c.got.size() == seen ? quiet + 1 : 0;
      seen = c.got.size();
    }
  }

  // Whatever the server sent is a sequence of well-formed responses (HEAD
  // requests make framing ambiguous without the request: then skipped).
  static void check_responses(const std::string &got, const uint8_t *data,
                              size_t size) {
    if (std::string_view(reinterpret_cast<const char *>(data), size)
            .find("HEAD") != std::string_view::npos)
      return;
    loadgen::ResponseParser p;
    size_t off = 0;
    while (off < got.size()) {
      p.reset();
      auto r = p.feed(got.data() + off, got.size() - off);
      if (r.status == loadgen::ResponseParser::Status::kNeedMore)
        return; // the client left early
      if (r.status == loadgen::ResponseParser::Status::kError) {
        std::fprintf(stderr, "malformed response at %zu: %.*s\n", off,
                     static_cast<int>(p.error().size()), p.error().data());
        std::abort();
      }
      FUZZ_CHECK(r.consumed > 0);
      off += r.consumed;
    }
  }

  Scheduler sched_;
  HttpServer<Io> server_;
  sockaddr_in addr_{};
};

template <class Io>
void run_with(bool small, const uint8_t *data, size_t size, size_t chunk,
              bool half_close, bool never_read) {
  // One server per policy and limits, kept across inputs: leaks accumulate.
  static Harness<Io> *big = new Harness<Io>(false);
  static Harness<Io> *little = new Harness<Io>(true);
  (small ? little : big)->run(data, size, chunk, half_close, never_read);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 3 || size > 64 * 1024)
    return 0;
  static const bool pipe_ignored =
      signal(SIGPIPE, SIG_IGN) != SIG_ERR; // as every variant's main does
  FUZZ_CHECK(pipe_ignored);
  const uint8_t policy = data[0];
  const size_t chunk = 1 + data[1];
  const bool half_close = data[2] & 1;
  const bool never_read = data[2] & 2;
  const bool small = policy & 4;
  data += 3;
  size -= 3;
  switch (policy & 3) {
  case 0:
    run_with<LtWrite>(small, data, size, chunk, half_close, never_read);
    break;
  case 1:
    run_with<LtWritev>(small, data, size, chunk, half_close, never_read);
    break;
  case 2:
    run_with<EtWrite>(small, data, size, chunk, half_close, never_read);
    break;
  case 3:
    run_with<EtWritev>(small, data, size, chunk, half_close, never_read);
    break;
  }
  return 0;
}
