#include "server/http/static/path.h"

namespace hellepoll::http::static_files {
namespace {

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

bool percent_decode(std::string_view in, std::string* out) {
  out->clear();
  out->reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out->push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size()) return false;
    const int hi = hex(in[i + 1]);
    const int lo = hex(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return true;
}

void safe_path(std::string_view encoded, bool allow_dotfiles, SafePath* r, std::string* decoded) {
  r->status = 0;
  r->relative.clear();
  if (!percent_decode(encoded, decoded)) {
    r->status = 400;
    return;
  }
  r->directory = decoded->empty() || decoded->back() == '/';
  size_t pos = 0;
  while (pos <= decoded->size()) {
    size_t end = decoded->find('/', pos);
    if (end == std::string::npos) end = decoded->size();
    const std::string_view seg(decoded->data() + pos, end - pos);
    pos = end + 1;
    if (seg.empty() || seg == ".") continue;
    if (seg.find('\0') != std::string_view::npos || seg.find('\\') != std::string_view::npos || seg == "..") {
      r->status = 400;
      r->relative.clear();
      return;
    }
    if (seg.front() == '.' && !allow_dotfiles) {
      r->status = 404;
      r->relative.clear();
      return;
    }
    if (!r->relative.empty()) r->relative.push_back('/');
    r->relative.append(seg);
  }
  if (r->relative.empty()) r->directory = true;
}

SafePath safe_path(std::string_view encoded, bool allow_dotfiles) {
  SafePath r;
  std::string decoded;
  safe_path(encoded, allow_dotfiles, &r, &decoded);
  return r;
}

}  // namespace hellepoll::http::static_files
