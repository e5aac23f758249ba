// libFuzzer target for RequestParser and ChunkedDecoder.
//
// Input: byte 0 picks the limits and the chunk size for incremental
// feeding; the rest is the request. Checked for every input:
// - no out-of-bounds read (the request sits in an exact-size heap copy);
// - kComplete: head_length() <= len, every offset the head records lies
//   inside the head, Content-Length and chunked are never both set;
// - kError: the status is one the contract lists;
// - the parser fed the bytes a chunk at a time (as a slow client sends them)
//   reaches the same result as when fed them all at once;
// - a chunked body after the head decodes to the same bytes whether fed at
//   once or in chunks, and body_size() counts what the sink received.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "server/http/parser.h"
#include "server/testing/fuzz_check.h"

namespace {

using hellepoll::http::ChunkedDecoder;
using hellepoll::http::HeaderSlot;
using hellepoll::http::Limits;
using hellepoll::http::RequestHead;
using hellepoll::http::RequestParser;

struct Outcome {
  RequestParser::Result result;
  int status = 0;
  uint32_t head_length = 0;
};

bool size_limit(int s) { return s == 413 || s == 414 || s == 431; }

bool listed_status(int s) {
  return s == 400 || s == 413 || s == 414 || s == 417 || s == 431 || s == 501 || s == 505;
}

Outcome parse(const Limits &limits, const char *p, size_t len, size_t step, RequestHead &head) {
  RequestParser parser(limits);
  parser.reset();
  Outcome o{RequestParser::Result::kIncomplete};
  // Feed growing prefixes, as a connection does when bytes trickle in.
  for (size_t have = step >= len ? len : step;; have = have + step > len ? len : have + step) {
    o.result = parser.parse(p, have, head);
    if (o.result != RequestParser::Result::kIncomplete || have == len) break;
  }
  if (o.result == RequestParser::Result::kComplete) o.head_length = parser.head_length();
  if (o.result == RequestParser::Result::kError) o.status = parser.error_status();
  return o;
}

void check_head(const RequestHead &head, uint32_t head_length, const Limits &limits) {
  FUZZ_CHECK(head.method_len <= head_length);
  FUZZ_CHECK(head.target_off + head.target_len <= head_length);
  FUZZ_CHECK(head.num_headers <= limits.max_headers);
  for (uint32_t i = 0; i < head.num_headers; ++i) {
    const HeaderSlot &h = head.headers[i];
    FUZZ_CHECK(h.name_off + h.name_len <= head_length);
    FUZZ_CHECK(h.value_off + h.value_len <= head_length);
  }
  FUZZ_CHECK(!(head.chunked && head.has_content_length));  // smuggling
  FUZZ_CHECK(head.content_length <= limits.max_body);
}

// Decodes p[0, len) fed `step` bytes at a time; returns the result.
ChunkedDecoder::Result decode(const char *p, size_t len, size_t step, uint64_t max_body, std::string *body,
                              int *status) {
  ChunkedDecoder d;
  size_t off = 0;
  ChunkedDecoder::Result r = ChunkedDecoder::Result::kIncomplete;
  while (off < len) {
    const size_t n = len - off < step ? len - off : step;
    size_t used = 0;
    r = d.feed(p + off, n, &used, max_body, [&](const char *data, size_t k) {
      FUZZ_CHECK(data >= p + off && data + k <= p + off + n);
      body->append(data, k);
    });
    FUZZ_CHECK(used <= n);
    off += used;
    if (r != ChunkedDecoder::Result::kIncomplete) break;
    FUZZ_CHECK(used == n);  // incomplete: everything was consumed
  }
  FUZZ_CHECK(d.body_size() == body->size());
  FUZZ_CHECK(body->size() <= max_body);
  *status = r == ChunkedDecoder::Result::kError ? d.error_status() : 0;
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;  // a connection never parses an empty buffer
  const uint8_t knobs = data[0];
  Limits limits;
  if (knobs & 1) {  // small limits, so the fuzzer reaches every 4xx cheaply
    limits.max_request_line = 64;
    limits.max_head_bytes = 256;
    limits.max_headers = 4;
    limits.max_body = 1000;
  }
  const size_t step = 1 + (knobs >> 1);  // 1..128 bytes per read
  std::vector<char> buf(data + 1,
                        data + size);  // exact size: over-reads trip ASan
  const char *p = buf.data();
  const size_t len = buf.size();

  std::vector<HeaderSlot> slots_a(limits.max_headers), slots_b(limits.max_headers);
  RequestHead whole, trickled;
  whole.headers = slots_a.data();
  trickled.headers = slots_b.data();
  const Outcome a = parse(limits, p, len, len ? len : 1, whole);
  const Outcome b = parse(limits, p, len, step, trickled);

  FUZZ_CHECK(a.result == b.result);
  if (a.result == RequestParser::Result::kError) {
    FUZZ_CHECK(listed_status(a.status));
    FUZZ_CHECK(listed_status(b.status));
    // A limit is enforced on partial input too, so which of two faults is
    // seen first may depend on how the bytes arrived (a control byte past
    // the request-line limit: 400 at once, 414 when trickled). Otherwise
    // the answer must not depend on packetisation.
    FUZZ_CHECK(a.status == b.status || size_limit(a.status) || size_limit(b.status));
    return 0;
  }
  if (a.result == RequestParser::Result::kIncomplete) return 0;

  FUZZ_CHECK(a.head_length <= len && a.head_length > 0);
  FUZZ_CHECK(a.head_length == b.head_length);
  check_head(whole, a.head_length, limits);
  FUZZ_CHECK(whole.method == trickled.method && whole.chunked == trickled.chunked &&
             whole.content_length == trickled.content_length && whole.keep_alive == trickled.keep_alive &&
             whole.num_headers == trickled.num_headers);

  // The body: a chunked one is decoded both ways and must agree.
  if (whole.chunked) {
    std::string body_a, body_b;
    int status_a = 0, status_b = 0;
    const char *body = p + a.head_length;
    const size_t body_len = len - a.head_length;
    auto ra = decode(body, body_len, body_len ? body_len : 1, limits.max_body, &body_a, &status_a);
    auto rb = decode(body, body_len, step, limits.max_body, &body_b, &status_b);
    FUZZ_CHECK(ra == rb);
    FUZZ_CHECK(status_a == status_b);
    if (ra == ChunkedDecoder::Result::kError) FUZZ_CHECK(listed_status(status_a));
    if (ra == ChunkedDecoder::Result::kDone) FUZZ_CHECK(body_a == body_b);
  }
  return 0;
}
