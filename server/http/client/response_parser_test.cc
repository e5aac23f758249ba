#include "server/http/client/response_parser.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

namespace hellepoll::http::client {
namespace {

using Status = ResponseParser::Status;

// Places bytes right before a PROT_NONE page, so that reading one byte past
// the input crashes the test (picohttpparser's guard-page trick).
class GuardedBuffer {
 public:
  explicit GuardedBuffer(size_t max_len) {
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    data_pages_ = (max_len + page - 1) / page * page + page;
    size_ = data_pages_ + page;
    base_ =
        static_cast<char*>(mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    mprotect(base_ + data_pages_, page, PROT_NONE);
  }
  ~GuardedBuffer() { munmap(base_, size_); }
  const char* place(std::string_view s) {
    char* p = base_ + data_pages_ - s.size();
    std::memcpy(p, s.data(), s.size());
    return p;
  }

 private:
  char* base_;
  size_t size_, data_pages_;
};

struct Outcome {
  Status status = Status::kNeedMore;
  size_t consumed = 0;  // bytes of the first response
  ResponseHead head;
  bool operator==(const Outcome& o) const {
    return status == o.status && consumed == o.consumed && head.status == o.head.status &&
           head.framing == o.head.framing && head.keep_alive == o.head.keep_alive &&
           head.content_length == o.head.content_length;
  }
};

// Feeds `input` cut into pieces at `cuts`, as a connection would: bytes the
// parser did not consume are kept and passed again with the next piece. At
// the end of input, `eof` calls finish().
Outcome drive(std::string_view input, const std::vector<size_t>& cuts, bool head_request, bool eof) {
  GuardedBuffer guard(input.size() + 1);
  ResponseParser p;
  p.reset(head_request);
  Outcome out;
  std::string pending;
  size_t from = 0;
  std::vector<size_t> ends = cuts;
  ends.push_back(input.size());
  for (size_t end : ends) {
    pending.append(input.substr(from, end - from));
    from = end;
    const char* data = guard.place(pending);
    const ResponseParser::Result r = p.feed(data, pending.size());
    out.consumed += r.consumed;
    pending.erase(0, r.consumed);
    if (r.status != Status::kNeedMore) {
      out.status = r.status;
      out.head = p.head();
      return out;
    }
  }
  if (eof) {
    const ResponseParser::Result r = p.finish();
    out.status = r.status;
    out.head = p.head();
  }
  return out;
}

struct Case {
  const char* name;
  std::string input;
  Status status;
  int code;  // expected status code (when kDone)
  Framing framing;
  bool keep_alive;
  size_t consumed;  // bytes of the first response; npos = all of input
  bool head_request = false;
  bool eof = false;  // the server closes after the input
};

constexpr size_t kAll = std::string::npos;
const std::string kCL5 = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

const std::vector<Case> kCases = {
    // name, input, status, code, framing, keep_alive, consumed [, head, eof]
    {"content_length", kCL5, Status::kDone, 200, Framing::kLength, true, kAll},
    {"content_length_zero", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", Status::kDone, 200,
     Framing::kLength, true, kAll},
    {"no_reason_phrase", "HTTP/1.1 404\r\nContent-Length: 2\r\n\r\nno", Status::kDone, 404, Framing::kLength,
     true, kAll},
    {"header_names_any_case", "HTTP/1.1 200 OK\r\ncOnTeNt-LeNgTh: 3\r\n\r\nabc", Status::kDone, 200,
     Framing::kLength, true, kAll},
    {"bare_lf_lines", "HTTP/1.1 200 OK\nContent-Length: 2\n\nok", Status::kDone, 200, Framing::kLength, true,
     kAll},
    {"http10_closes", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", Status::kDone, 200, Framing::kLength,
     false, kAll},
    {"http10_keep_alive", "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nok",
     Status::kDone, 200, Framing::kLength, true, kAll},
    {"http11_connection_close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
     Status::kDone, 200, Framing::kLength, false, kAll},
    {"connection_token_list", "HTTP/1.1 200 OK\r\nConnection: foo, close\r\nContent-Length: 0\r\n\r\n",
     Status::kDone, 200, Framing::kLength, false, kAll},
    {"pipelined_stops_at_first", kCL5 + kCL5, Status::kDone, 200, Framing::kLength, true, kCL5.size()},
    {"chunked",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n "
     "world\r\n0\r\n\r\n",
     Status::kDone, 200, Framing::kChunked, true, kAll},
    {"chunked_hex_and_trailers",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nA\r\n0123456789\r\n0\r\nX-Sum: "
     "1\r\n\r\n",
     Status::kDone, 200, Framing::kChunked, true, kAll},
    {"chunked_bare_lf", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\nok\n0\n\n", Status::kDone,
     200, Framing::kChunked, true, kAll},
    {"chunked_wins_over_length",
     "HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
     Status::kDone, 200, Framing::kChunked, true, kAll},
    {"chunked_then_pipelined", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + kCL5,
     Status::kDone, 200, Framing::kChunked, true, 52},
    {"until_close", "HTTP/1.1 200 OK\r\n\r\nbody until the end", Status::kDone, 200, Framing::kUntilClose,
     false, kAll, false, true},
    {"non_chunked_coding_until_close", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxx", Status::kDone,
     200, Framing::kUntilClose, false, kAll, false, true},
    {"no_content_has_no_body", "HTTP/1.1 204 No Content\r\n\r\n", Status::kDone, 204, Framing::kNoBody, true,
     kAll},
    {"not_modified_ignores_length", "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", Status::kDone,
     304, Framing::kNoBody, true, kAll},
    {"head_request_ignores_length", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", Status::kDone, 200,
     Framing::kNoBody, true, kAll, true},
    {"interim_100_first", "HTTP/1.1 100 Continue\r\n\r\n" + kCL5, Status::kDone, 100, Framing::kNoBody, true,
     25},
    {"server_error_is_a_response", "HTTP/1.1 500 Oops\r\nContent-Length: 1\r\n\r\nx", Status::kDone, 500,
     Framing::kLength, true, kAll},
    // Incomplete input.
    {"head_incomplete", "HTTP/1.1 200 OK\r\nContent-Len", Status::kNeedMore, 0, Framing::kNoBody, true, 0},
    {"body_incomplete", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", Status::kNeedMore, 0,
     Framing::kNoBody, true, kAll},
    {"truncated_body_at_eof", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", Status::kError, 200,
     Framing::kLength, true, kAll, false, true},
    {"truncated_chunk_at_eof", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhe", Status::kError,
     200, Framing::kChunked, true, kAll, false, true},
    // Malformed.
    {"not_http", "SSH-2.0-OpenSSH\r\n\r\n", Status::kError, 0, Framing::kNoBody, true, 0},
    {"http2_status_line", "HTTP/2 200 OK\r\n\r\n", Status::kError, 0, Framing::kNoBody, true, 0},
    {"two_digit_status", "HTTP/1.1 20 OK\r\n\r\n", Status::kError, 0, Framing::kNoBody, true, 0},
    {"bad_content_length", "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n", Status::kError, 200,
     Framing::kNoBody, true, 0},
    {"conflicting_lengths", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
     Status::kError, 200, Framing::kNoBody, true, 0},
    {"header_without_colon", "HTTP/1.1 200 OK\r\nNoColonHere\r\n\r\n", Status::kError, 200, Framing::kNoBody,
     true, 0},
    {"space_in_header_name", "HTTP/1.1 200 OK\r\nContent Length: 1\r\n\r\n", Status::kError, 200,
     Framing::kNoBody, true, 0},
    {"bad_chunk_size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", Status::kError, 200,
     Framing::kChunked, true, 0},
    {"chunk_without_crlf", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokX", Status::kError,
     200, Framing::kChunked, true, 0},
};

// Expected outcome of a case: consumed is in bytes of the first response.
Outcome expected(const Case& c) {
  Outcome o;
  o.status = c.status;
  o.consumed = c.consumed == kAll ? c.input.size() : c.consumed;
  if (c.status == Status::kError) o.consumed = 0;
  return o;
}

void check(const Case& c, const Outcome& got, const std::string& how) {
  const Outcome want = expected(c);
  EXPECT_EQ(got.status, want.status) << c.name << " " << how;
  if (c.status == Status::kDone) {
    EXPECT_EQ(got.consumed, want.consumed) << c.name << " " << how;
    EXPECT_EQ(got.head.status, c.code) << c.name << " " << how;
    EXPECT_EQ(got.head.framing, c.framing) << c.name << " " << how;
    EXPECT_EQ(got.head.keep_alive, c.keep_alive) << c.name << " " << how;
  }
  if (c.status == Status::kNeedMore) {
    EXPECT_EQ(got.consumed, want.consumed) << c.name << " " << how;
  }
}

TEST(ResponseParser, EveryFramingInOneRead) {
  for (const Case& c : kCases) check(c, drive(c.input, {}, c.head_request, c.eof), "one read");
}

TEST(ResponseParser, EveryFramingSplitAtEveryByte) {
  for (const Case& c : kCases) {
    for (size_t cut = 1; cut < c.input.size(); ++cut) {
      check(c, drive(c.input, {cut}, c.head_request, c.eof), "cut at " + std::to_string(cut));
    }
  }
}

TEST(ResponseParser, EveryFramingOneByteAtATime) {
  for (const Case& c : kCases) {
    std::vector<size_t> cuts;
    for (size_t i = 1; i < c.input.size(); ++i) cuts.push_back(i);
    check(c, drive(c.input, cuts, c.head_request, c.eof), "byte by byte");
  }
}

TEST(ResponseParser, ContentLengthIsReported) {
  const Outcome o = drive(kCL5, {}, false, false);
  EXPECT_EQ(o.head.content_length, 5u);
  EXPECT_EQ(o.head.head_bytes, kCL5.size() - 5);
}

TEST(ResponseParser, HeadLargerThanLimitIsAnError) {
  std::string big = "HTTP/1.1 200 OK\r\n";
  while (big.size() <= ResponseParser::kMaxHeadBytes) big += "X-Filler: " + std::string(100, 'x') + "\r\n";
  const Outcome o = drive(big, {}, false, false);
  EXPECT_EQ(o.status, Status::kError);
}

TEST(ResponseParser, ResetParsesTheNextPipelinedResponse) {
  const std::string two = kCL5 + "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n";
  ResponseParser p;
  p.reset();
  auto r = p.feed(two.data(), two.size());
  ASSERT_EQ(r.status, Status::kDone);
  ASSERT_EQ(p.head().status, 200);
  p.reset();
  r = p.feed(two.data() + r.consumed, two.size() - r.consumed);
  ASSERT_EQ(r.status, Status::kDone);
  EXPECT_EQ(p.head().status, 201);
}

}  // namespace
}  // namespace hellepoll::http::client
