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
// Asynchronous handlers call defer() before returning and keep the handle;
// handle.get() is the Response while the request is still owed an answer
// and nullptr once the connection has gone. on_error() registers the
// callback that is told why (reset, timeout, ...). Responses go out in
// request order: pipelined requests behind a deferred one wait for it.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>

#include "server/error.h"
#include "server/http/date.h"
#include "server/http/out_buffer.h"

namespace hellepoll::http {

std::string_view reason_phrase(int status);

class Response;

// Implemented by the connection that owns a Response.
class ResponseSink {
 public:
  virtual void response_ended() = 0;    // a deferred response was completed
  virtual void response_wrote() = 0;    // a streamed response queued bytes
 protected:
  ~ResponseSink() = default;
};

// Places a finished response's body in the OutBuffer: the write-path axis.
using AddBodyFn = void (*)(OutBuffer& out, std::string_view body, BodySource source);

class Response {
 public:
  class Handle {
   public:
    Handle() = default;
    Response* get() const { return r_ && r_->generation_ == gen_ ? r_ : nullptr; }

   private:
    friend class Response;
    Handle(Response* r, uint32_t gen) : r_(r), gen_(gen) {}
    Response* r_ = nullptr;
    uint32_t gen_ = 0;
  };

  Response(ResponseSink* sink, AddBodyFn add_body, DateCache* date)
      : sink_(sink), add_body_(add_body), date_(date) {}

  void set_status(int status) { status_ = static_cast<uint16_t>(status); }
  int status() const { return status_; }
  // Adds a header line (copied). Content-Length, Transfer-Encoding, Date,
  // Server and Connection are the framework's.
  void add_header(std::string_view name, std::string_view value);
  void set_content_type(std::string_view type) { add_header("Content-Type", type); }

  void write(std::string_view data);
  void end();
  void send(int status, std::string_view body, std::string_view content_type = "text/plain");
  void send_static(int status, std::string_view body, std::string_view content_type = "text/plain");
  void start_chunked();

  Handle defer() {
    deferred_ = true;
    return Handle(this, generation_);
  }
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
  void fail(const Error& e);  // the connection died with the response owed
  void retire() { ++generation_; on_error_ = nullptr; state_ = State::kIdle; }
  // Serializes a complete response with no handler involved (errors, 100).
  static void write_simple(OutBuffer& out, DateCache& date, int status, bool close,
                           std::string_view body);

 private:
  enum class State : uint8_t { kIdle, kBuilding, kStreaming, kEnded };
  // -1: chunked or close-delimited. `content_type` non-empty: emitted here
  // without a copy through `extra`.
  void write_head(int64_t content_length, std::string_view content_type = {});
  void end_buffered(std::string_view content_type);
  void send_body(int status, std::string_view body, std::string_view content_type, BodySource source);
  void finished();

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
  bool raw_stream_ = false;  // streaming to an HTTP/1.0 peer: no chunk framing
};

}  // namespace hellepoll::http
