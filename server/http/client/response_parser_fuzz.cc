// libFuzzer target for ResponseParser: a server's bytes, parsed response
// after response as the load generator's connections do.
//
// Input: byte 0 is the chunk size for incremental feeding (1..256); byte 1
// says which of the first eight responses answer HEAD requests; the rest is
// the response stream. Checked for every input:
// - no out-of-bounds read (the stream sits in an exact-size heap copy);
// - the contract: kNeedMore in the head consumes nothing, in the body
//   everything; kDone consumes at most what it was given, and the head
//   fits in it; a 1xx/204/304/HEAD response has no body;
// - the bytes arriving a chunk at a time (the caller re-presenting an
//   incomplete head) give the same responses as all at once.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "server/http/client/response_parser.h"
#include "server/testing/fuzz_check.h"

namespace {

using hellepoll::http::client::Framing;
using hellepoll::http::client::ResponseParser;

struct Seen {
  ResponseParser::Status status;
  int code;
  Framing framing;
  uint64_t content_length;
  size_t end;  // stream offset where the response ended
  bool operator==(const Seen &) const = default;
};

std::vector<Seen> parse_stream(const char *p, size_t len, size_t step, uint8_t head_mask) {
  std::vector<Seen> out;
  ResponseParser parser;
  auto start = [&] { parser.reset(out.size() < 8 && (head_mask >> out.size()) & 1); };
  start();
  size_t pos = 0;                            // first byte the parser has not consumed
  size_t arrived = step < len ? step : len;  // bytes "received" so far
  while (out.size() < 1000) {
    if (pos == arrived) {
      if (arrived == len) {
        if (pos == 0 || parser.in_body()) {
          auto r = parser.finish();
          FUZZ_CHECK(r.consumed == 0);
          if (r.status == ResponseParser::Status::kDone) {
            const auto &h = parser.head();
            FUZZ_CHECK(h.framing == Framing::kUntilClose);
            out.push_back({r.status, h.status, h.framing, h.content_length, pos});
          }
        }
        break;
      }
      arrived = arrived + step < len ? arrived + step : len;
    }
    const bool was_in_body = parser.in_body();
    auto r = parser.feed(p + pos, arrived - pos);
    FUZZ_CHECK(r.consumed <= arrived - pos);
    if (r.status == ResponseParser::Status::kError) {
      out.push_back({r.status, 0, Framing::kNoBody, 0, 0});  // where is up to the chunking
      break;
    }
    if (r.status == ResponseParser::Status::kNeedMore) {
      if (parser.in_body()) {
        FUZZ_CHECK(r.consumed == arrived - pos);  // body bytes: all consumed
      } else {
        FUZZ_CHECK(!was_in_body && r.consumed == 0);  // head bytes: the caller keeps them
      }
      pos += r.consumed;
      if (arrived == len) {
        if (parser.in_body()) {
          auto f = parser.finish();
          const auto &h = parser.head();
          out.push_back({f.status, h.status, h.framing, h.content_length, pos});
        } else if (pos < len) {
          out.push_back({ResponseParser::Status::kNeedMore, 0, Framing::kNoBody, 0, pos});
        }
        break;
      }
      arrived = arrived + step < len ? arrived + step : len;
      continue;
    }
    // kDone
    const auto &h = parser.head();
    FUZZ_CHECK(r.consumed > 0 || was_in_body);
    if (!was_in_body) FUZZ_CHECK(h.head_bytes <= r.consumed);
    const bool bodiless = (h.status >= 100 && h.status < 200) || h.status == 204 || h.status == 304;
    if (bodiless || (out.size() < 8 && (head_mask >> out.size()) & 1))
      FUZZ_CHECK(h.framing == Framing::kNoBody);
    FUZZ_CHECK(h.framing != Framing::kUntilClose);  // those end only at finish()
    pos += r.consumed;
    out.push_back({r.status, h.status, h.framing, h.content_length, pos});
    start();
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2 || size > 60000) return 0;
  const size_t step = 1 + data[0];
  const uint8_t head_mask = data[1];
  std::vector<char> stream(data + 2,
                           data + size);  // exact size: over-reads trip ASan
  const auto whole = parse_stream(stream.data(), stream.size(), stream.size() ? stream.size() : 1, head_mask);
  const auto trickled = parse_stream(stream.data(), stream.size(), step, head_mask);
  FUZZ_CHECK(whole == trickled);
  return 0;
}
