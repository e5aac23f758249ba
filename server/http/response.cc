#include "server/http/response.h"

#include <charconv>
#include <cstdio>
#include <cstring>

#include "server/http/parser.h"

namespace hellepoll::http {
namespace {

// The statuses the framework knows by name: code, reason phrase.
#define HP_STATUS_CODES(X)                  \
  X(100, "Continue")                        \
  X(200, "OK")                              \
  X(201, "Created")                         \
  X(204, "No Content")                      \
  X(206, "Partial Content")                 \
  X(301, "Moved Permanently")               \
  X(302, "Found")                           \
  X(304, "Not Modified")                    \
  X(400, "Bad Request")                     \
  X(403, "Forbidden")                       \
  X(404, "Not Found")                       \
  X(405, "Method Not Allowed")              \
  X(408, "Request Timeout")                 \
  X(411, "Length Required")                 \
  X(412, "Precondition Failed")             \
  X(413, "Content Too Large")               \
  X(414, "URI Too Long")                    \
  X(416, "Range Not Satisfiable")           \
  X(417, "Expectation Failed")              \
  X(431, "Request Header Fields Too Large") \
  X(500, "Internal Server Error")           \
  X(501, "Not Implemented")                 \
  X(503, "Service Unavailable")             \
  X(504, "Gateway Timeout")                 \
  X(505, "HTTP Version Not Supported")

constexpr std::string_view kServerLine = "Server: hellepoll\r\n";

inline char* put(char* p, std::string_view s) {
  copy_short(p, s.data(), s.size());  // an empty view may hold nullptr: nothing is read
  return p + s.size();
}

// A literal: a fixed-size copy the compiler turns into a few moves.
template <size_t N>
inline char* put_literal(char* p, const char (&s)[N]) {
  std::memcpy(p, s, N - 1);
  return p + N - 1;
}

// The status line. A known status's whole line is one literal (as nginx's
// ngx_http_status_lines), copied with a fixed size: no digits computed, no
// reason looked up, no memcpy call.
inline char* put_status_line(char* p, int status) {
  switch (status) {
#define HP_LINE(code, text) \
  case code:                \
    return put_literal(p, "HTTP/1.1 " #code " " text "\r\n");
    HP_STATUS_CODES(HP_LINE)
#undef HP_LINE
  }
  p = put(p, "HTTP/1.1 ");
  p[0] = static_cast<char>('0' + status / 100);
  p[1] = static_cast<char>('0' + status / 10 % 10);
  p[2] = static_cast<char>('0' + status % 10);
  p[3] = ' ';
  p = put(p + 4, reason_phrase(status));
  return put(p, "\r\n");
}

// A header line a handler may add: a token name the framework does not own,
// and a value without CR, LF or other control characters (HTAB allowed), so
// that no handler input can end the header or the head early.
bool valid_field(std::string_view name, std::string_view value) {
  if (!is_token(name)) return false;
  for (unsigned char c : value) {
    if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
  }
  for (std::string_view owned : {"content-length", "transfer-encoding", "connection", "date", "server"}) {
    if (iequals_lower(name, owned)) return false;
  }
  return true;
}

}  // namespace

std::string_view reason_phrase(int status) {
  switch (status) {
#define HP_REASON(code, text) \
  case code:                  \
    return text;
    HP_STATUS_CODES(HP_REASON)
#undef HP_REASON
  }
  return "Unknown";
}

void Response::begin(OutBuffer* out, int version_minor, bool keep_alive, bool head_only) {
  out_ = out;
  status_ = 200;
  state_ = State::kBuilding;
  version_minor_ = static_cast<uint8_t>(version_minor);
  keep_alive_ = keep_alive;
  head_only_ = head_only;
  deferred_ = false;
  raw_stream_ = false;
  has_content_type_ = false;
  out->extra.clear();
  out->body_mark = static_cast<uint32_t>(out->bodies.size());
}

Result<void> Response::set_status(int status) {
  if (state_ != State::kBuilding) return Error{ErrorKind::kBadState, 0};
  if (static_cast<unsigned>(status - 200) > 399) return Error{ErrorKind::kInvalidArgument, 0};
  status_ = static_cast<uint16_t>(status);
  return {};
}

Result<void> Response::add_header(std::string_view name, std::string_view value) {
  if (state_ != State::kBuilding) return Error{ErrorKind::kBadState, 0};
  if (!valid_field(name, value)) return Error{ErrorKind::kInvalidArgument, 0};
  if (iequals_lower(name, "content-type")) has_content_type_ = true;
  ByteBuffer& e = out_->extra;
  char* p = e.prepare(name.size() + value.size() + 4);
  p = put(p, name);
  p = put(p, ": ");
  p = put(p, value);
  put(p, "\r\n");
  e.commit(name.size() + value.size() + 4);
  return {};
}

// One pass, one capacity check: this runs once per response.
void Response::write_head(int64_t content_length, std::string_view content_type) {
  std::string_view conn;
  if (!keep_alive_) {
    conn = "Connection: close\r\n";
  } else if (version_minor_ == 0) {
    conn = "Connection: keep-alive\r\n";
  }
  ByteBuffer& b = out_->bytes;
  char* const start = b.prepare(192 + DateCache::kLineLength + content_type.size() + out_->extra.size());
  char* p = put_status_line(start, status_);
  p = put(p, kServerLine);
  p = date_->put(p);
  if (!content_type.empty() && !has_content_type_) {
    p = put(p, "Content-Type: ");
    p = put(p, content_type);
    p = put(p, "\r\n");
  }
  if (!body_allowed()) {
    // 1xx, 204 and 304 are never followed by body bytes: no framing at all.
  } else if (content_length >= 0) {
    p = put(p, "Content-Length: ");
    p = std::to_chars(p, p + 20, content_length).ptr;
    p = put(p, "\r\n");
  } else if (!raw_stream_) {
    p = put(p, "Transfer-Encoding: chunked\r\n");
  }
  p = put(p, out_->extra.view());
  p = put(p, conn);
  p = put(p, "\r\n");
  b.commit(static_cast<size_t>(p - start));
}

Result<void> Response::write(std::string_view data) {
  if (state_ == State::kStreaming) {
    if (head_only_ || data.empty()) return {};
    ByteBuffer& b = out_->bytes;
    if (!raw_stream_) {
      char* const start = b.prepare(20);
      char* p = std::to_chars(start, start + 16, data.size(), 16).ptr;
      p = put(p, "\r\n");
      b.commit(static_cast<size_t>(p - start));
    }
    b.append(data);
    if (!raw_stream_) b.append("\r\n");
    sink_->response_wrote();
    if (state_ != State::kStreaming) return Error{ErrorKind::kPeerClosed, 0};  // the send failed it
    return {};
  }
  if (state_ != State::kBuilding) return Error{ErrorKind::kBadState, 0};
  out_->bodies.append(data);
  return {};
}

Result<void> Response::start_chunked() {
  if (state_ != State::kBuilding) return Error{ErrorKind::kBadState, 0};
  if (!body_allowed()) return Error{ErrorKind::kInvalidArgument, 0};
  if (version_minor_ == 0) {  // no chunked coding in 1.0: delimit by close
    raw_stream_ = true;
    keep_alive_ = false;
  }
  // Whatever was buffered so far goes first. Only this response's part of
  // the body store is released: answers queued before it may still point
  // into the rest (the writev path sends them from there).
  std::string_view buffered(out_->bodies.data() + out_->body_mark, out_->bodies.size() - out_->body_mark);
  write_head(-1);
  state_ = State::kStreaming;
  if (!buffered.empty()) {
    // `buffered` points into `bodies`, which write() does not touch.
    (void)write(buffered);
  } else {
    sink_->response_wrote();  // a deferred stream's head goes out now, not with its first chunk
  }
  out_->bodies.truncate(out_->body_mark);
  return {};
}

Result<void> Response::end_buffered(std::string_view content_type) {
  const size_t len = out_->bodies.size() - out_->body_mark;
  write_head(static_cast<int64_t>(len), content_type);
  const bool dropped = len > 0 && !body_allowed();
  if (head_only_ || len == 0 || dropped) {
    out_->bodies.truncate(out_->body_mark);  // HEAD, or a status without a body: never sent
  } else {
    add_body_(*out_, {out_->bodies.data() + out_->body_mark, len}, BodySource::kBuffered);
  }
  finished();
  if (dropped) return Error{ErrorKind::kInvalidArgument, 0};
  return {};
}

Result<void> Response::end() {
  if (state_ == State::kBuilding) return end_buffered({});
  if (state_ != State::kStreaming) return Error{ErrorKind::kBadState, 0};
  if (!head_only_ && !raw_stream_) out_->bytes.append("0\r\n\r\n");
  finished();
  return {};
}

Result<void> Response::send(int status, std::string_view body, std::string_view content_type) {
  return send_body(status, body, content_type, BodySource::kTransient);
}

Result<void> Response::send_static(int status, std::string_view body, std::string_view content_type) {
  return send_body(status, body, content_type, BodySource::kStatic);
}

Result<void> Response::send_body(int status, std::string_view body, std::string_view content_type,
                                 BodySource source) {
  if (state_ != State::kBuilding) return Error{ErrorKind::kBadState, 0};
  if (static_cast<unsigned>(status - 200) > 399) return Error{ErrorKind::kInvalidArgument, 0};
  status_ = static_cast<uint16_t>(status);
  if (out_->bodies.size() != out_->body_mark) {
    // Bytes from write() come first: the body joins them in the buffer.
    out_->bodies.append(body);
    return end_buffered(content_type);
  }
  write_head(static_cast<int64_t>(body.size()), content_type);
  if (!body.empty()) {
    if (!body_allowed()) {
      finished();  // framed without it: the body is dropped, and that is reported
      return Error{ErrorKind::kInvalidArgument, 0};
    }
    if (!head_only_) add_body_(*out_, body, source);
  }
  finished();
  return {};
}

Result<void> Response::send_file(int status, int fd, uint64_t offset, uint64_t length,
                                 std::shared_ptr<const void> hold, std::string_view content_type,
                                 bool cached) {
  if (state_ != State::kBuilding || out_->bodies.size() != out_->body_mark)
    return Error{ErrorKind::kBadState, 0};
  if (static_cast<unsigned>(status - 200) > 399) return Error{ErrorKind::kInvalidArgument, 0};
  status_ = static_cast<uint16_t>(status);
  write_head(static_cast<int64_t>(length), content_type);
  if (length != 0 && !body_allowed()) {
    finished();
    return Error{ErrorKind::kInvalidArgument, 0};
  }
  if (length != 0 && !head_only_) out_->add_file(fd, offset, length, std::move(hold), cached);
  finished();
  return {};
}

void Response::finished() {
  state_ = State::kEnded;
  if (deferred_) sink_->response_ended();
}

void Response::fail(const Error& e) {
  if (state_ == State::kBuilding || state_ == State::kStreaming) {
    auto fn = std::move(on_error_);
    retire();
    if (!fn) return;
    // The connection is mid-transition (timing out, closing): a throwing
    // callback must not leave it half done.
    try {
      fn(e);
    } catch (...) {
      std::fprintf(stderr, "hellepoll: a response's on_error callback threw: %s\n", current_what());
    }
  }
}

void Response::write_simple(OutBuffer& out, DateCache& date, int status, bool close, std::string_view body) {
  ByteBuffer& b = out.bytes;
  if (status == 100) {
    b.append("HTTP/1.1 100 Continue\r\n\r\n");
    return;
  }
  char* const start = b.prepare(160 + DateCache::kLineLength + body.size());
  char* p = put_status_line(start, status);
  p = put(p, kServerLine);
  p = date.put(p);
  p = put(p, "Content-Type: text/plain\r\nContent-Length: ");
  p = std::to_chars(p, p + 20, body.size()).ptr;
  p = put(p, "\r\n");
  if (close) p = put(p, "Connection: close\r\n");
  p = put(p, "\r\n");
  p = put(p, body);
  b.commit(static_cast<size_t>(p - start));
}

}  // namespace hellepoll::http
