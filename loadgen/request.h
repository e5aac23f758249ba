// Request: the request bytes, rendered once before the run.
//
// Every request of a run has one size, so the hot path never formats: a
// connection writes a slice of `batch` and a batch of k pipelined requests
// is one write of k * size bytes. With several URLs the requests differ
// only in their path, and are padded to one size (an X-Pad header); the
// batch holds them in rotation, long enough that a slice of `pipeline`
// requests may start at any of them.
#pragma once

#include <string>

#include "loadgen/args.h"

namespace loadgen {

// One request: request line, Host (unless -H gives one), Connection as the
// protocol needs it, the -H headers, `pad` (an X-Pad header line, or
// empty), Content-Length when there is a body. `path` defaults to the first
// URL's.
std::string render_request(const Config& c, const std::string* path = nullptr, std::string_view pad = {});

struct RenderedRequest {
  explicit RenderedRequest(const Config& c);
  std::string batch;  // count + pipeline - 1 requests, in rotation
  size_t size;        // bytes of one request
  uint32_t count;     // distinct requests (URLs)
  bool head;          // HEAD: responses carry no body
  // Where the slice that starts with request `index` (mod count) begins.
  const char* at(uint32_t index) const { return batch.data() + size_t{index % count} * size; }
};

}  // namespace loadgen
