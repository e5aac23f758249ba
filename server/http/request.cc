#include "server/http/request.h"

#include <strings.h>

namespace hellepoll::http {
namespace {

// Strips "scheme://authority" from an absolute-form target.
std::string_view origin_part(std::string_view t) {
  if (t.empty() || t[0] == '/' || t[0] == '*') return t;
  size_t scheme_end = t.find("://");
  if (scheme_end == std::string_view::npos) return t;
  size_t path = t.find_first_of("/?", scheme_end + 3);
  return path == std::string_view::npos ? std::string_view("/") : t.substr(path);
}

}  // namespace

std::string_view Request::path() const {
  std::string_view t = target();
  if (t.size() <= 16 && !t.empty() && t[0] == '/') {
    // The usual short origin-form target: a loop beats a memchr call.
    for (size_t i = 1; i < t.size(); ++i) {
      if (t[i] == '?') return t.substr(0, i);
    }
    return t;
  }
  t = origin_part(t);
  size_t q = t.find('?');
  t = q == std::string_view::npos ? t : t.substr(0, q);
  return t.empty() ? std::string_view("/") : t;
}

std::string_view Request::query() const {
  std::string_view t = target();
  size_t q = t.find('?');
  return q == std::string_view::npos ? std::string_view() : t.substr(q + 1);
}

std::string_view Request::header(std::string_view name) const {
  for (size_t i = 0; i < header_count(); ++i) {
    std::string_view n = header_name(i);
    if (n.size() == name.size() && strncasecmp(n.data(), name.data(), n.size()) == 0) {
      return header_value(i);
    }
  }
  return {};
}

bool Request::has_header(std::string_view name) const {
  for (size_t i = 0; i < header_count(); ++i) {
    std::string_view n = header_name(i);
    if (n.size() == name.size() && strncasecmp(n.data(), name.data(), n.size()) == 0) return true;
  }
  return false;
}

}  // namespace hellepoll::http
