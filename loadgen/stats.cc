#include "loadgen/stats.h"

#include <algorithm>

namespace loadgen {

std::string_view failure_name(Failure f) {
  switch (f) {
    case Failure::kConnect:
      return "connect";
    case Failure::kRead:
      return "read";
    case Failure::kWrite:
      return "write";
    case Failure::kTimeout:
      return "timeout";
    case Failure::kReset:
      return "reset";
    case Failure::kShortRead:
      return "short_read";
    case Failure::kParse:
      return "parse";
    case Failure::kNon2xx:
      return "non2xx";
    case Failure::kUnexpectedStatus:
      return "unexpected_status";
    case Failure::kUnexpectedBody:
      return "unexpected_body";
  }
  return "?";
}

uint64_t Stats::error_total() const {
  uint64_t t = 0;
  for (uint64_t e : errors) t += e;
  return t;
}

void Stats::merge(const Stats& o) {
  requests += o.requests;
  responses += o.responses;
  lost += o.lost;
  unanswered_at_end += o.unanswered_at_end;
  not_sent += o.not_sent;
  resent += o.resent;
  miscounted_connections += o.miscounted_connections;
  bytes_read += o.bytes_read;
  bytes_written += o.bytes_written;
  for (size_t i = 0; i < status.size(); ++i) status[i] += o.status[i];
  for (size_t i = 0; i < errors.size(); ++i) errors[i] += o.errors[i];
  latency.merge(o.latency);
  uncorrected.merge(o.uncorrected);
  if (o.timeline.size() > timeline.size()) timeline.resize(o.timeline.size(), 0);
  for (size_t i = 0; i < o.timeline.size(); ++i) timeline[i] += o.timeline[i];
  user_s += o.user_s;
  sys_s += o.sys_s;
  duration_s = std::max(duration_s, o.duration_s);
}

void Stats::reset() {
  requests = responses = lost = unanswered_at_end = not_sent = resent = miscounted_connections = 0;
  bytes_read = bytes_written = 0;
  status.fill(0);
  errors.fill(0);
  latency.reset();
  uncorrected.reset();
  std::fill(timeline.begin(), timeline.end(), 0);
  user_s = sys_s = duration_s = 0;
}

}  // namespace loadgen
