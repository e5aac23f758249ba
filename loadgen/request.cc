#include "loadgen/request.h"

#include <strings.h>

namespace loadgen {
namespace {

bool has_header(const Config& c, const char* name) {
  const size_t n = std::char_traits<char>::length(name);
  for (const std::string& h : c.headers) {
    if (h.size() > n && h[n] == ':' && strncasecmp(h.data(), name, n) == 0) return true;
  }
  return false;
}

}  // namespace

std::string render_request(const Config& c) {
  std::string r;
  r.reserve(256 + c.body.size());
  r += c.method;
  r += ' ';
  r += c.url.path;
  r += c.http10 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n";
  if (!has_header(c, "Host")) {
    r += "Host: ";
    r += c.url.host_header;
    r += "\r\n";
  }
  if (!has_header(c, "Connection")) {
    // HTTP/1.1 is persistent unless told otherwise; HTTP/1.0 the reverse.
    if (c.http10 && c.keepalive) r += "Connection: keep-alive\r\n";
    if (!c.http10 && !c.keepalive) r += "Connection: close\r\n";
  }
  for (const std::string& h : c.headers) {
    r += h;
    r += "\r\n";
  }
  if (!c.body.empty() && !has_header(c, "Content-Length")) {
    r += "Content-Length: ";
    r += std::to_string(c.body.size());
    r += "\r\n";
  }
  r += "\r\n";
  r += c.body;
  return r;
}

RenderedRequest::RenderedRequest(const Config& c) {
  const std::string one = render_request(c);
  size = one.size();
  batch.reserve(one.size() * c.pipeline);
  for (uint32_t i = 0; i < c.pipeline; ++i) batch += one;
  head = c.method == "HEAD";
}

}  // namespace loadgen
