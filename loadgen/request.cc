#include "loadgen/request.h"

#include <strings.h>

#include <algorithm>
#include <string_view>
#include <vector>

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

std::string render_request(const Config& c, const std::string* path, std::string_view pad) {
  std::string r;
  r.reserve(256 + c.body.size());
  r += c.method;
  r += ' ';
  r += path ? *path : c.url.path;
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
  r += pad;
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
  std::vector<std::string> each;
  if (c.paths.size() <= 1) {
    each.push_back(render_request(c));
  } else {
    // "X-Pad: " + filler + CRLF on every request (the longest too, with
    // none): all end up one size.
    size_t longest = 0;
    for (const std::string& p : c.paths) longest = std::max(longest, render_request(c, &p).size());
    for (const std::string& p : c.paths) {
      const size_t fill = longest - render_request(c, &p).size();
      each.push_back(render_request(c, &p, "X-Pad: " + std::string(fill, 'x') + "\r\n"));
    }
  }
  size = each[0].size();
  count = static_cast<uint32_t>(each.size());
  const size_t total = count + c.pipeline - 1;
  batch.reserve(size * total);
  for (size_t i = 0; i < total; ++i) batch += each[i % count];
  head = c.method == "HEAD";
}

}  // namespace loadgen
