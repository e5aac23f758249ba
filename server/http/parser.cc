#include "server/http/parser.h"

#include <algorithm>
#include <array>
#include <cstring>

#ifdef __SSE2__
#include <emmintrin.h>
#endif
#ifdef __SSSE3__
#include <tmmintrin.h>
#endif

namespace hellepoll::http {
namespace {

// Character classes, one table lookup per byte.
constexpr uint8_t kTchar = 1;    // token (RFC 9110 §5.6.2)
constexpr uint8_t kTarget = 2;   // request-target: visible, no space/CTL
constexpr uint8_t kRegName = 4;  // a reg-name byte (RFC 3986 §3.2.2) but ',' and '%'
constexpr uint8_t kHex = 8;      // HEXDIG
constexpr uint8_t kDigit = 16;   // DIGIT

constexpr std::array<uint8_t, 256> make_classes() {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    uint8_t v = 0;
    bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (alnum || (c != 0 &&
                  std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos)) {
      v |= kTchar;
    }
    if (c > 0x20 && c != 0x7f) v |= kTarget;
    // unreserved / sub-delims. A ',' is left out: RFC 9110 §5.3 lets an
    // intermediary join two field lines into one with commas, and two Host
    // lines are a 400 (§7.2), so "a,b" must not pass as one host. '%' is
    // checked with the two hex digits after it.
    if (alnum ||
        (c != 0 && std::string_view("-._~!$&'()*+;=").find(static_cast<char>(c)) != std::string_view::npos)) {
      v |= kRegName;
    }
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')) v |= kHex;
    if (c >= '0' && c <= '9') v |= kDigit;
    t[c] = v;
  }
  return t;
}
constexpr std::array<uint8_t, 256> kClass = make_classes();

// Length of the longest prefix of p[0, n) whose bytes are all in `cls`.
inline uint32_t span_of(const char* p, uint32_t n, uint8_t cls) {
  uint32_t i = 0;
  while (i < n && (kClass[static_cast<uint8_t>(p[i])] & cls)) ++i;
  return i;
}

// The spans below read 16 bytes at a time while p + 16 <= end (the end of
// the caller's bytes) and stop at the line's CR at the latest, since every
// line they scan ends in one; near the end of the buffer they finish with
// span_of().

#ifdef __SSSE3__
// Membership of 16 bytes in a character class with two table lookups
// (pshufb): the low nibble of a byte selects a bitmap of the high nibbles
// (0-7) that make a member with it, the high nibble selects its bit. About
// eight single-cycle instructions per 16 bytes, and exact (no '|' or '~' to
// finish byte by byte). Not pcmpestri (a range match): it is microcoded on
// AMD Zen, and parsing a browser-like request with it took about 4% longer.
template <uint8_t Cls>
constexpr std::array<uint8_t, 16> make_by_low_nibble() {
  std::array<uint8_t, 16> t{};
  for (int c = 0; c < 128; ++c) {
    if (kClass[c] & Cls) t[c & 15] = static_cast<uint8_t>(t[c & 15] | (1 << (c >> 4)));
  }
  return t;
}
template <uint8_t Cls>
alignas(16) constexpr std::array<uint8_t, 16> kByLowNibble = make_by_low_nibble<Cls>();
alignas(16) constexpr uint8_t kHighBit[16] = {1, 2, 4, 8, 16, 32, 64, 128, 0, 0, 0, 0, 0, 0, 0, 0};

// Bit i set when p[i] is in Cls.
template <uint8_t Cls>
inline unsigned class_mask16(const char* p) {
  const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m128i nibble = _mm_set1_epi8(0x0f);
  const __m128i lo = _mm_and_si128(x, nibble);
  const __m128i hi = _mm_and_si128(_mm_srli_epi16(x, 4), nibble);
  const __m128i allowed =
      _mm_shuffle_epi8(_mm_load_si128(reinterpret_cast<const __m128i*>(kByLowNibble<Cls>.data())), lo);
  const __m128i bit = _mm_shuffle_epi8(_mm_load_si128(reinterpret_cast<const __m128i*>(kHighBit)), hi);
  const __m128i miss = _mm_cmpeq_epi8(_mm_and_si128(allowed, bit), _mm_setzero_si128());
  return ~static_cast<unsigned>(_mm_movemask_epi8(miss)) & 0xffffu;
}
#endif

// Length of the longest prefix of p[0, n) in Cls, 16 bytes at a time. Cls
// must not contain CR (every line ends in one: the scan stops there).
template <uint8_t Cls>
inline uint32_t class_span(const char* p, uint32_t n, const char* end) {
  uint32_t i = 0;
#ifdef __SSSE3__
  while (end - (p + i) >= 16) {
    const unsigned stop = ~class_mask16<Cls>(p + i) & 0xffffu;
    if (stop) return std::min(n, i + static_cast<uint32_t>(__builtin_ctz(stop)));
    i += 16;
  }
  if (i >= n) return n;
#else
  (void)end;
#endif
  return i + span_of(p + i, n - i, Cls);
}

// Length of the token (RFC 9110 tchar) at p[0, n): a method or a header name.
inline uint32_t token_span(const char* p, uint32_t n, const char* end) {
  return class_span<kTchar>(p, n, end);
}

// Length of the request-target at p[0, n): up to the first byte <= 0x20.
// The line's bytes passed find_ctl(), so that byte is SP, HTAB or the CR.
inline uint32_t target_span(const char* p, uint32_t n, const char* end) {
  uint32_t i = 0;
#ifdef __SSE2__
  const __m128i space = _mm_set1_epi8(0x20);
  while (end - (p + i) >= 16) {
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
    const unsigned m = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(x, space), x)));
    if (m) return std::min(n, i + static_cast<uint32_t>(__builtin_ctz(m)));
    i += 16;
  }
  if (i >= n) return n;
#else
  (void)end;
#endif
  return i + span_of(p + i, n - i, kTarget);
}

// The first byte in [p, end) that is a control character other than HTAB
// (0x00-0x08, 0x0A-0x1F, 0x7F), or `end`. This one scan both finds a line's
// CRLF and validates every field-value byte (RFC 9110 §5.5), so the bytes of
// a header line are looked at once. `begin` (<= p) is where the caller's
// bytes start: a tail shorter than 16 bytes is examined with one load that
// ends at `end` and starts before p, instead of byte by byte, because the
// last lines of a request are where the buffer usually ends. Like the other
// 16-byte paths here (the spans above, the Host compare), its scalar loop is
// the fallback and the specification.
#ifdef __SSE2__
inline unsigned ctl_mask16(const char* p) {
  const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m128i bias = _mm_set1_epi8(static_cast<char>(0x80));
  const __m128i below_space = _mm_set1_epi8(static_cast<char>(0x20 ^ 0x80));  // unsigned < 0x20
  __m128i ctl = _mm_cmplt_epi8(_mm_xor_si128(x, bias), below_space);
  ctl = _mm_andnot_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('\t')), ctl);
  ctl = _mm_or_si128(ctl, _mm_cmpeq_epi8(x, _mm_set1_epi8(0x7f)));
  return static_cast<unsigned>(_mm_movemask_epi8(ctl));
}
#endif

inline const char* find_ctl(const char* begin, const char* p, const char* end) {
#ifdef __SSE2__
  for (; end - p >= 16; p += 16) {
    if (unsigned mask = ctl_mask16(p)) return p + __builtin_ctz(mask);
  }
  if (p < end && end - begin >= 16) {
    const char* q = end - 16;  // overlaps bytes already known to be clean
    const unsigned mask = ctl_mask16(q) >> (p - q);
    return mask ? p + __builtin_ctz(mask) : end;
  }
#else
  (void)begin;
#endif
  for (; p < end; ++p) {
    const auto c = static_cast<unsigned char>(*p);
    if ((c < 0x20 && c != '\t') || c == 0x7f) return p;
  }
  return end;
}

// Fixed-size loads for comparing short tokens: one compare instead of a
// memcmp call.
inline uint32_t load32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline uint16_t load16(const char* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
constexpr uint16_t kCrlf = '\r' | '\n' << 8;
inline uint64_t load64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
constexpr uint32_t word32(const char (&s)[5]) {
  return static_cast<uint32_t>(static_cast<uint8_t>(s[0])) |
         static_cast<uint32_t>(static_cast<uint8_t>(s[1])) << 8 |
         static_cast<uint32_t>(static_cast<uint8_t>(s[2])) << 16 |
         static_cast<uint32_t>(static_cast<uint8_t>(s[3])) << 24;
}
constexpr uint64_t word64(const char (&s)[9]) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = v << 8 | static_cast<uint8_t>(s[i]);
  return v;
}

// Whether the N bytes at p equal the lower-case literal, ignoring case, in
// word compares. For bytes already validated as a header name (tchar) or a
// field value (no control characters) and a literal of lower-case letters,
// digits and '-', OR-ing 0x20 into each byte folds exactly the letters: the
// bytes it could confuse with '-' or a digit are control characters, which
// cannot be there.
template <size_t N>
inline bool is(const char* p, const char (&lit)[N]) {
  constexpr size_t n = N - 1;
  static_assert(n >= 4, "compare shorter tokens directly");
  auto at64 = [&](size_t i) {
    uint64_t v = 0;
    for (size_t k = 8; k-- > 0;) v = v << 8 | static_cast<uint8_t>(lit[i + k]);
    return v;
  };
  auto at32 = [&](size_t i) {
    uint32_t v = 0;
    for (size_t k = 4; k-- > 0;) v = v << 8 | static_cast<uint8_t>(lit[i + k]);
    return v;
  };
  if constexpr (n >= 8) {
    constexpr uint64_t kFold = 0x2020202020202020;
    for (size_t i = 0; i + 8 <= n; i += 8) {
      if ((load64(p + i) | kFold) != at64(i)) return false;
    }
    return n % 8 == 0 || (load64(p + n - 8) | kFold) == at64(n - 8);
  } else {
    constexpr uint32_t kFold = 0x20202020;
    return (load32(p) | kFold) == at32(0) && (load32(p + n - 4) | kFold) == at32(n - 4);
  }
}

inline char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c | 0x20) : c; }

// Case-insensitive compare against a lower-case literal.
inline bool iequals(const char* p, uint32_t n, std::string_view lit) {
  if (n != lit.size()) return false;
  for (uint32_t i = 0; i < n; ++i) {
    if (lower(p[i]) != lit[i]) return false;
  }
  return true;
}

// p[0, n) is a method token followed by a space, so p[0, 4) is readable.
Method classify_method(const char* p, uint32_t n) {
  switch (n) {
    case 3:
      if (load32(p) == word32("GET ")) return Method::kGet;
      if (load32(p) == word32("PUT ")) return Method::kPut;
      break;
    case 4:
      if (load32(p) == word32("HEAD")) return Method::kHead;
      if (load32(p) == word32("POST")) return Method::kPost;
      break;
    case 5:
      if (std::memcmp(p, "PATCH", 5) == 0) return Method::kPatch;
      if (std::memcmp(p, "TRACE", 5) == 0) return Method::kTrace;
      break;
    case 6:
      if (std::memcmp(p, "DELETE", 6) == 0) return Method::kDelete;
      break;
    case 7:
      if (std::memcmp(p, "OPTIONS", 7) == 0) return Method::kOptions;
      if (std::memcmp(p, "CONNECT", 7) == 0) return Method::kConnect;
      break;
  }
  return Method::kOther;
}

// Splits a comma-separated list, trimming optional whitespace, and calls
// fn(token, len) for each non-empty element. Returns false if fn does.
template <class Fn>
bool for_each_token(const char* p, uint32_t n, Fn&& fn) {
  uint32_t i = 0;
  while (i < n) {
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == ',')) ++i;
    uint32_t start = i;
    while (i < n && p[i] != ',') ++i;
    uint32_t end = i;
    while (end > start && (p[end - 1] == ' ' || p[end - 1] == '\t')) --end;
    if (end > start && !fn(p + start, end - start)) return false;
  }
  return true;
}

// RequestParser::connection_options_ bits.
constexpr uint8_t kCloseOption = 1;
constexpr uint8_t kKeepAliveOption = 2;

inline bool in(char c, uint8_t cls) { return kClass[static_cast<uint8_t>(c)] & cls; }
inline bool is_digit(char c) { return static_cast<unsigned char>(c - '0') < 10; }

// IPv4address (RFC 3986 §3.2.2): four dec-octets 0-255, no leading zeros.
bool valid_ipv4(const char* p, uint32_t n) {
  uint32_t i = 0;
  for (int octet = 0; octet < 4; ++octet) {
    if (octet > 0 && (i == n || p[i++] != '.')) return false;
    const uint32_t start = i;
    uint32_t v = 0;
    while (i < n && i - start < 3 && is_digit(p[i])) v = v * 10 + static_cast<uint32_t>(p[i++] - '0');
    if (i == start || v > 255 || (p[start] == '0' && i - start > 1)) return false;
  }
  return i == n;
}

// IPv6address (RFC 3986 §3.2.2): eight pieces of 1-4 hex digits joined by
// ':', one run of them elided as "::", the last two perhaps an IPv4address.
bool valid_ipv6(const char* p, uint32_t n) {
  uint32_t i = 0, pieces = 0;
  bool elided = n >= 2 && p[0] == ':' && p[1] == ':';
  if (elided) i = 2;
  while (i < n) {
    const uint32_t start = i;
    while (i < n && i - start < 4 && in(p[i], kHex)) ++i;
    if (i < n && p[i] == '.') {
      if (!valid_ipv4(p + start, n - start)) return false;
      pieces += 2;
      break;
    }
    if (i == start) return false;
    ++pieces;
    if (i == n) break;
    if (p[i++] != ':' || i == n) return false;  // also a fifth digit, or "1:"
    if (p[i] == ':') {
      if (elided) return false;
      elided = true;
      ++i;
    }
  }
  return elided ? pieces <= 7 : pieces == 8;
}

// IP-literal (RFC 3986 §3.2.2) without its brackets: IPv6address, or
// IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" ), with no
// ',' for the reason kRegName has none.
bool valid_ip_literal(const char* p, uint32_t n) {
  if (n == 0 || (p[0] != 'v' && p[0] != 'V')) return valid_ipv6(p, n);
  uint32_t i = 1;
  while (i < n && in(p[i], kHex)) ++i;
  if (i == 1 || i + 1 >= n || p[i] != '.') return false;
  while (++i < n) {
    if (!in(p[i], kRegName) && p[i] != ':') return false;
  }
  return true;
}

// Whether a Host value is uri-host [ ":" port ] (RFC 9110 §7.2), or empty
// (RFC 9112 §3.2: the target has no authority). port = *DIGIT, so "a:" is
// valid; a port without a host (":80") is not (RFC 9110 §4.2.1).
bool valid_authority(const char* p, uint32_t n, const char* end) {
  uint32_t i = 0;
  if (n > 0 && p[0] == '[') {
    const auto* close = static_cast<const char*>(std::memchr(p, ']', n));
    if (close == nullptr || !valid_ip_literal(p + 1, static_cast<uint32_t>(close - p - 1))) return false;
    i = static_cast<uint32_t>(close - p) + 1;
  } else {
    for (;;) {
      i += class_span<kRegName>(p + i, n - i, end);
      if (i + 2 >= n || p[i] != '%' || !in(p[i + 1], kHex) || !in(p[i + 2], kHex)) break;
      i += 3;  // pct-encoded
    }
    if (i == 0) return n == 0;
  }
  if (i == n) return true;
  if (p[i] != ':') return false;
  ++i;
  return i + class_span<kDigit>(p + i, n - i, end) == n;
}

}  // namespace

bool is_token(std::string_view s) {
  return !s.empty() && span_of(s.data(), static_cast<uint32_t>(s.size()), kTchar) == s.size();
}

bool iequals_lower(std::string_view s, std::string_view lower_literal) {
  return iequals(s.data(), static_cast<uint32_t>(s.size()), lower_literal);
}

std::string_view method_name(Method m) {
  switch (m) {
    case Method::kGet:
      return "GET";
    case Method::kHead:
      return "HEAD";
    case Method::kPost:
      return "POST";
    case Method::kPut:
      return "PUT";
    case Method::kDelete:
      return "DELETE";
    case Method::kOptions:
      return "OPTIONS";
    case Method::kPatch:
      return "PATCH";
    case Method::kTrace:
      return "TRACE";
    case Method::kConnect:
      return "CONNECT";
    case Method::kOther:
      break;
  }
  return "OTHER";
}

// The per-line steps are inlined into parse(): a call per line cost as much
// as a short line.
// Host on every request: a byte table takes ~150 instructions for
// "127.0.0.1:42042", 10% of a keep-alive request. A client repeats its
// Host, so the last valid value (up to 16 bytes) is remembered and matched
// with one 16-byte compare; a new value takes the full check.
[[gnu::always_inline]] inline bool RequestParser::valid_host(const char* p, uint32_t n, const char* end) {
#ifdef __SSE2__
  if (n - 1 < 16 && end - p >= 16) {
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const unsigned all = (1u << n) - 1;
    if (n == last_host_len_) {
      const __m128i last = _mm_load_si128(reinterpret_cast<const __m128i*>(last_host_));
      if ((static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(x, last))) & all) == all) return true;
    }
    if (!valid_authority(p, n, end)) return false;
    _mm_store_si128(reinterpret_cast<__m128i*>(last_host_), x);
    last_host_len_ = static_cast<uint8_t>(n);
    return true;
  }
#endif
  return valid_authority(p, n, end);
}

[[gnu::always_inline]] inline bool RequestParser::parse_request_line(const char* line, uint32_t len,
                                                                     const char* end, RequestHead& head) {
  // method SP request-target SP HTTP-version. Each part is one loop that
  // validates and finds its end at once (no memchr call per short token).
  const uint32_t mlen = len > 4 && load32(line) == word32("GET ") ? 3 : token_span(line, len, end);
  if (mlen == 0 || mlen == len || line[mlen] != ' ') return fail(400), false;
  const uint32_t toff = mlen + 1;
  const uint32_t tlen = target_span(line + toff, len - toff, end);
  if (tlen == 0 || toff + tlen == len || line[toff + tlen] != ' ') return fail(400), false;
  const char* ver = line + toff + tlen + 1;
  const uint32_t vlen = static_cast<uint32_t>(line + len - ver);
  if (vlen != 8) return fail(400), false;
  const uint64_t version = load64(ver);
  if (version != word64("HTTP/1.1") &&  // the common case in one compare
      (load32(ver) != word32("HTTP") || ver[4] != '/' || ver[6] != '.' || ver[5] < '0' || ver[5] > '9' ||
       ver[7] < '0' || ver[7] > '9')) {
    return fail(400), false;
  }
  if (ver[5] != '1') return fail(505), false;  // HTTP/2.0 preface, HTTP/0.9, HTTP/3
  head.method = classify_method(line, mlen);
  head.method_len = mlen;
  head.target_off = toff;
  head.target_len = tlen;
  head.version_minor = static_cast<uint8_t>(ver[7] - '0');
  head.keep_alive = head.version_minor >= 1;  // finish_head() applies Connection
  if (head.method == Method::kConnect) return fail(501), false;
  const char first = line[toff];
  if (first != '/' && !(first == '*' && tlen == 1 && head.method == Method::kOptions) &&
      !(tlen > 7 &&
        (iequals(line + toff, 7, "http://") || (tlen > 8 && iequals(line + toff, 8, "https://"))))) {
    return fail(400), false;
  }
  return true;
}

[[gnu::always_inline]] inline bool RequestParser::parse_header_line(const char* base, uint32_t off,
                                                                    uint32_t len, const char* end,
                                                                    RequestHead& head) {
  const char* line = base + off;
  if (line[0] == ' ' || line[0] == '\t') return fail(400), false;  // obs-fold
  const uint32_t nlen = token_span(line, len, end);
  if (nlen == 0 || nlen == len || line[nlen] != ':') return fail(400), false;  // also "Name :"
  uint32_t v = nlen + 1, vend = len;
  // line[len] is the CR, so it stops the first loop; once v < vend, line[v]
  // is not whitespace, so it stops the second.
  while (line[v] == ' ' || line[v] == '\t') ++v;
  if (v < vend) {
    while (line[vend - 1] == ' ' || line[vend - 1] == '\t') --vend;
  }
  const char* value = line + v;
  const uint32_t vlen = vend - v;  // its bytes were validated by find_ctl()
  if (head.num_headers >= limits_->max_headers || head.num_headers >= kMaxHeadersCap) {
    return fail(431), false;
  }
  head.headers[head.num_headers++] =
      HeaderSlot{off, off + v, static_cast<uint16_t>(nlen), static_cast<uint16_t>(vlen)};

  // The few headers that change how the message is framed or answered are
  // interpreted here, once; the rest are only recorded. Dispatch on the
  // name's length, then one or two word compares (is()).
  switch (nlen) {
    case 4:
      if (is(line, "host")) {
        if (head.has_host || !valid_host(value, vlen, end)) return fail(400), false;
        head.has_host = true;
      }
      break;
    case 6:
      if (is(line, "expect")) {
        if (vlen != 12 || !is(value, "100-continue")) return fail(417), false;
        head.expect_continue = true;
      }
      break;
    case 10:
      if (is(line, "connection")) {
        if (vlen == 10 && is(value, "keep-alive")) {  // the usual values, without the list walk
          connection_options_ |= kKeepAliveOption;
        } else if (vlen == 5 && is(value, "close")) {
          connection_options_ |= kCloseOption;
        } else {
          for_each_token(value, vlen, [&](const char* t, uint32_t n) {
            if (iequals(t, n, "close")) {
              connection_options_ |= kCloseOption;
            } else if (iequals(t, n, "keep-alive")) {
              connection_options_ |= kKeepAliveOption;
            }
            return true;
          });
        }
      }
      break;
    case 14:
      if (is(line, "content-length")) {
        if (head.has_content_length) return fail(400), false;  // duplicate: smuggling vector
        if (vlen == 0 || vlen > 19) return fail(vlen == 0 ? 400 : 413), false;
        uint64_t n = 0;
        for (uint32_t i = 0; i < vlen; ++i) {
          if (value[i] < '0' || value[i] > '9') return fail(400), false;  // "+5", "-1", "5 5"
          n = n * 10 + static_cast<uint64_t>(value[i] - '0');
        }
        head.has_content_length = true;
        head.content_length = n;
      }
      break;
    case 17:
      if (is(line, "transfer-encoding")) {
        if (head.has_transfer_encoding) return fail(400), false;
        head.has_transfer_encoding = true;
        int codings = 0;
        bool unknown = false;
        for_each_token(value, vlen, [&](const char* t, uint32_t n) {
          ++codings;
          if (iequals(t, n, "chunked")) {
            head.chunked = true;
          } else {
            unknown = true;
          }
          return true;
        });
        if (unknown) return fail(501), false;
        if (codings != 1) return fail(400), false;  // empty, or "chunked, chunked"
      }
      break;
  }
  return true;
}

[[gnu::always_inline]] inline bool RequestParser::finish_head(RequestHead& head) {
  // HTTP/1.1 persists unless closed, HTTP/1.0 closes unless kept alive, and
  // close wins over keep-alive in any line or position (RFC 9112 §9.3).
  if (connection_options_ & kCloseOption) {
    head.keep_alive = false;
  } else if (connection_options_ & kKeepAliveOption) {
    head.keep_alive = true;
  }
  if (head.has_transfer_encoding) {
    // RFC 9112 §6.1: a 1.0 message with Transfer-Encoding is faulty, and
    // with Content-Length as well the framing is ambiguous: refuse both.
    if (head.version_minor == 0 || head.has_content_length) return fail(400), false;
  }
  if (head.version_minor >= 1 && !head.has_host) return fail(400), false;
  if (head.has_content_length && head.content_length > limits_->max_body) return fail(413), false;
  return true;
}

[[gnu::always_inline]] inline RequestParser::Result RequestParser::end_of_head(RequestHead& head) {
  line_start_ = scan_;
  if (line_start_ > limits_->max_head_bytes) {
    state_ = State::kError;
    return fail(431);
  }
  if (!finish_head(head)) {
    state_ = State::kError;
    return Result::kError;
  }
  state_ = State::kDone;
  return Result::kComplete;
}

RequestParser::Result RequestParser::parse(const char* buf, size_t len, RequestHead& head) {
  if (state_ >= State::kDone) return state_ == State::kDone ? Result::kComplete : Result::kError;
  if (scan_ == 0) {
    HeaderSlot* slots = head.headers;
    head = RequestHead{};
    head.headers = slots;
  }
  for (;;) {
    // Find the end of the current line, resuming where the last call
    // stopped: the first control byte must be the CR of a CRLF.
    const char* c = find_ctl(buf, buf + scan_, buf + len);
    if (c + 1 >= buf + len) {  // no control byte yet, or a CR whose LF is still to come
      scan_ = static_cast<uint32_t>(c - buf);
      const uint32_t pending = scan_ - line_start_;
      if (state_ == State::kRequestLine && pending > limits_->max_request_line) {
        state_ = State::kError;
        return fail(414);
      }
      if (scan_ > limits_->max_head_bytes) {
        const int status = state_ == State::kRequestLine ? 414 : 431;
        state_ = State::kError;
        return fail(status);
      }
      if (c < buf + len && *c != '\r') {
        state_ = State::kError;  // a control byte other than CR
        return fail(400);
      }
      return Result::kIncomplete;
    }
    if (load16(c) != kCrlf) {
      state_ = State::kError;  // bare LF, lone CR, or a control byte in the line
      return fail(400);
    }
    const uint32_t eol = static_cast<uint32_t>(c + 1 - buf);  // offset of '\n'
    scan_ = eol + 1;
    const uint32_t line_len = eol - 1 - line_start_;  // without CRLF
    const char* line = buf + line_start_;
    if (state_ == State::kRequestLine) {
      if (line_len == 0 && line_start_ < 8) {  // RFC 9112 §2.2: skip a leading empty line
        line_start_ = scan_;
        continue;
      }
      if (line_len > limits_->max_request_line) {
        state_ = State::kError;
        return fail(414);
      }
      if (!parse_request_line(line, line_len, buf + len, head)) {
        state_ = State::kError;
        return Result::kError;
      }
      head.target_off += line_start_;
      state_ = State::kHeaders;
    } else if (line_len == 0) {
      return end_of_head(head);
    } else if (!parse_header_line(buf, line_start_, line_len, buf + len, head)) {
      state_ = State::kError;
      return Result::kError;
    }
    line_start_ = scan_;
    if (line_start_ > limits_->max_head_bytes) {
      state_ = State::kError;
      return fail(431);
    }
    // Every head ends in a line followed by the empty one: look for that
    // CRLF here rather than with another pass of the loop.
    if (len - scan_ >= 2 && load16(buf + scan_) == kCrlf) {
      scan_ += 2;
      return end_of_head(head);
    }
  }
}

// ---------------------------------------------------------------- chunked

ChunkedDecoder::Result ChunkedDecoder::step(const char* p, size_t n, size_t* used, uint64_t max_body,
                                            const char** data, size_t* data_len) {
  auto error = [&](int status) {
    status_ = static_cast<uint16_t>(status);
    return Result::kError;
  };
  size_t i = 0;
  while (i < n) {
    const char c = p[i];
    switch (state_) {
      case State::kSize: {
        int d = (c >= '0' && c <= '9')   ? c - '0'
                : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                         : -1;
        if (d >= 0) {
          if (++size_line_bytes_ > kMaxSizeLine) return error(413);
          // A 16th significant digit: > 2^60, no body is that large.
          if (remaining_ >> 56) return error(413);
          remaining_ = remaining_ * 16 + static_cast<uint64_t>(d);
          ++i;
          break;
        }
        // Every byte of the line so far was a digit.
        if (size_line_bytes_ == 0) return error(400);  // "0x5", " 5", "+5", "-1"
        if (total_ + remaining_ > max_body) return error(413);
        if (c == ';') {
          state_ = State::kExt;  // which reads, and counts, the ';'
          break;
        }
        if (c != '\r') return error(400);
        state_ = State::kSizeLf;
        ++i;
        break;
      }
      case State::kExt:
        // chunk-ext: ignored, but no control characters.
        if (c == '\r') {
          state_ = State::kSizeLf;
        } else if ((static_cast<uint8_t>(c) < 0x20 && c != '\t') || c == 0x7f) {
          return error(400);
        } else if (++size_line_bytes_ > kMaxSizeLine) {
          return error(413);
        }
        ++i;
        break;
      case State::kSizeLf:
        if (c != '\n') return error(400);
        ++i;
        size_line_bytes_ = 0;
        if (remaining_ == 0) {
          state_ = State::kTrailer;
          trailer_line_empty_ = true;
        } else {
          state_ = State::kData;
        }
        break;
      case State::kData: {
        size_t take = n - i < remaining_ ? n - i : static_cast<size_t>(remaining_);
        *data = p + i;
        *data_len = take;
        remaining_ -= take;
        total_ += take;
        i += take;
        if (remaining_ == 0) state_ = State::kDataCr;
        *used = i;
        return Result::kIncomplete;  // hand the data to the sink, then resume
      }
      case State::kDataCr:
        if (c != '\r') return error(400);
        state_ = State::kDataLf;
        ++i;
        break;
      case State::kDataLf:
        if (c != '\n') return error(400);
        state_ = State::kSize;
        ++i;
        break;
      case State::kTrailer:
        // Trailer fields are read and discarded, bounded in size.
        if (++trailer_bytes_ > 8192) return error(431);
        if (c == '\r') {
          state_ = State::kTrailerLf;
        } else if ((static_cast<uint8_t>(c) < 0x20 && c != '\t') || c == 0x7f) {
          return error(400);
        } else {
          trailer_line_empty_ = false;
        }
        ++i;
        break;
      case State::kTrailerLf:
        if (c != '\n') return error(400);
        ++i;
        if (trailer_line_empty_) {
          state_ = State::kDone;
          *used = i;
          return Result::kDone;
        }
        state_ = State::kTrailer;
        trailer_line_empty_ = true;
        break;
      case State::kDone:
        *used = i;
        return Result::kDone;
    }
  }
  *used = i;
  return state_ == State::kDone ? Result::kDone : Result::kIncomplete;
}

}  // namespace hellepoll::http
