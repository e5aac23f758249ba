// Report: the merged figures, for people (aligned like wrk) and for programs
// (--json). Errors come first in both: a run with any error is invalid.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "loadgen/args.h"
#include "loadgen/stats.h"

namespace loadgen {

struct Report {
  const Config& config;
  std::string target;              // "127.0.0.1:42042"
  const Stats& stats;              // merged over threads
  std::string fatal;               // why the run stopped early, if it did
  bool interrupted = false;        // Ctrl-C
  uint32_t sources_used = 1;       // 127.0.0.x source addresses
  std::vector<std::string> notes;  // e.g. "-c lowered to the descriptor limit"

  // Requests that the run ended with unanswered or never sent.
  uint64_t unfinished() const { return stats.unanswered_at_end + stats.not_sent; }
  bool valid() const {
    return stats.error_total() == 0 && fatal.empty() && unfinished() <= config.allow_unanswered &&
           stats.miscounted_connections == 0;
  }
};

void print_human(std::FILE* out, const Report& r);
std::string to_json(const Report& r);

}  // namespace loadgen
