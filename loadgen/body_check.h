// BodyCheck: does a response body equal --expect-body?
//
// The response parser consumes bodies without copying them, so the check
// runs beside it: the connection hands over each run of body bytes as the
// parser consumes it (framing included), and BodyCheck compares them in
// place with the expected bytes. Chunked framing is decoded on the way; the
// parser has already validated it, so the decoder only has to find the data.
// Nothing is buffered or allocated.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "server/http/client/response_parser.h"

namespace loadgen {

class BodyCheck {
 public:
  explicit BodyCheck(std::string_view expected = {}) : expected_(expected) {}

  void start(hellepoll::http::client::Framing framing);  // a new body begins
  void feed(const char* data, size_t len);               // bytes the parser consumed
  bool matches() const { return ok_ && offset_ == expected_.size(); }

 private:
  enum class Chunk : uint8_t { kSize, kExtension, kData, kDataEnd, kTrailer };
  void compare(const char* data, size_t len);

  std::string_view expected_;
  size_t offset_ = 0;
  bool ok_ = true;
  bool chunked_ = false;
  Chunk chunk_ = Chunk::kSize;
  uint64_t chunk_left_ = 0;
};

}  // namespace loadgen
