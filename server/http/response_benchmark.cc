// Response serialisation: what Connection::dispatch() does for one keep-alive
// request once the handler runs, minus the syscall. Each iteration is one
// response: Response::begin() on the connection's OutBuffer, the handler's
// send call (status line, Server, Date from the DateCache, Content-Length,
// body placed by the write path), retire(), and the OutBuffer reset that
// follows a completed flush. Templated on the write path: CopyWrite copies
// the body behind the head; GatherWrite copies a small body too and records
// a BodyRef for writev for a large one (the 4 KiB case).
// Bytes/s counts the bytes that would go on the wire.
// Run: bazel run --config=opt //server/http:response_benchmark
#include <benchmark/benchmark.h>

#include <string>
#include <string_view>

#include "server/http/date.h"
#include "server/http/out_buffer.h"
#include "server/http/response.h"
#include "server/http/write_path.h"

namespace hellepoll::http {
namespace {

// Only deferred or streamed responses talk to the sink; these never do.
struct NoSink final : ResponseSink {
  void response_ended() override {}
  void response_wrote() override {}
};

// The helloworld variant's handler (variants/main.cc).
void hello(Response& res) { res.send_static(200, "Hello World", "text/plain"); }

// A dynamic handler: three extra headers and a JSON body of about 4 KiB.
const std::string kJson = [] {
  std::string s = "[";
  while (s.size() < 4096 - 32) s += "{\"id\":12345,\"name\":\"hellepoll\"},";
  s.back() = ']';
  return s;
}();
void api(Response& res) {
  res.add_header("Cache-Control", "no-store");
  res.add_header("X-Request-Id", "7f3c2a9e-5b1d-4e8a-9c6f-0d2b4a8e1f37");
  res.add_header("Vary", "Accept-Encoding");
  res.send(200, kJson, "application/json");
}

// The bytes the connection would flush for `out`, CopyWrite or GatherWrite.
std::string wire(const OutBuffer& out) {
  std::string s;
  uint32_t pos = 0;
  for (uint32_t i = 0; i < out.nrefs; ++i) {
    const BodyRef& r = out.refs[i];
    s.append(out.bytes.data() + pos, r.at - pos);
    s.append(r.ext ? r.ext : out.bodies.data() + r.bodies_off, r.len);
    pos = r.at;
  }
  return s.append(out.bytes.data() + pos, out.bytes.size() - pos);
}

template <class W>
void serialise(benchmark::State& state, void (*handler)(Response&), std::string_view body) {
  NoSink sink;
  DateCache date;
  OutBuffer out;  // pooled in the server: capacity survives reset()
  Response res(&sink, &W::add_body, &date);

  // One response up front, checked, so a broken serialiser cannot post a time.
  res.begin(&out, 1, /*keep_alive=*/true, /*head_only=*/false);
  handler(res);
  const std::string first = wire(out);
  const std::string length = "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  if (!first.starts_with("HTTP/1.1 200 OK\r\nServer: hellepoll\r\nDate: ") ||
      first.find(length) == std::string::npos || !first.ends_with(std::string("\r\n\r\n").append(body))) {
    state.SkipWithError("unexpected response bytes");
    return;
  }
  res.retire();
  out.reset();

  int64_t bytes = 0;
  for (auto _ : state) {
    res.begin(&out, 1, /*keep_alive=*/true, /*head_only=*/false);
    handler(res);
    benchmark::DoNotOptimize(out.bytes.data());
    bytes += static_cast<int64_t>(out.total());
    benchmark::ClobberMemory();  // the "flush" reads what was written
    res.retire();
    out.reset();
  }
  state.SetLabel(std::string(W::kName));
  state.SetItemsProcessed(state.iterations());  // items/s = responses/s
  state.SetBytesProcessed(bytes);
}

template <class W>
void BM_HelloWorld(benchmark::State& state) {
  serialise<W>(state, hello, "Hello World");
}

template <class W>
void BM_HeadersAnd4KiB(benchmark::State& state) {
  serialise<W>(state, api, kJson);
}

BENCHMARK_TEMPLATE(BM_HelloWorld, CopyWrite);
BENCHMARK_TEMPLATE(BM_HelloWorld, GatherWrite);
BENCHMARK_TEMPLATE(BM_HeadersAnd4KiB, CopyWrite);
BENCHMARK_TEMPLATE(BM_HeadersAnd4KiB, GatherWrite);

}  // namespace
}  // namespace hellepoll::http
