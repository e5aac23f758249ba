#include "server/http/client/response_parser.h"

#include <cstring>

namespace hellepoll::http::client {
namespace {

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c; }

// `name` must be lower case.
bool iequals(std::string_view s, std::string_view name) {
  if (s.size() != name.size()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (lower(s[i]) != name[i]) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = lower(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// Calls fn(token) for each comma-separated, trimmed, non-empty token.
template <class F>
void for_each_token(std::string_view v, F fn) {
  while (!v.empty()) {
    const size_t comma = v.find(',');
    std::string_view token = trim(v.substr(0, comma));
    if (!token.empty()) fn(token);
    if (comma == std::string_view::npos) break;
    v.remove_prefix(comma + 1);
  }
}

}  // namespace

void ResponseParser::reset(bool head_request) {
  state_ = State::kHead;
  head_request_ = head_request;
  chunk_digits_ = false;
  length_seen_ = te_seen_ = te_chunked_ = conn_close_ = conn_keep_alive_ = false;
  scanned_ = 0;
  remaining_ = 0;
  head_ = ResponseHead{};
  error_ = {};
}

ResponseParser::Result ResponseParser::fail(std::string_view why) {
  error_ = why;
  return {Status::kError, 0};
}

ResponseParser::Result ResponseParser::feed(const char* data, size_t len) {
  if (state_ == State::kHead) return parse_head(data, len);
  return parse_body(data, len, 0);
}

ResponseParser::Result ResponseParser::finish() {
  if (state_ == State::kUntilClose) {
    state_ = State::kHead;
    return {Status::kDone, 0};
  }
  return fail("short read: connection closed before the response was complete");
}

ResponseParser::Result ResponseParser::parse_head(const char* data, size_t len) {
  size_t pos = scanned_;
  for (;;) {
    // One memchr per line: the scan that costs, done by libc's SIMD code.
    const void* lf = pos < len ? std::memchr(data + pos, '\n', len - pos) : nullptr;
    if (lf == nullptr) {
      if (len >= kMaxHeadBytes) return fail("response head larger than 64 KiB");
      scanned_ = pos;
      return {Status::kNeedMore, 0};
    }
    const size_t end = static_cast<const char*>(lf) - data;
    size_t line_end = end;
    if (line_end > pos && data[line_end - 1] == '\r') --line_end;
    const std::string_view line(data + pos, line_end - pos);
    if (pos == 0) {
      if (!parse_status_line(line)) return fail("malformed status line");
    } else if (line.empty()) {
      head_.head_bytes = end + 1;
      if (head_.head_bytes > kMaxHeadBytes) return fail("response head larger than 64 KiB");
      finish_head();
      return parse_body(data + head_.head_bytes, len - head_.head_bytes, head_.head_bytes);
    } else if (!parse_header_line(line)) {
      return fail("malformed header line");
    }
    pos = end + 1;
  }
}

bool ResponseParser::parse_status_line(std::string_view s) {
  // "HTTP/1.x 200" then end of line or " reason".
  if (s.size() < 12 || std::memcmp(s.data(), "HTTP/1.", 7) != 0 || !is_digit(s[7]) || s[8] != ' ' ||
      !is_digit(s[9]) || !is_digit(s[10]) || !is_digit(s[11])) {
    return false;
  }
  if (s.size() > 12 && s[12] != ' ') return false;
  head_.minor_version = s[7] - '0';
  head_.status = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
  return head_.status >= 100;
}

bool ResponseParser::parse_header_line(std::string_view s) {
  const size_t colon = s.find(':');
  if (colon == 0 || colon == std::string_view::npos) return false;
  const std::string_view name = s.substr(0, colon);
  if (name.find_first_of(" \t") != std::string_view::npos) return false;  // also obs-fold
  const std::string_view value = trim(s.substr(colon + 1));
  // Only three fields decide framing; the length check rejects the rest at once.
  switch (name.size()) {
    case 10:
      if (iequals(name, "connection")) {
        for_each_token(value, [&](std::string_view t) {
          if (iequals(t, "close")) conn_close_ = true;
          if (iequals(t, "keep-alive")) conn_keep_alive_ = true;
        });
      }
      break;
    case 14:
      if (iequals(name, "content-length")) {
        if (value.empty() || value.size() > 18) return false;
        uint64_t n = 0;
        for (char c : value) {
          if (!is_digit(c)) return false;
          n = n * 10 + static_cast<uint64_t>(c - '0');
        }
        if (length_seen_ && n != head_.content_length) return false;
        length_seen_ = true;
        head_.content_length = n;
      }
      break;
    case 17:
      if (iequals(name, "transfer-encoding")) {
        te_seen_ = true;
        te_chunked_ = false;  // only the last coding counts
        for_each_token(value, [&](std::string_view t) { te_chunked_ = iequals(t, "chunked"); });
      }
      break;
    default:
      break;
  }
  return true;
}

void ResponseParser::finish_head() {
  const int st = head_.status;
  if (head_request_ || st < 200 || st == 204 || st == 304) {
    head_.framing = Framing::kNoBody;
  } else if (te_seen_) {
    head_.framing = te_chunked_ ? Framing::kChunked : Framing::kUntilClose;
  } else if (length_seen_) {
    head_.framing = Framing::kLength;
  } else {
    head_.framing = Framing::kUntilClose;
  }
  if (head_.framing != Framing::kLength) head_.content_length = 0;
  head_.keep_alive = head_.minor_version >= 1 ? !conn_close_ : conn_keep_alive_ && !conn_close_;
  if (head_.framing == Framing::kUntilClose) head_.keep_alive = false;

  switch (head_.framing) {
    case Framing::kNoBody:
      state_ = State::kHead;
      break;
    case Framing::kLength:
      state_ = State::kBody;
      remaining_ = head_.content_length;
      break;
    case Framing::kChunked:
      state_ = State::kChunkSize;
      remaining_ = 0;
      break;
    case Framing::kUntilClose:
      state_ = State::kUntilClose;
      break;
  }
}

ResponseParser::Result ResponseParser::parse_body(const char* data, size_t len, size_t consumed) {
  switch (state_) {
    case State::kHead:  // no body
      return {Status::kDone, consumed};
    case State::kBody: {
      // Body bytes are counted, never copied.
      if (remaining_ <= len) {
        consumed += remaining_;
        remaining_ = 0;
        state_ = State::kHead;
        return {Status::kDone, consumed};
      }
      remaining_ -= len;
      return {Status::kNeedMore, consumed + len};
    }
    case State::kUntilClose:
      return {Status::kNeedMore, consumed + len};
    default:
      return parse_chunked(data, len, consumed);
  }
}

ResponseParser::Result ResponseParser::parse_chunked(const char* data, size_t len, size_t consumed) {
  size_t i = 0;
  while (i < len) {
    const char c = data[i];
    switch (state_) {
      case State::kChunkSize: {
        const int h = hex_value(c);
        if (h >= 0) {
          if (remaining_ >> 56) return fail("chunk size too large");
          remaining_ = remaining_ * 16 + static_cast<uint64_t>(h);
          chunk_digits_ = true;
          ++i;
          break;
        }
        if (!chunk_digits_) return fail("malformed chunk size");
        if (c == '\r') {
          state_ = State::kChunkSizeLf;
        } else if (c == '\n') {
          state_ = remaining_ ? State::kChunkData : State::kTrailerStart;
        } else if (c == ';' || c == ' ' || c == '\t') {
          state_ = State::kChunkExt;
        } else {
          return fail("malformed chunk size");
        }
        ++i;
        break;
      }
      case State::kChunkExt: {
        const void* lf = std::memchr(data + i, '\n', len - i);
        if (lf == nullptr) return {Status::kNeedMore, consumed + len};
        i = static_cast<const char*>(lf) - data + 1;
        state_ = remaining_ ? State::kChunkData : State::kTrailerStart;
        break;
      }
      case State::kChunkSizeLf:
        if (c != '\n') return fail("malformed chunk size line");
        ++i;
        state_ = remaining_ ? State::kChunkData : State::kTrailerStart;
        break;
      case State::kChunkData: {
        const uint64_t take = remaining_ < len - i ? remaining_ : len - i;
        i += take;
        remaining_ -= take;
        if (remaining_ == 0) state_ = State::kChunkDataCr;
        break;
      }
      case State::kChunkDataCr:
        ++i;
        if (c == '\n') {
          state_ = State::kChunkSize;
          chunk_digits_ = false;
        } else if (c == '\r') {
          state_ = State::kChunkDataLf;
        } else {
          return fail("chunk data not followed by CRLF");
        }
        break;
      case State::kChunkDataLf:
        if (c != '\n') return fail("chunk data not followed by CRLF");
        ++i;
        state_ = State::kChunkSize;
        chunk_digits_ = false;
        break;
      case State::kTrailerStart:
        ++i;
        if (c == '\n') {
          state_ = State::kHead;
          return {Status::kDone, consumed + i};
        }
        state_ = c == '\r' ? State::kTrailerEndLf : State::kTrailerLine;
        break;
      case State::kTrailerLine: {
        const void* lf = std::memchr(data + i, '\n', len - i);
        if (lf == nullptr) return {Status::kNeedMore, consumed + len};
        i = static_cast<const char*>(lf) - data + 1;
        state_ = State::kTrailerStart;
        break;
      }
      case State::kTrailerEndLf:
        if (c != '\n') return fail("malformed chunked trailer");
        ++i;
        state_ = State::kHead;
        return {Status::kDone, consumed + i};
      default:
        return fail("internal: bad chunked state");
    }
  }
  return {Status::kNeedMore, consumed + len};
}

}  // namespace hellepoll::http::client
