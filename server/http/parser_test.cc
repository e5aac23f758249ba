// Request parser specification: tables of inputs and expected outcomes.
// Every input is placed against a guard page, so any over-read crashes.
#include "server/http/parser.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <string>
#include <vector>

namespace hellepoll::http {
namespace {

// Copies `s` so that its last byte is the last byte before a PROT_NONE page.
class Guarded {
 public:
  explicit Guarded(std::string_view s) {
    page_ = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    pages_ = (s.size() + page_ - 1) / page_ + 1;
    base_ = static_cast<char*>(
        mmap(nullptr, pages_ * page_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    mprotect(base_ + (pages_ - 1) * page_, page_, PROT_NONE);
    data_ = base_ + (pages_ - 1) * page_ - s.size();
    std::memcpy(data_, s.data(), s.size());
  }
  ~Guarded() { munmap(base_, pages_ * page_); }
  const char* data() const { return data_; }

 private:
  size_t page_, pages_;
  char* base_;
  char* data_;
};

struct Parsed {
  RequestParser::Result result;
  int status = 0;
  uint32_t head_length = 0;
  RequestHead head;
  std::vector<HeaderSlot> slots = std::vector<HeaderSlot>(64);
};

Parsed parse_whole(std::string_view in, const Limits& limits = {}) {
  Parsed p;
  p.head.headers = p.slots.data();
  RequestParser parser(limits);
  Guarded g(in);
  p.result = parser.parse(g.data(), in.size(), p.head);
  p.status = parser.error_status();
  p.head_length = parser.head_length();
  return p;
}

using R = RequestParser::Result;

// Names each case of a table after its `name` field.
struct CaseName {
  template <class Info>
  std::string operator()(const Info& info) const {
    return info.param.name;
  }
};

TEST(RequestParser, MinimalGet) {
  std::string in = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
  Parsed p = parse_whole(in);
  ASSERT_EQ(R::kComplete, p.result);
  EXPECT_EQ(in.size(), p.head_length);
  EXPECT_EQ(Method::kGet, p.head.method);
  EXPECT_EQ(1, p.head.version_minor);
  EXPECT_TRUE(p.head.keep_alive);
  EXPECT_EQ("/", in.substr(p.head.target_off, p.head.target_len));
  ASSERT_EQ(1u, p.head.num_headers);
  EXPECT_EQ("Host", in.substr(p.slots[0].name_off, p.slots[0].name_len));
  EXPECT_EQ("a", in.substr(p.slots[0].value_off, p.slots[0].value_len));
}

TEST(RequestParser, HeaderValueWhitespaceTrimmed) {
  std::string in = "GET /x?y=1 HTTP/1.1\r\nHost: a\r\nX-A: \t v a l \t\r\nX-Empty:\r\n\r\n";
  Parsed p = parse_whole(in);
  ASSERT_EQ(R::kComplete, p.result);
  ASSERT_EQ(3u, p.head.num_headers);
  EXPECT_EQ("v a l", in.substr(p.slots[1].value_off, p.slots[1].value_len));
  EXPECT_EQ("", in.substr(p.slots[2].value_off, p.slots[2].value_len));
}

struct SemanticsCase {
  const char* name;
  std::string input;
  bool keep_alive;
  bool chunked;
  uint64_t content_length;
  bool expect_continue;
};

class Semantics : public ::testing::TestWithParam<SemanticsCase> {};

TEST_P(Semantics, Head) {
  const SemanticsCase& c = GetParam();
  Parsed p = parse_whole(c.input);
  ASSERT_EQ(R::kComplete, p.result) << "status " << p.status;
  EXPECT_EQ(c.keep_alive, p.head.keep_alive);
  EXPECT_EQ(c.chunked, p.head.chunked);
  EXPECT_EQ(c.content_length, p.head.content_length);
  EXPECT_EQ(c.expect_continue, p.head.expect_continue);
}

INSTANTIATE_TEST_SUITE_P(
    Table, Semantics,
    ::testing::Values(
        SemanticsCase{"http11_default_keepalive", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", true, false, 0, false},
        SemanticsCase{"http11_close", "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", false, false,
                      0, false},
        SemanticsCase{"http11_close_in_list",
                      "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, CLOSE\r\n\r\n", false, false, 0,
                      false},
        SemanticsCase{"http10_default_close", "GET / HTTP/1.0\r\n\r\n", false, false, 0, false},
        SemanticsCase{"http10_keepalive_ab_k", "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\nHost: a\r\n\r\n",
                      true, false, 0, false},
        SemanticsCase{"content_length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 42\r\n\r\n", true,
                      false, 42, false},
        SemanticsCase{"chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", true,
                      true, 0, false},
        SemanticsCase{"chunked_casing", "POST / HTTP/1.1\r\nHost: a\r\nTRANSFER-ENCODING:  ChUnKeD \r\n\r\n",
                      true, true, 0, false},
        SemanticsCase{"expect_continue",
                      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nExpect: 100-Continue\r\n\r\n", true,
                      false, 1, true},
        SemanticsCase{"leading_crlf_ignored", "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", true, false, 0, false},
        SemanticsCase{"absolute_form", "GET http://a/b?c HTTP/1.1\r\nHost: a\r\n\r\n", true, false, 0, false},
        SemanticsCase{"options_star", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", true, false, 0, false},
        SemanticsCase{"obs_text_value", "GET / HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9\r\n\r\n", true, false, 0,
                      false},
        // Names and targets longer than one 16-byte load, and the tokens '|'
        // and '~' that token_span()'s SIMD stops at and the table passes.
        SemanticsCase{
            "long_odd_token_name",
            "GET / HTTP/1.1\r\nHost: a\r\nX|Weird~Name-Longer-Than-16: v\r\nConnection: close\r\n\r\n", false,
            false, 0, false},
        SemanticsCase{"long_obs_text_target",
                      "GET /\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9 "
                      "HTTP/1.1\r\nHost: a\r\n\r\n",
                      true, false, 0, false},
        SemanticsCase{"lookalike_names_ignored",
                      "GET / HTTP/1.1\r\nHost: a\r\nContent-Lengtx: 5\r\nConnectioN: Close\r\n\r\n", false,
                      false, 0, false},
        SemanticsCase{"keep_alive_value_http10", "GET / HTTP/1.0\r\nCONNECTION: KEEP-ALIVE\r\n\r\n", true,
                      false, 0, false}),
    CaseName());

// Whether the connection persists after a request, given its version and
// Connection lines (RFC 9112 §9.3): `close` wins in any line and position.
struct PersistenceCase {
  const char* name;
  std::string version;
  std::string connection_lines;  // each "Connection: ...\r\n"
  bool keep_alive;
};

class Persistence : public ::testing::TestWithParam<PersistenceCase> {};

TEST_P(Persistence, KeepAlive) {
  const PersistenceCase& c = GetParam();
  Parsed p = parse_whole("GET / " + c.version + "\r\nHost: a\r\n" + c.connection_lines + "\r\n");
  ASSERT_EQ(R::kComplete, p.result) << "status " << p.status;
  EXPECT_EQ(c.keep_alive, p.head.keep_alive);
}

INSTANTIATE_TEST_SUITE_P(
    Table, Persistence,
    ::testing::Values(
        PersistenceCase{"http10_none", "HTTP/1.0", "", false},
        PersistenceCase{"http10_keepalive", "HTTP/1.0", "Connection: keep-alive\r\n", true},
        PersistenceCase{"http10_keepalive_in_list", "HTTP/1.0", "Connection: Upgrade, Keep-Alive\r\n", true},
        PersistenceCase{"http10_keepalive_second_line", "HTTP/1.0",
                        "Connection: Upgrade\r\nConnection: keep-alive\r\n", true},
        PersistenceCase{"http10_close", "HTTP/1.0", "Connection: close\r\n", false},
        PersistenceCase{"http10_close_then_keepalive", "HTTP/1.0", "Connection: close, keep-alive\r\n",
                        false},
        PersistenceCase{"http10_keepalive_then_close", "HTTP/1.0", "Connection: keep-alive, close\r\n",
                        false},
        PersistenceCase{"http10_close_then_keepalive_no_ows", "HTTP/1.0", "Connection: CLOSE,Keep-Alive\r\n",
                        false},
        PersistenceCase{"http10_close_then_keepalive_odd_ows", "HTTP/1.0",
                        "Connection: close \t,\t keep-alive ,\r\n", false},
        PersistenceCase{"http10_close_mid_list", "HTTP/1.0", "Connection: keep-alive, Close, upgrade\r\n",
                        false},
        PersistenceCase{"http10_close_line_then_keepalive_line", "HTTP/1.0",
                        "Connection: close\r\nConnection: keep-alive\r\n", false},
        PersistenceCase{"http10_keepalive_line_then_close_line", "HTTP/1.0",
                        "Connection: keep-alive\r\nConnection: close\r\n", false},
        PersistenceCase{"http10_close_in_list_line_then_keepalive_line", "HTTP/1.0",
                        "Connection: upgrade, close\r\nConnection: Keep-Alive\r\n", false},
        PersistenceCase{"http10_lookalikes", "HTTP/1.0", "Connection: closed, keep-alive-x\r\n", false},
        PersistenceCase{"http11_none", "HTTP/1.1", "", true},
        PersistenceCase{"http11_keepalive", "HTTP/1.1", "Connection: keep-alive\r\n", true},
        PersistenceCase{"http11_close", "HTTP/1.1", "Connection: close\r\n", false},
        PersistenceCase{"http11_close_then_keepalive", "HTTP/1.1", "Connection: close, keep-alive\r\n",
                        false},
        PersistenceCase{"http11_close_line_then_keepalive_line", "HTTP/1.1",
                        "Connection: Close\r\nConnection: keep-alive\r\n", false},
        PersistenceCase{"http11_keepalive_line_then_close_line", "HTTP/1.1",
                        "Connection: keep-alive\r\nConnection: close\r\n", false},
        PersistenceCase{"http11_lookalike", "HTTP/1.1", "Connection: closed, xclose\r\n", true}),
    CaseName());

// Which Host values are an authority (RFC 9110 §7.2, RFC 3986 §3.2.2) and
// which are answered 400, on HTTP/1.0 and HTTP/1.1 alike.
struct HostCase {
  const char* name;
  std::string value;
  bool valid;
};

// One parser judges a run of requests, as a pooled one does: a Host value
// found valid before must not vouch for another of the same length. (A
// header after Host leaves 16 bytes to read past the value, as in a real
// buffer, so the remembered-value path is the one taken.)
TEST(HostValue, ARememberedValueVouchesOnlyForItself) {
  const struct {
    const char* host;
    bool valid;
  } sequence[] = {
      {"good.example:80", true},
      {"good.example:8a", false},
      {"good.example:80", true},
      {"good example:80", false},
      {"good.example:80", true},
      {"good.example:81", true},
      {"a/b", false},
      {"a.b", true},
      {"a/b", false},
  };
  Limits limits;
  RequestParser parser(limits);
  std::array<HeaderSlot, 64> slots;
  for (const auto& c : sequence) {
    const std::string in =
        std::string("GET / HTTP/1.1\r\nHost: ") + c.host + "\r\nX-Padding: 0123456789abcdef\r\n\r\n";
    RequestHead head;
    head.headers = slots.data();
    parser.reset();
    const R r = parser.parse(in.data(), in.size(), head);
    EXPECT_EQ(c.valid ? R::kComplete : R::kError, r) << c.host;
  }
}

class HostValue : public ::testing::TestWithParam<HostCase> {};

TEST_P(HostValue, ValidOr400) {
  const HostCase& c = GetParam();
  for (const char* version : {"HTTP/1.0", "HTTP/1.1"}) {
    Parsed p = parse_whole(std::string("GET / ") + version + "\r\nHost: " + c.value + "\r\n\r\n");
    if (c.valid) {
      EXPECT_EQ(R::kComplete, p.result) << version << " status " << p.status;
    } else {
      ASSERT_EQ(R::kError, p.result) << version;
      EXPECT_EQ(400, p.status) << version;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, HostValue,
    ::testing::Values(
        HostCase{"name", "example.com", true}, HostCase{"name_port", "example.com:8080", true},
        HostCase{"upper_case", "EXAMPLE.COM", true}, HostCase{"one_letter", "t", true},
        HostCase{"empty", "", true},  // RFC 9112 §3.2: a target without an authority
        HostCase{"ows_trimmed", " \t a \t ", true}, HostCase{"ipv4_port", "127.0.0.1:80", true},
        HostCase{"punycode", "xn--bcher-kva.example", true},
        HostCase{"long_name", "a-very-long-subdomain.of-an-even-longer.example.org:443", true},
        HostCase{"unreserved_and_sub_delims", "a-._~!$&'()*+;=z", true},
        HostCase{"pct_encoded", "%41%2e%2Fb", true}, HostCase{"empty_port", "a:", true},  // port = *DIGIT
        HostCase{"ipv6_loopback", "[::1]", true}, HostCase{"ipv6_port", "[::1]:8080", true},
        HostCase{"ipv6_unspecified", "[::]", true},
        HostCase{"ipv6_full", "[2001:DB8:0:0:8:800:200C:417a]", true},
        HostCase{"ipv6_elided_end", "[1:2:3:4:5:6:7::]", true},
        HostCase{"ipv6_ipv4_tail", "[::ffff:192.0.2.128]:80", true},
        HostCase{"ipv6_full_ipv4_tail", "[1:2:3:4:5:6:1.2.3.4]", true},
        HostCase{"ipvfuture", "[v7.fe80::a+en1]", true}, HostCase{"space", "exa mple.com", false},
        HostCase{"slash", "a/b", false}, HostCase{"list", "a, b", false},
        HostCase{"comma", "a,b", false},  // indistinguishable from two joined Host lines
        HostCase{"unclosed_ipv6", "[::1", false}, HostCase{"userinfo", "user@a", false},
        HostCase{"letter_port", "a:b", false}, HostCase{"port_then_letter", "a:80x", false},
        HostCase{"two_ports", "a:80:90", false}, HostCase{"port_without_host", ":80", false},
        HostCase{"query", "a?b", false}, HostCase{"fragment", "a#b", false},
        HostCase{"backslash", "a\\b", false}, HostCase{"quote", "a\"b", false},
        HostCase{"obs_text", "caf\xc3\xa9", false}, HostCase{"pct_not_hex", "a%zz", false},
        HostCase{"pct_truncated", "a%4", false}, HostCase{"brackets_inside_name", "a[::1]", false},
        HostCase{"ipv6_empty", "[]", false}, HostCase{"ipv6_junk_after", "[::1]x", false},
        HostCase{"ipv6_two_closes", "[::1]]", false}, HostCase{"ipv6_two_elisions", "[1::2::3]", false},
        HostCase{"ipv6_five_digits", "[12345::]", false},
        HostCase{"ipv6_nine_pieces", "[1:2:3:4:5:6:7:8:9]", false},
        HostCase{"ipv6_seven_pieces", "[1:2:3:4:5:6:7]", false},
        HostCase{"ipv6_trailing_colon", "[1::2:]", false}, HostCase{"ipv6_leading_colon", "[:1::2]", false},
        HostCase{"ipv6_not_hex", "[::g]", false}, HostCase{"ipv6_zone_id", "[fe80::1%25eth0]", false},
        HostCase{"ipv6_ipv4_octet_too_big", "[::256.1.1.1]", false},
        HostCase{"ipv6_ipv4_leading_zero", "[::01.1.1.1]", false},
        HostCase{"ipv6_ipv4_three_octets", "[::1.2.3]", false},
        HostCase{"ipv6_ipv4_not_last", "[::1.2.3.4:1]", false},
        HostCase{"ipv6_ipv4_too_many_pieces", "[1:2:3:4:5:6:7:1.2.3.4]", false},
        HostCase{"ipvfuture_no_version", "[v.a]", false}, HostCase{"ipvfuture_empty", "[v1.]", false},
        HostCase{"ipv6_unbracketed", "::1", false}),
    CaseName());

struct ErrorCase {
  const char* name;
  std::string input;
  int status;
};

class Errors : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(Errors, Rejected) {
  const ErrorCase& c = GetParam();
  Limits limits;
  limits.max_request_line = 64;
  limits.max_head_bytes = 256;
  limits.max_headers = 4;
  limits.max_body = 1000;
  Parsed p = parse_whole(c.input, limits);
  ASSERT_EQ(R::kError, p.result);
  EXPECT_EQ(c.status, p.status);
}

INSTANTIATE_TEST_SUITE_P(
    Table, Errors,
    ::testing::Values(
        ErrorCase{"bare_lf", "GET / HTTP/1.1\nHost: a\n\n", 400},
        ErrorCase{"lowercase_version", "GET / http/1.1\r\nHost: a\r\n\r\n", 400},
        ErrorCase{"two_spaces", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        ErrorCase{"no_version", "GET /\r\n\r\n", 400},
        ErrorCase{"bad_method_char", "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        ErrorCase{"tab_in_target", "GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        ErrorCase{"bad_char_in_long_name", "GET / HTTP/1.1\r\nHost: a\r\nX-Very-Long-Header(Name: v\r\n\r\n",
                  400},
        ErrorCase{"brace_in_name", "GET / HTTP/1.1\r\nHost: a\r\nX{: v\r\n\r\n", 400},
        ErrorCase{"expect_lookalike_value", "GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continuE2\r\n\r\n",
                  417},
        ErrorCase{"ctl_in_target", std::string("GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n"), 400},
        ErrorCase{"relative_target", "GET x HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        ErrorCase{"http2_preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505},
        ErrorCase{"http09_version", "GET / HTTP/0.9\r\n\r\n", 505},
        ErrorCase{"connect", "CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n", 501},
        ErrorCase{"space_before_colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400},
        ErrorCase{"obs_fold", "GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n  c\r\n\r\n", 400},
        ErrorCase{"no_colon", "GET / HTTP/1.1\r\nHost a\r\n\r\n", 400},
        ErrorCase{"empty_name", "GET / HTTP/1.1\r\n: a\r\n\r\n", 400},
        ErrorCase{"nul_in_value", std::string("GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n", 30), 400},
        ErrorCase{"cr_in_value", "GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", 400},
        ErrorCase{"missing_host_11", "GET / HTTP/1.1\r\n\r\n", 400},
        ErrorCase{"duplicate_host", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
        ErrorCase{"duplicate_host_same_value", "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", 400},
        ErrorCase{"duplicate_host_http10", "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400},
        ErrorCase{"duplicate_host_empty", "GET / HTTP/1.1\r\nHost:\r\nHost:\r\n\r\n", 400},
        ErrorCase{"cl_signed", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", 400},
        ErrorCase{"cl_negative", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400},
        ErrorCase{"cl_list", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n", 400},
        ErrorCase{"cl_duplicate",
                  "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", 400},
        ErrorCase{"cl_empty", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", 400},
        ErrorCase{"cl_overflow", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n",
                  413},
        ErrorCase{"cl_too_large", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1001\r\n\r\n", 413},
        ErrorCase{"cl_and_te",
                  "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
                  400},
        ErrorCase{"te_and_cl",
                  "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
                  400},
        ErrorCase{"te_gzip", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
        ErrorCase{"te_unknown", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", 501},
        ErrorCase{"te_twice", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
                  400},
        ErrorCase{
            "te_two_headers",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            400},
        ErrorCase{"te_http10", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
        ErrorCase{"te_space_in_name", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n",
                  400},
        ErrorCase{"expect_other", "GET / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n", 417},
        ErrorCase{"uri_too_long", "GET /" + std::string(100, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n", 414},
        ErrorCase{"too_many_headers", "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n",
                  431},
        ErrorCase{"head_too_large", "GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(300, 'x') + "\r\n\r\n",
                  431}),
    CaseName());

// A request line that never ends is refused as soon as it exceeds the limit,
// before any header arrives.
TEST(RequestParser, EndlessRequestLineRefusedEarly) {
  Limits limits;
  limits.max_request_line = 64;
  Parsed p = parse_whole("GET /" + std::string(80, 'a'), limits);
  ASSERT_EQ(R::kError, p.result);
  EXPECT_EQ(414, p.status);
}

TEST(RequestParser, EndlessHeadersRefusedEarly) {
  Limits limits;
  limits.max_head_bytes = 256;
  Parsed p = parse_whole("GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(400, 'x'), limits);
  ASSERT_EQ(R::kError, p.result);
  EXPECT_EQ(431, p.status);
}

// Splitting a request at every byte offset, and feeding it one byte at a
// time, gives the same result as parsing it whole.
TEST(RequestParser, SplitAtEveryOffset) {
  const std::string in =
      "POST /upload?x=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\n"
      "Content-Length: 5\r\nConnection: keep-alive\r\n\r\n";
  for (size_t split = 0; split <= in.size(); ++split) {
    Limits limits;
    RequestParser parser(limits);
    std::vector<HeaderSlot> slots(64);
    RequestHead head;
    head.headers = slots.data();
    auto r1 = parser.parse(in.data(), split, head);
    if (split < in.size()) {
      ASSERT_EQ(R::kIncomplete, r1) << "split " << split;
    }
    auto r2 = parser.parse(in.data(), in.size(), head);
    ASSERT_EQ(R::kComplete, r2) << "split " << split;
    EXPECT_EQ(in.size(), parser.head_length());
    EXPECT_EQ(5u, head.content_length);
    EXPECT_EQ(4u, head.num_headers);
    EXPECT_EQ("/upload?x=1", in.substr(head.target_off, head.target_len));
  }
}

TEST(RequestParser, OneByteAtATime) {
  const std::string in = "GET /a HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n";
  Limits limits;
  RequestParser parser(limits);
  std::vector<HeaderSlot> slots(64);
  RequestHead head;
  head.headers = slots.data();
  for (size_t n = 1; n < in.size(); ++n) ASSERT_EQ(R::kIncomplete, parser.parse(in.data(), n, head));
  ASSERT_EQ(R::kComplete, parser.parse(in.data(), in.size(), head));
  EXPECT_EQ(2u, head.num_headers);
}

// Sixteen pipelined requests in one buffer parse one after another, each
// from where the previous head ended.
TEST(RequestParser, PipelinedBatch) {
  std::string batch;
  for (int i = 0; i < 16; ++i) batch += "GET /" + std::to_string(i) + " HTTP/1.1\r\nHost: a\r\n\r\n";
  Limits limits;
  RequestParser parser(limits);
  std::vector<HeaderSlot> slots(64);
  RequestHead head;
  head.headers = slots.data();
  size_t off = 0;
  for (int i = 0; i < 16; ++i) {
    parser.reset();
    ASSERT_EQ(R::kComplete, parser.parse(batch.data() + off, batch.size() - off, head));
    EXPECT_EQ("/" + std::to_string(i), batch.substr(off + head.target_off, head.target_len));
    off += parser.head_length();
  }
  EXPECT_EQ(batch.size(), off);
}

// ------------------------------------------------------------ chunked bodies

struct ChunkCase {
  const char* name;
  std::string input;
  ChunkedDecoder::Result result;
  std::string body;  // when kDone
  int status;        // when kError
};

class Chunked : public ::testing::TestWithParam<ChunkCase> {};

TEST_P(Chunked, Decode) {
  const ChunkCase& c = GetParam();
  ChunkedDecoder d;
  std::string body;
  size_t used = 0;
  Guarded g(c.input);
  auto r = d.feed(g.data(), c.input.size(), &used, 1000, [&](const char* p, size_t n) { body.append(p, n); });
  ASSERT_EQ(c.result, r);
  if (r == ChunkedDecoder::Result::kDone) {
    EXPECT_EQ(c.body, body);
    EXPECT_EQ(c.input.size(), used);
  }
  if (r == ChunkedDecoder::Result::kError) {
    EXPECT_EQ(c.status, d.error_status());
  }
}

using CR = ChunkedDecoder::Result;
INSTANTIATE_TEST_SUITE_P(
    Table, Chunked,
    ::testing::Values(
        ChunkCase{"two_chunks", "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", CR::kDone, "hello world", 0},
        ChunkCase{"hex_upper_lower", "A\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n", CR::kDone,
                  "01234567890123456789", 0},
        ChunkCase{"extension_ignored", "3;name=val\r\nabc\r\n0\r\n\r\n", CR::kDone, "abc", 0},
        ChunkCase{"trailers_discarded", "3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n", CR::kDone, "abc", 0},
        ChunkCase{"empty_body", "0\r\n\r\n", CR::kDone, "", 0},
        ChunkCase{"incomplete", "5\r\nhel", CR::kIncomplete, "", 0},
        ChunkCase{"hex_prefix", "0x5\r\nhello\r\n0\r\n\r\n", CR::kError, "", 400},
        ChunkCase{"leading_space", " 5\r\nhello\r\n0\r\n\r\n", CR::kError, "", 400},
        ChunkCase{"signed", "+5\r\nhello\r\n0\r\n\r\n", CR::kError, "", 400},
        ChunkCase{"no_digits", "\r\nhello\r\n0\r\n\r\n", CR::kError, "", 400},
        ChunkCase{"overflowing_size", "ffffffffffffffffff\r\n", CR::kError, "", 413},
        // Leading zeros are not significant digits; only a line limit bounds them.
        ChunkCase{"zero_padded_size", "00000000000000005\r\nhello\r\n0\r\n\r\n", CR::kDone, "hello", 0},
        ChunkCase{"zero_padded_last_chunk", "3\r\nabc\r\n00000000000000000000\r\n\r\n", CR::kDone, "abc", 0},
        ChunkCase{"zero_padded_to_line_limit",
                  std::string(ChunkedDecoder::kMaxSizeLine - 1, '0') + "5\r\nhello\r\n0\r\n\r\n", CR::kDone,
                  "hello", 0},
        ChunkCase{"zero_padded_past_line_limit", std::string(ChunkedDecoder::kMaxSizeLine, '0') + "5\r\n",
                  CR::kError, "", 413},
        ChunkCase{"endless_zeros", std::string(10000, '0'), CR::kError, "", 413},
        // Sixteen significant digits are refused as soon as the sixteenth
        // arrives, before the line ends and whatever the leading zeros.
        ChunkCase{"too_many_significant_digits", "0000" + std::string("1") + std::string(15, '0'), CR::kError,
                  "", 413},
        ChunkCase{"fifteen_significant_digits_over_max_body", "00fffffffffffffff\r\n", CR::kError, "", 413},
        ChunkCase{"extension_to_line_limit",
                  "3;" + std::string(ChunkedDecoder::kMaxSizeLine - 2, 'x') + "\r\nabc\r\n0\r\n\r\n",
                  CR::kDone, "abc", 0},
        ChunkCase{"extension_past_line_limit",
                  "3;" + std::string(ChunkedDecoder::kMaxSizeLine - 1, 'x') + "\r\n", CR::kError, "", 413},
        ChunkCase{"endless_extension", "3;" + std::string(10000, 'x'), CR::kError, "", 413},
        ChunkCase{"over_max_body", "3e9\r\n", CR::kError, "", 413},
        ChunkCase{"bare_lf_after_size", "5\nhello\r\n0\r\n\r\n", CR::kError, "", 400},
        ChunkCase{"data_longer_than_size", "3\r\nhello\r\n0\r\n\r\n", CR::kError, "", 400},
        ChunkCase{"ctl_in_extension", std::string("3;\x01\r\nabc\r\n0\r\n\r\n"), CR::kError, "", 400}),
    CaseName());

TEST(ChunkedDecoder, SplitAtEveryOffset) {
  const std::string in = "5\r\nhello\r\n6;x=y\r\n world\r\n0\r\nT: v\r\n\r\n";
  for (size_t split = 0; split <= in.size(); ++split) {
    ChunkedDecoder d;
    std::string body;
    auto sink = [&](const char* p, size_t n) { body.append(p, n); };
    size_t used1 = 0, used2 = 0;
    auto r1 = d.feed(in.data(), split, &used1, 1000, sink);
    if (split < in.size()) {
      ASSERT_EQ(CR::kIncomplete, r1) << split;
    }
    auto r2 = d.feed(in.data() + used1, in.size() - used1, &used2, 1000, sink);
    ASSERT_EQ(CR::kDone, r2) << split;
    EXPECT_EQ("hello world", body);
    EXPECT_EQ(in.size(), used1 + used2);
  }
}

}  // namespace
}  // namespace hellepoll::http
