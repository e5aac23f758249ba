// Stats: what one load generator thread measured; merged at the end.
//
// Plain counters, two histograms and a per-second timeline, owned by one
// thread and never shared during the run (no atomics on the hot path).
#pragma once

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

#include "loadgen/histogram.h"

namespace loadgen {

// Why a request failed. Each failed request counts exactly once.
enum class Failure : uint8_t {
  kConnect,           // connect() refused, unreachable, timed out, or no descriptor
  kRead,              // read() failed with an errno other than ECONNRESET
  kWrite,             // write() failed with an errno other than ECONNRESET/EPIPE
  kTimeout,           // no complete response within --timeout
  kReset,             // the server reset the connection (ECONNRESET, EPIPE)
  kShortRead,         // the server closed before the response was complete
  kParse,             // the response is not valid HTTP/1.x
  kNon2xx,            // a complete response whose status is not 2xx
  kUnexpectedStatus,  // a complete response whose status is not --expect-status
  kUnexpectedBody,    // a complete response whose body is not --expect-body
};
inline constexpr size_t kFailureKinds = 10;
std::string_view failure_name(Failure f);  // "connect", ..., "non2xx", "unexpected_body"

// Every measured request sent ends in exactly one of: a response, lost (a
// connection error took it), or unanswered at the end:
//   requests == responses + lost + unanswered_at_end
// A request answered before it was fully written (an early 413) counts as
// sent, so that its answer has a request to count against.
struct Stats {
  uint64_t requests = 0;                // sent: the last byte handed to the kernel (each request once)
  uint64_t responses = 0;               // complete final responses received
  uint64_t lost = 0;                    // sent requests a connection error took before their response
  uint64_t unanswered_at_end = 0;       // sent, still unanswered when the run ended
  uint64_t not_sent = 0;                // due (--rate) or queued, never fully written
  uint64_t resent = 0;                  // sent, handed back by a close to be sent again (not in the sum)
  uint64_t miscounted_connections = 0;  // connections whose own counts do not add up
  uint64_t bytes_read = 0;
  uint64_t bytes_written = 0;
  std::array<uint64_t, 6> status{};  // [1]..[5]: 1xx..5xx, [0]: anything else
  std::array<uint64_t, kFailureKinds> errors{};
  Histogram latency;               // from the scheduled send time (= actual without --rate)
  Histogram uncorrected;           // from the actual send time; --rate only
  std::vector<uint64_t> timeline;  // responses per second of the measured window
  double user_s = 0, sys_s = 0;    // CPU time of the thread in the window
  double duration_s = 0;           // measured window of this thread

  uint64_t error_total() const;
  void count(Failure f, uint64_t n = 1) { errors[static_cast<size_t>(f)] += n; }
  void record_second(uint64_t second) {
    if (second >= timeline.size()) timeline.resize(second + 1, 0);  // once a second
    ++timeline[second];
  }
  void merge(const Stats& o);
  void reset();  // keeps capacity
};

}  // namespace loadgen
