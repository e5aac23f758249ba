// The Range header of a GET for a file (RFC 9110 §14): one byte range is
// answered 206; none satisfiable, 416; several, or a header that is not a
// byte-range set, the whole file (200), which RFC 9110 allows. nginx
// answers several with multipart/byteranges, and one satisfiable range
// among several with a single 206.
#pragma once

#include <cstdint>
#include <string_view>

namespace hellepoll::http::static_files {

struct ByteRange {
  uint64_t first = 0;
  uint64_t last = 0;  // inclusive
  uint64_t length() const { return last - first + 1; }
};

enum class RangeAnswer : uint8_t {
  kWhole,          // 200 with the whole file
  kPartial,        // 206 with *out
  kUnsatisfiable,  // 416 with "Content-Range: bytes */size"
};

RangeAnswer parse_range(std::string_view header, uint64_t size, ByteRange* out);

}  // namespace hellepoll::http::static_files
