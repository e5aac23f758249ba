#include "server/http/static/range.h"

#include "server/http/static/text.h"

namespace hellepoll::http::static_files {
namespace {

// Digits only, no sign, no overflow; empty is false.
bool number(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 19) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  *out = v;
  return true;
}

}  // namespace

RangeAnswer parse_range(std::string_view header, uint64_t size, ByteRange* out) {
  header = trim_ows(header);
  if (!header.starts_with("bytes=")) return RangeAnswer::kWhole;  // another unit: ignored
  header.remove_prefix(6);
  // Enough specs to tell one from several; a client that sends hundreds
  // gets the whole file like one that sends two.
  constexpr int kMaxSpecs = 64;
  int specs = 0;
  int satisfiable = 0;
  ByteRange first;
  while (!header.empty()) {
    size_t comma = header.find(',');
    const std::string_view spec = trim_ows(header.substr(0, comma));
    header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
    if (spec.empty()) continue;  // "a-b, , c-d": empty elements are allowed
    if (++specs > kMaxSpecs) return RangeAnswer::kWhole;
    const size_t dash = spec.find('-');
    if (dash == std::string_view::npos) return RangeAnswer::kWhole;
    const std::string_view a = spec.substr(0, dash);
    const std::string_view b = spec.substr(dash + 1);
    ByteRange r;
    if (a.empty()) {  // suffix: the last b bytes
      uint64_t n = 0;
      if (!number(b, &n)) return RangeAnswer::kWhole;
      if (n == 0 || size == 0) continue;  // unsatisfiable
      r.first = n >= size ? 0 : size - n;
      r.last = size - 1;
    } else {
      uint64_t lo = 0;
      uint64_t hi = UINT64_MAX;
      if (!number(a, &lo)) return RangeAnswer::kWhole;
      if (!b.empty() && !number(b, &hi)) return RangeAnswer::kWhole;
      if (hi < lo) return RangeAnswer::kWhole;  // invalid: the header is ignored
      if (lo >= size) continue;                 // unsatisfiable
      r.first = lo;
      r.last = hi >= size ? size - 1 : hi;
    }
    if (satisfiable++ == 0) first = r;
  }
  if (specs == 0) return RangeAnswer::kWhole;
  if (satisfiable == 0) return RangeAnswer::kUnsatisfiable;
  if (specs > 1) return RangeAnswer::kWhole;
  *out = first;
  return RangeAnswer::kPartial;
}

}  // namespace hellepoll::http::static_files
