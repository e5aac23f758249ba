#include "loadgen/body_check.h"

#include <algorithm>
#include <cstring>

namespace loadgen {

void BodyCheck::start(hellepoll::http::client::Framing framing) {
  offset_ = 0;
  ok_ = true;
  chunked_ = framing == hellepoll::http::client::Framing::kChunked;
  chunk_ = Chunk::kSize;
  chunk_left_ = 0;
}

void BodyCheck::compare(const char* data, size_t len) {
  if (!ok_) return;
  if (len > expected_.size() - offset_ || std::memcmp(expected_.data() + offset_, data, len) != 0) {
    ok_ = false;
    return;
  }
  offset_ += len;
}

void BodyCheck::feed(const char* data, size_t len) {
  if (!chunked_) {
    compare(data, len);
    return;
  }
  const char* const end = data + len;
  while (data < end && ok_) {
    switch (chunk_) {
      case Chunk::kSize: {
        const char c = *data++;
        if (c >= '0' && c <= '9') {
          chunk_left_ = chunk_left_ * 16 + static_cast<uint64_t>(c - '0');
        } else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') {
          chunk_left_ = chunk_left_ * 16 + static_cast<uint64_t>((c | 0x20) - 'a' + 10);
        } else if (c == '\n') {
          chunk_ = chunk_left_ ? Chunk::kData : Chunk::kTrailer;
        } else if (c != '\r') {
          chunk_ = Chunk::kExtension;
        }
        break;
      }
      case Chunk::kExtension:
        if (*data++ == '\n') chunk_ = chunk_left_ ? Chunk::kData : Chunk::kTrailer;
        break;
      case Chunk::kData: {
        const size_t n = static_cast<size_t>(std::min(chunk_left_, static_cast<uint64_t>(end - data)));
        compare(data, n);
        data += n;
        chunk_left_ -= n;
        if (chunk_left_ == 0) chunk_ = Chunk::kDataEnd;
        break;
      }
      case Chunk::kDataEnd:  // the CRLF after the data
        if (*data++ == '\n') chunk_ = Chunk::kSize;
        break;
      case Chunk::kTrailer:  // trailers and the final CRLF carry no data
        return;
    }
  }
}

}  // namespace loadgen
