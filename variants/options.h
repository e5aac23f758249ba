// Command-line options shared by every variant.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "server/http/context.h"

namespace hellepoll::variants {

enum class AcceptMode : uint8_t { kReusePort, kShared };

struct Options {
  std::string host = "0.0.0.0";
  uint16_t port = 42042;  // as the original helloworld
  int workers = 0;        // 0: the number of cores this process may run on
  bool pin = false;
  AcceptMode accept = AcceptMode::kReusePort;
  unsigned uring_batch = 1;  // completions a turn waits for (uring variants)
  std::string root;          // serve this directory's files (empty: none)
  std::string mount = "/";   // ...under this path prefix
  int64_t small_file = -1;   // files up to this size copied into the answer (-1: StaticOptions' default)
  std::string file;          // `floor` only: answer every request with this file
  http::ServerConfig config;
};

// What a binary says about itself in --help and in its ready line.
struct Identity {
  std::string_view name;     // "et_writev_procs"
  std::string_view trigger;  // "edge"
  std::string_view write;    // "writev"
  std::string_view workers;  // "procs"
  std::string_view backend;  // the scheduler's name(): "epoll-edge"
};

// Parses argv. Returns -1 to go on, or an exit code (0 after --help, 2 on a
// usage error, with the message on stderr).
int parse_options(int argc, char** argv, const Identity& id, Options* out);

// The cores this process may run on (sched_getaffinity), in order.
std::vector<int> allowed_cpus();

}  // namespace hellepoll::variants
