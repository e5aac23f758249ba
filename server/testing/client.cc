#include "server/testing/client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "server/testing/loopback.h"

namespace hellepoll::testing {

Client::Client(uint16_t port, std::chrono::milliseconds timeout) {
  UniqueFd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  timeval tv{static_cast<time_t>(timeout.count() / 1000),
             static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
  setsockopt(s.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(s.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  int one = 1;
  setsockopt(s.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  const sockaddr_in addr = loopback(port);
  if (::connect(s.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) fd_ = std::move(s);
}

bool Client::send(std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      return false;
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

void Client::shutdown_write() { ::shutdown(fd_.get(), SHUT_WR); }

bool Client::fill() {
  if (eof_ || !fd_) return false;
  char tmp[65536];
  for (;;) {
    ssize_t n = ::recv(fd_.get(), tmp, sizeof tmp, 0);
    if (n > 0) {
      buf_.append(tmp, static_cast<size_t>(n));
      return true;
    }
    if (n < 0 && errno == EINTR) continue;
    eof_ = true;  // EOF, reset or timeout
    end_errno_ = n < 0 ? errno : 0;
    return false;
  }
}

bool Client::read_line(std::string* line) {
  for (;;) {
    size_t pos = buf_.find("\r\n");
    if (pos != std::string::npos) {
      *line = buf_.substr(0, pos);
      buf_.erase(0, pos + 2);
      return true;
    }
    if (!fill()) return false;
  }
}

bool Client::read_exact(size_t n, std::string* out) {
  while (buf_.size() < n) {
    if (!fill()) return false;
  }
  out->append(buf_, 0, n);
  buf_.erase(0, n);
  return true;
}

Reply Client::read_reply(bool head_request) {
  Reply r;
  std::string line;
  if (!read_line(&line)) return r;
  // "HTTP/1.1 200 OK"
  if (line.size() < 12 || line.compare(0, 5, "HTTP/") != 0) return r;
  r.version = line.substr(0, 8);
  r.status = std::atoi(line.c_str() + 9);
  for (;;) {
    if (!read_line(&line)) return r;
    if (line.empty()) break;
    size_t colon = line.find(':');
    if (colon == std::string::npos) return r;
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    size_t v = line.find_first_not_of(" \t", colon + 1);
    r.headers[name] = v == std::string::npos ? "" : line.substr(v);
  }
  if (head_request || r.status < 200 || r.status == 204 || r.status == 304) {
    r.ok = true;
    return r;
  }
  if (r.headers.count("content-length")) {
    r.ok = read_exact(std::stoul(r.headers["content-length"]), &r.body);
  } else if (r.header("transfer-encoding") == "chunked") {
    for (;;) {
      if (!read_line(&line)) return r;
      size_t size = std::stoul(line, nullptr, 16);
      if (size == 0) {
        if (!read_line(&line)) return r;  // no trailers from our server
        break;
      }
      if (!read_exact(size, &r.body) || !read_line(&line)) return r;
    }
    r.ok = true;
  } else {
    r.body = read_until_close();
    r.ok = true;
  }
  return r;
}

bool Client::wait_closed() {
  if (!buf_.empty()) return false;
  if (eof_) return end_errno_ == 0;
  char c;
  for (;;) {
    ssize_t n = ::recv(fd_.get(), &c, 1, 0);
    if (n > 0) {
      buf_.push_back(c);  // end_reason() counts it as unparsed
      return false;
    }
    if (n < 0 && errno == EINTR) continue;
    eof_ = true;
    end_errno_ = n < 0 ? errno : 0;
    return n == 0;
  }
}

std::string Client::end_reason() const {
  if (!eof_) return "";
  std::string why = end_errno_ == 0                                     ? "eof"
                    : end_errno_ == EAGAIN || end_errno_ == EWOULDBLOCK ? "timeout"
                    : end_errno_ == ECONNRESET                          ? "ECONNRESET"
                                                                        : std::strerror(end_errno_);
  return why + " with " + std::to_string(buf_.size()) + " bytes unparsed";
}

std::string Client::read_until_close() {
  while (fill()) {
  }
  std::string out;
  out.swap(buf_);
  return out;
}

Reply fetch(uint16_t port, std::string_view request) {
  Client c(port);
  if (!c.send(request)) return {};
  return c.read_reply(request.substr(0, 5) == "HEAD ");
}

}  // namespace hellepoll::testing
