// The HTTP/1.x request parser: an incremental, zero-copy state machine.
//
// Contract
// - The caller owns the bytes. parse() is given the request's first byte and
//   how many bytes have arrived so far; everything the parser records is an
//   offset from that first byte, so the caller may move the partial request
//   (compaction) between calls.
// - Incremental: the parser works line by line and remembers how far it has
//   scanned, so a request that arrives one byte at a time costs O(n) in
//   total, not O(n^2). Each line is validated as soon as it is complete, so
//   a bad request line is refused before its headers arrive.
// - One result convention, as in picohttpparser: kComplete (head_length()
//   bytes are the head), kIncomplete (call again with more bytes), kError
//   (error_status() is the status to answer: 400, 413, 414, 417, 431, 501,
//   505; the connection must close after it).
// - Strict where leniency enables request smuggling (RFC 9112 §6.3, §11.2):
//   CRLF line ends only, no whitespace before a header's colon, no obs-fold,
//   no control characters, Content-Length digits only and never duplicated,
//   Content-Length with Transfer-Encoding refused, unknown transfer codings
//   refused with 501.
// - Host (RFC 9110 §7.2): required on 1.1, never duplicated, and its value
//   must be an authority (RFC 3986 §3.2.2) or empty; anything else is 400.
// - Persistence (RFC 9112 §9.3): RequestHead::keep_alive is the answer for
//   the whole head. A `close` connection option ends the connection wherever
//   it appears; `keep-alive` keeps an HTTP/1.0 connection only without one.
#pragma once

#include <cstdint>
#include <string_view>

namespace hellepoll::http {

struct Limits {
  uint32_t max_request_line = 8192;  // longer: 414
  uint32_t max_head_bytes = 16384;   // request line + headers; longer: 431
  uint32_t max_headers = 64;         // more: 431
  uint64_t max_body = 1 << 20;       // larger: 413
};

enum class Method : uint8_t { kOther, kGet, kHead, kPost, kPut, kDelete, kOptions, kPatch, kTrace, kConnect };
std::string_view method_name(Method m);

// The character rules the response side shares with the parser.
// Whether `s` is a token (RFC 9110 §5.6.2): a valid header name.
bool is_token(std::string_view s);
// Case-insensitive equality with a lower-case literal.
bool iequals_lower(std::string_view s, std::string_view lower_literal);

// One header as offsets from the request's first byte.
struct HeaderSlot {
  uint32_t name_off;
  uint32_t value_off;
  uint16_t name_len;
  uint16_t value_len;
};

inline constexpr uint32_t kMaxHeadersCap = 256;  // hard cap on Limits::max_headers

// What the parser learned about a request. Caller-owned, reused.
struct RequestHead {
  Method method = Method::kOther;
  uint8_t version_minor = 1;  // HTTP/1.<minor>
  bool keep_alive = true;
  bool chunked = false;
  bool has_content_length = false;
  bool expect_continue = false;
  bool has_host = false;
  bool has_transfer_encoding = false;
  uint64_t content_length = 0;
  // Offsets of the request line's parts.
  uint32_t method_len = 0;
  uint32_t target_off = 0, target_len = 0;
  uint32_t num_headers = 0;
  HeaderSlot* headers = nullptr;  // caller-provided array of Limits::max_headers
};

class RequestParser {
 public:
  enum class Result : uint8_t { kComplete, kIncomplete, kError };

  explicit RequestParser(const Limits& limits) : limits_(&limits) {}
  // Prepares for a new request. The head is cleared (keeping its headers
  // array) when parse() sees the new request's first byte.
  void reset() {
    state_ = State::kRequestLine;
    status_ = 0;
    connection_options_ = 0;
    line_start_ = scan_ = 0;
  }
  Result parse(const char* buf, size_t len, RequestHead& head);
  uint32_t head_length() const { return line_start_; }
  int error_status() const { return status_; }

 private:
  // `end`: the end of the caller's bytes, for 16-byte loads past the line.
  bool parse_request_line(const char* line, uint32_t len, const char* end, RequestHead& head);
  bool parse_header_line(const char* base, uint32_t off, uint32_t len, const char* end, RequestHead& head);
  bool finish_head(RequestHead& head);
  bool valid_host(const char* p, uint32_t n, const char* end);
  // The empty line ending the head has been read up to scan_.
  Result end_of_head(RequestHead& head);
  Result fail(int status) {
    status_ = status;
    return Result::kError;
  }

  enum class State : uint8_t { kRequestLine, kHeaders, kDone, kError };
  const Limits* limits_;
  State state_ = State::kRequestLine;
  // The close and keep-alive connection options seen in any Connection line
  // so far (bits in parser.cc): settled by finish_head(), so that the order
  // of lines and tokens cannot matter.
  uint8_t connection_options_ = 0;
  uint16_t status_ = 0;
  uint32_t line_start_ = 0;  // offset of the line being assembled
  uint32_t scan_ = 0;        // bytes already searched for the line's CR
  // The last Host value found valid (up to 16 bytes): clients repeat theirs
  // on every request, so the check is usually one 16-byte compare. Kept
  // across reset(): it is a fact about bytes, not about one request.
  uint8_t last_host_len_ = 0xff;  // 0xff: none
  alignas(16) char last_host_[16] = {};
};

// Decodes a chunked request body (RFC 9112 §7.1) incrementally into a sink.
class ChunkedDecoder {
 public:
  enum class Result : uint8_t { kDone, kIncomplete, kError };
  // Most bytes in a chunk-size line before its CRLF, extensions included:
  // longer is 413. Leading zeros of the size are free of the 15 significant
  // hex digits a size may have (> 2^60: no body is that large), so this is
  // what stops an endless run of them, or of an extension.
  static constexpr uint16_t kMaxSizeLine = 8192;

  void reset() { *this = ChunkedDecoder(); }
  // Decodes p[0, n): data bytes go to `sink(const char*, size_t)`. Sets
  // *used to the bytes consumed. On kError, error_status() says why.
  template <class Sink>
  Result feed(const char* p, size_t n, size_t* used, uint64_t max_body, Sink&& sink);
  int error_status() const { return status_; }
  uint64_t body_size() const { return total_; }

 private:
  Result step(const char* p, size_t n, size_t* used, uint64_t max_body, const char** data, size_t* data_len);
  enum class State : uint8_t { kSize, kExt, kSizeLf, kData, kDataCr, kDataLf, kTrailer, kTrailerLf, kDone };
  State state_ = State::kSize;
  uint16_t status_ = 0;
  uint16_t size_line_bytes_ = 0;  // of the chunk-size line so far, without CRLF
  uint32_t trailer_bytes_ = 0;
  bool trailer_line_empty_ = true;
  uint64_t remaining_ = 0;  // of the current chunk
  uint64_t total_ = 0;
};

template <class Sink>
ChunkedDecoder::Result ChunkedDecoder::feed(const char* p, size_t n, size_t* used, uint64_t max_body,
                                            Sink&& sink) {
  size_t off = 0;
  for (;;) {
    size_t step_used = 0;
    const char* data = nullptr;
    size_t data_len = 0;
    Result r = step(p + off, n - off, &step_used, max_body, &data, &data_len);
    off += step_used;
    if (data_len) sink(data, data_len);
    if (r != Result::kIncomplete || step_used == 0) {
      *used = off;
      return r;
    }
  }
}

}  // namespace hellepoll::http
