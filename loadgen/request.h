// Request: the request bytes, rendered once before the run.
//
// Every request of a run is identical, so the hot path never formats: a
// connection writes a prefix of `batch` (the request repeated `pipeline`
// times) and a batch of k pipelined requests is one write of k * size bytes.
#pragma once

#include <string>

#include "loadgen/args.h"

namespace loadgen {

// One request: request line, Host (unless -H gives one), Connection as the
// protocol needs it, the -H headers, Content-Length when there is a body.
std::string render_request(const Config& c);

struct RenderedRequest {
  explicit RenderedRequest(const Config& c);
  std::string batch;  // the request repeated pipeline times
  size_t size;        // bytes of one request
  bool head;          // HEAD: responses carry no body
};

}  // namespace loadgen
