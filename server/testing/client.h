// A blocking HTTP/1.x test client over a real socket: sends raw bytes and
// reads responses one at a time. Every read has a timeout, so a test that
// waits for a response the server never sends fails instead of hanging.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "server/fd.h"

namespace hellepoll::testing {

struct Reply {
  bool ok = false;  // a complete response was read
  int status = 0;
  std::string version;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

class Client {
 public:
  explicit Client(uint16_t port, std::chrono::milliseconds timeout = std::chrono::seconds(5));
  bool connected() const { return static_cast<bool>(fd_); }
  int fd() const { return fd_.get(); }

  bool send(std::string_view bytes);
  // Reads one response. `head_request`: the response has no body.
  Reply read_reply(bool head_request = false);
  // True if the server closes in order (FIN: EOF) within the timeout, with
  // no further bytes. False on a reset (it destroys answers still in
  // flight, so a server owes a FIN wherever it closes after answering), on
  // more bytes, and on the timeout; end_reason() then says which.
  bool wait_closed();
  // Everything until the server closes (or the timeout).
  std::string read_until_close();
  void shutdown_write();
  void close() { fd_.reset(); }
  // Why the last read ended: "eof", "timeout", or the errno's name
  // ("ECONNRESET"), with the bytes of a partial response left unparsed;
  // empty while the connection is readable.
  std::string end_reason() const;

 private:
  bool fill();  // reads more into buf_; false on EOF/error/timeout
  bool read_line(std::string* line);
  bool read_exact(size_t n, std::string* out);

  UniqueFd fd_;
  std::string buf_;
  bool eof_ = false;
  int end_errno_ = 0;  // 0: EOF
};

// One request, one response, on a fresh connection.
Reply fetch(uint16_t port, std::string_view request);

}  // namespace hellepoll::testing
