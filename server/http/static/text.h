// Small text helpers the header parsers here share.
#pragma once

#include <string_view>

namespace hellepoll::http::static_files {

// Without leading and trailing optional whitespace (RFC 9110 OWS: SP, HTAB).
inline std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace hellepoll::http::static_files
