#include "server/http/static/mime.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace hellepoll::http::static_files {
namespace {

bool space(char c) { return c == ' ' || c == '\t' || c == '\r'; }

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

}  // namespace

MimeTypes::MimeTypes(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    error_ = path + ": " + std::strerror(errno) + " (install Debian's media-types)";
    return;
  }
  std::stringstream text;
  text << in.rdbuf();
  parse(text.str());
}

MimeTypes MimeTypes::from_text(std::string_view text) {
  MimeTypes m{Empty{}};
  m.parse(text);
  return m;
}

// Lines of "type ext ext ...", '#' comments. The first table line that
// names an extension wins (nginx's types block lets the later one win, with
// a warning; /etc/mime.types lists each extension once).
void MimeTypes::parse(std::string_view text) {
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (size_t hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    std::string_view type;
    while (!line.empty()) {
      while (!line.empty() && space(line.front())) line.remove_prefix(1);
      size_t n = 0;
      while (n < line.size() && !space(line[n])) ++n;
      if (n == 0) break;
      const std::string_view word = line.substr(0, n);
      line.remove_prefix(n);
      if (type.empty()) {
        type = word;
        continue;
      }
      std::string ext(word);
      for (char& c : ext) c = lower(c);
      by_ext_.try_emplace(std::move(ext), type);
    }
  }
}

std::string_view MimeTypes::type_of(std::string_view filename) const {
  const size_t slash = filename.rfind('/');
  if (slash != std::string_view::npos) filename.remove_prefix(slash + 1);
  const size_t dot = filename.rfind('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 == filename.size()) return kDefault;
  const std::string_view ext = filename.substr(dot + 1);
  char buf[32];
  if (ext.size() > sizeof buf) return kDefault;
  for (size_t i = 0; i < ext.size(); ++i) buf[i] = lower(ext[i]);
  const auto it = by_ext_.find(std::string_view(buf, ext.size()));
  return it == by_ext_.end() ? kDefault : std::string_view(it->second);
}

}  // namespace hellepoll::http::static_files
