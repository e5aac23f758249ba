// Request parsing: Hellepoll's parser against Node's http-parser (Debian's
// libhttp-parser) and Boost.Beast's request_parser, on the same corpus.
// Each benchmark checks its own answer (SkipWithError) so a broken parser
// cannot post a fast time. Run: bazel run --config=opt //server/http:parser_benchmark
#include <benchmark/benchmark.h>
#include <http_parser.h>

#include <boost/beast/http.hpp>
#include <string>
#include <vector>

#include "server/http/parser.h"

namespace hellepoll::http {
namespace {

// The corpus: one request shape per benchmark argument.
const std::string kMinimal = "GET / HTTP/1.1\r\nHost: 127.0.0.1:42042\r\n\r\n";
const std::string kBrowser =
    "GET /wp-content/uploads/2010/03/hello-kitty-darth-vader-pink.jpg HTTP/1.1\r\n"
    "Host: www.kittyhell.com\r\n"
    "User-Agent: Mozilla/5.0 (Macintosh; U; Intel Mac OS X 10_6_8; ja-JP-mac; rv:1.9.2.3) "
    "Gecko/20100401 Firefox/3.6.3 Pathtraq/0.9\r\n"
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
    "Accept-Language: ja,en-us;q=0.7,en;q=0.3\r\n"
    "Accept-Encoding: gzip,deflate\r\n"
    "Accept-Charset: Shift_JIS,utf-8;q=0.7,*;q=0.7\r\n"
    "Keep-Alive: 115\r\n"
    "Connection: keep-alive\r\n"
    "Cache-Control: max-age=0\r\n"
    "Referer: http://www.kittyhell.com/\r\n"
    "Cookie: wp_ozh_wsa_visits=2; wp_ozh_wsa_visit_lasttime=xxxxxxxxxx; "
    "__utma=xxxxxxxxx.xxxxxxxxxx.xxxxxxxxxx.xxxxxxxxxx.xxxxxxxxxx.x; "
    "__utmz=xxxxxxxxx.xxxxxxxxxx.x.x.utmccn=(referral)|utmcsr=reader.livedoor.com|utmcct=/reader/"
    "|utmcmd=referral\r\n"
    "\r\n";
std::string pipelined16() {
  std::string s;
  for (int i = 0; i < 16; ++i)
    s += "GET /plaintext HTTP/1.1\r\nHost: server\r\nAccept: text/plain\r\nConnection: keep-alive\r\n\r\n";
  return s;
}
const std::string kPipelined = pipelined16();

struct Shape {
  const std::string* text;
  int requests;
};
const Shape kShapes[] = {{&kMinimal, 1}, {&kBrowser, 1}, {&kPipelined, 16}};
const char* kShapeNames[] = {"minimal", "browser", "pipelined16"};

void label(benchmark::State& state, const Shape& s) {
  state.SetLabel(kShapeNames[state.range(0)]);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * s.text->size()));
  state.SetItemsProcessed(state.iterations() * s.requests);  // items/s = requests/s
}

void BM_Hellepoll(benchmark::State& state) {
  const Shape& s = kShapes[state.range(0)];
  Limits limits;
  RequestParser parser(limits);
  std::vector<HeaderSlot> slots(limits.max_headers);
  RequestHead head;
  head.headers = slots.data();
  for (auto _ : state) {
    size_t off = 0;
    int n = 0;
    while (off < s.text->size()) {
      parser.reset();
      if (parser.parse(s.text->data() + off, s.text->size() - off, head) !=
          RequestParser::Result::kComplete) {
        state.SkipWithError("parse failed");
        return;
      }
      off += parser.head_length();
      ++n;
    }
    benchmark::DoNotOptimize(head);
    if (n != s.requests) state.SkipWithError("wrong request count");
  }
  label(state, s);
}

int on_complete(::http_parser* p) {
  ++*static_cast<int*>(p->data);
  return 0;
}

void BM_HttpParser(benchmark::State& state) {
  const Shape& s = kShapes[state.range(0)];
  http_parser_settings settings{};
  settings.on_message_complete = on_complete;
  ::http_parser p;
  for (auto _ : state) {
    int n = 0;
    http_parser_init(&p, HTTP_REQUEST);
    p.data = &n;
    size_t used = http_parser_execute(&p, &settings, s.text->data(), s.text->size());
    if (used != s.text->size() || n != s.requests) {
      state.SkipWithError("http-parser failed");
      return;
    }
  }
  label(state, s);
}

void BM_BoostBeast(benchmark::State& state) {
  namespace bh = boost::beast::http;
  const Shape& s = kShapes[state.range(0)];
  for (auto _ : state) {
    size_t off = 0;
    int n = 0;
    while (off < s.text->size()) {
      bh::request_parser<bh::empty_body> p;
      boost::system::error_code ec;
      off += p.put(boost::asio::buffer(s.text->data() + off, s.text->size() - off), ec);
      if (ec || !p.is_done()) {
        state.SkipWithError("beast failed");
        return;
      }
      benchmark::DoNotOptimize(p.get());
      ++n;
    }
    if (n != s.requests) state.SkipWithError("wrong request count");
  }
  label(state, s);
}

BENCHMARK(BM_Hellepoll)->DenseRange(0, 2);
BENCHMARK(BM_HttpParser)->DenseRange(0, 2);
BENCHMARK(BM_BoostBeast)->DenseRange(0, 2);

}  // namespace
}  // namespace hellepoll::http
