// Response: how a handler answers one request.
//
// Two ways to answer:
// - Buffered (the default): write() as often as needed, then end(). The
//   framework computes Content-Length. send() and send_static() do it in one
//   call; send_static() promises the body outlives the response (a literal,
//   a file mapped for the server's lifetime), which lets the writev path send
//   it without copying.
// - Streamed: start_chunked(), then write() pieces as they are produced,
//   then end(). HTTP/1.0 peers get the raw bytes and a close instead.
//
// Lifetime: the `Response&` a handler receives is valid only during the
// handler call (the connection reuses the object for its next request).
// Code that answers later calls defer() before returning and keeps the
// Handle it returns: a Handle's calls act on the response while its request
// is still owed an answer and are refused with ErrorKind::kStale once it is
// over (answered, failed, or the connection gone). on_error() registers the
// callback that is told why a response could not be completed (reset,
// timeout, ...). Responses go out in request order: pipelined requests
// behind a deferred one wait for it.
//
// Errors are values: a call that cannot be carried out returns an Error and
// changes nothing, except where its comment says otherwise.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>

#include "server/async/result.h"
#include "server/error.h"
#include "server/http/date.h"
#include "server/http/out_buffer.h"

namespace hellepoll::http {

std::string_view reason_phrase(int status);

class Response;

// Implemented by the connection that owns a Response.
class ResponseSink {
 public:
  virtual void response_ended() = 0;  // a deferred response was completed
  virtual void response_wrote() = 0;  // a streamed response queued bytes
 protected:
  ~ResponseSink() = default;
};

// Places a finished response's body in the OutBuffer: the write-path axis.
using AddBodyFn = void (*)(OutBuffer& out, std::string_view body, BodySource source);

class Response {
 public:
  class Handle;

  Response(ResponseSink* sink, AddBodyFn add_body, DateCache* date)
      : sink_(sink), add_body_(add_body), date_(date) {}
  Response(const Response&) = delete;
  Response& operator=(const Response&) = delete;

  // 200 to 599: a 1xx is never a final response (100 Continue is the
  // framework's). kBadState once the head is on its way.
  Result<void> set_status(int status);
  int status() const { return status_; }
  // Adds a header line (copied). Refused (kInvalidArgument): a name that is
  // not a token, a value with CR, LF or another control character (response
  // splitting), and the headers the framework owns: Content-Length,
  // Transfer-Encoding, Connection, Date and Server. kBadState once the head
  // is on its way.
  Result<void> add_header(std::string_view name, std::string_view value);
  Result<void> set_content_type(std::string_view type) { return add_header("Content-Type", type); }

  // Buffered: appends to the body. Streamed: sends a chunk; kPeerClosed
  // when sending it ended the connection.
  Result<void> write(std::string_view data);
  // Completes the response. A buffered body on a status that has none
  // (1xx, 204, 304) is dropped and reported as kInvalidArgument; the
  // response itself still goes out, correctly framed.
  Result<void> end();
  // write(body) then end() with `status`, in one step; the same rule for
  // statuses without a body. `content_type` is not sent when the handler
  // set one with set_content_type().
  Result<void> send(int status, std::string_view body, std::string_view content_type = "text/plain");
  Result<void> send_static(int status, std::string_view body, std::string_view content_type = "text/plain");
  // Answers with `length` bytes of the open file `fd` from `offset` as the
  // body (Content-Length: length), sent from the file without passing
  // through a user-space copy where the backend can (sendfile(); on
  // io_uring, bytes not known to be cached are read through the ring
  // and sent from memory). `hold` keeps `fd` open until the
  // bytes are sent. A file that turns out shorter than `length` ends the
  // connection (the framing promised cannot be kept). Refused (kBadState)
  // after write() buffered body bytes; a status without a body and a
  // non-zero length as send() does. sendfile() has no MSG_NOSIGNAL: a
  // program that sends files ignores SIGPIPE (every variant does, and
  // StaticFiles sees to it), or a peer that hangs up mid-file kills it.
  // `cached`: the caller knows the bytes are in the page cache; else each
  // window of them is checked first, and one not all there is read ahead
  // on the worker's BlockingPool (epoll) or read through the ring, so that
  // the loop does not wait on the disk (write_path.h, file_ready()).
  Result<void> send_file(int status, int fd, uint64_t offset, uint64_t length,
                         std::shared_ptr<const void> hold, std::string_view content_type,
                         bool cached = false);
  // Sends the head now; refused (kInvalidArgument) for a status that has no
  // body, which stays a buffered response.
  Result<void> start_chunked();

  // Keeps the response owed after the handler returns; see Handle.
  Handle defer();
  void on_error(std::function<void(const Error&)> fn) { on_error_ = std::move(fn); }

  bool ended() const { return state_ == State::kEnded; }
  bool deferred() const { return deferred_; }
  bool streaming() const { return state_ == State::kStreaming; }
  // Whether the connection stays open after this response.
  bool keep_alive() const { return keep_alive_; }
  // Asks for the connection to close after this response.
  void close_after() { keep_alive_ = false; }

  // ---- for the connection ----
  void begin(OutBuffer* out, int version_minor, bool keep_alive, bool head_only);
  // The connection can no longer deliver this response: tells the handler
  // (on_error) and makes its Handle stale.
  void fail(const Error& e);
  void retire() {
    ++generation_;
    on_error_ = nullptr;
    state_ = State::kIdle;
  }
  bool head_sent() const { return state_ == State::kStreaming || state_ == State::kEnded; }
  // Streamed to an HTTP/1.0 peer: the body ends where the connection does,
  // so a stream cut short must end in a reset, never a FIN.
  bool close_delimited() const { return raw_stream_; }
  // Serializes a complete response with no handler involved (errors, 100).
  static void write_simple(OutBuffer& out, DateCache& date, int status, bool close, std::string_view body);

 private:
  enum class State : uint8_t { kIdle, kBuilding, kStreaming, kEnded };
  // -1: chunked or close-delimited. `content_type` non-empty: emitted here
  // without a copy through `extra`.
  void write_head(int64_t content_length, std::string_view content_type = {});
  Result<void> end_buffered(std::string_view content_type);
  Result<void> send_body(int status, std::string_view body, std::string_view content_type, BodySource source);
  void finished();
  bool body_allowed() const { return status_ >= 200 && status_ != 204 && status_ != 304; }

  ResponseSink* sink_;
  AddBodyFn add_body_;
  DateCache* date_;
  OutBuffer* out_ = nullptr;
  std::function<void(const Error&)> on_error_;
  uint32_t generation_ = 0;
  uint16_t status_ = 200;
  State state_ = State::kIdle;
  uint8_t version_minor_ = 1;
  bool keep_alive_ = true;
  bool head_only_ = false;
  bool deferred_ = false;
  bool raw_stream_ = false;        // streaming to an HTTP/1.0 peer: no chunk framing
  bool has_content_type_ = false;  // set_content_type() was called
};

// What code that outlives the handler call keeps of a deferred response:
// the Response's calls, refused with kStale once the request is over (the
// generation number tells a reused Response from the one deferred).
// Copyable; loop thread only.
class Response::Handle {
 public:
  Handle() = default;
  // Whether the request is still owed an answer through this handle.
  bool alive() const { return r_ && r_->generation_ == gen_; }

  Result<void> set_status(int status) const {
    return call([&](Response& r) { return r.set_status(status); });
  }
  Result<void> add_header(std::string_view name, std::string_view value) const {
    return call([&](Response& r) { return r.add_header(name, value); });
  }
  Result<void> write(std::string_view data) const {
    return call([&](Response& r) { return r.write(data); });
  }
  Result<void> end() const {
    return call([](Response& r) { return r.end(); });
  }
  Result<void> send(int status, std::string_view body, std::string_view content_type = "text/plain") const {
    return call([&](Response& r) { return r.send(status, body, content_type); });
  }
  Result<void> send_static(int status, std::string_view body,
                           std::string_view content_type = "text/plain") const {
    return call([&](Response& r) { return r.send_static(status, body, content_type); });
  }
  Result<void> send_file(int status, int fd, uint64_t offset, uint64_t length,
                         std::shared_ptr<const void> hold, std::string_view content_type,
                         bool cached = false) const {
    return call([&](Response& r) {
      return r.send_file(status, fd, offset, length, std::move(hold), content_type, cached);
    });
  }
  Result<void> start_chunked() const {
    return call([](Response& r) { return r.start_chunked(); });
  }

 private:
  friend class Response;
  Handle(Response* r, uint32_t gen) : r_(r), gen_(gen) {}
  template <class Fn>
  Result<void> call(Fn fn) const {
    if (!alive()) return Error{ErrorKind::kStale, 0};
    return fn(*r_);
  }
  Response* r_ = nullptr;
  uint32_t gen_ = 0;
};

inline Response::Handle Response::defer() {
  deferred_ = true;
  return Handle(this, generation_);
}

}  // namespace hellepoll::http
