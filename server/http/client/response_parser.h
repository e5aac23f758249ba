// ResponseParser: an incremental HTTP/1.x response parser, one response at
// a time, zero-copy. The load generator reads with it; the server's tests and
// fuzzers check its answers with it.
//
// Contract
// - feed(data, len) consumes a prefix of `data` and returns what happened:
//     kDone     one response is complete; head() describes it; `consumed`
//               bytes belong to it (pipelined bytes after it are untouched).
//               Call reset() before feeding the next response.
//     kNeedMore more input is needed. In the head (status line + headers)
//               nothing is consumed: the caller keeps those bytes and passes
//               them again, followed by more, on the next call; the parser
//               remembers how far it scanned, so re-feeding costs nothing.
//               In the body everything is consumed (counted, never copied).
//     kError    the response is malformed; error() says why.
// - finish() is called at EOF: it completes a close-delimited body and
//   reports a truncated response as kError ("short read").
// - Framing: no body for HEAD requests, 1xx, 204 and 304; else chunked when
//   Transfer-Encoding ends in chunked; else Content-Length; else until close.
// - Heads larger than kMaxHeadBytes are an error, which bounds what a caller
//   must buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace hellepoll::http::client {

enum class Framing : uint8_t { kNoBody, kLength, kChunked, kUntilClose };

struct ResponseHead {
  int minor_version = 1;
  int status = 0;
  bool keep_alive = true;
  Framing framing = Framing::kNoBody;
  uint64_t content_length = 0;  // for kLength
  size_t head_bytes = 0;        // status line + headers + blank line
};

class ResponseParser {
 public:
  static constexpr size_t kMaxHeadBytes = 64 * 1024;

  enum class Status : uint8_t { kNeedMore, kDone, kError };
  struct Result {
    Status status;
    size_t consumed;
  };

  // Prepares for the next response; `head_request` means the request was
  // HEAD, whose response never has a body.
  void reset(bool head_request = false);
  Result feed(const char* data, size_t len);
  Result finish();

  const ResponseHead& head() const { return head_; }
  // True once the head is complete and the body is being consumed. (Bytes
  // of an incomplete head are held by the caller, who knows about them.)
  bool in_body() const { return state_ != State::kHead; }
  std::string_view error() const { return error_; }

 private:
  enum class State : uint8_t {
    kHead,
    kBody,  // Content-Length bytes left in remaining_
    kUntilClose,
    kChunkSize,    // hex digits
    kChunkExt,     // ";ext" or whitespace up to LF
    kChunkSizeLf,  // after CR of the size line
    kChunkData,    // remaining_ data bytes
    kChunkDataCr,  // CRLF after data
    kChunkDataLf,
    kTrailerStart,  // at the start of a trailer line (or the final CRLF)
    kTrailerLine,   // inside a trailer line
    kTrailerEndLf,  // after the final CR
  };

  Result parse_head(const char* data, size_t len);
  bool parse_status_line(std::string_view line);
  bool parse_header_line(std::string_view line);
  void finish_head();
  Result parse_body(const char* data, size_t len, size_t consumed);
  Result parse_chunked(const char* data, size_t len, size_t consumed);
  Result fail(std::string_view why);

  State state_ = State::kHead;
  bool head_request_ = false;
  bool chunk_digits_ = false;
  // Head lines seen so far (the head is parsed line by line as it arrives;
  // the caller re-presents the bytes, the parser resumes at scanned_).
  bool length_seen_ = false;
  bool te_seen_ = false;
  bool te_chunked_ = false;
  bool conn_close_ = false;
  bool conn_keep_alive_ = false;
  size_t scanned_ = 0;      // offset of the first head line not yet parsed
  uint64_t remaining_ = 0;  // body or chunk bytes still expected
  ResponseHead head_;
  std::string_view error_;
};

}  // namespace hellepoll::http::client
