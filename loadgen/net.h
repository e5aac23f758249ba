// Net: resolving the target, opening connections, the descriptor limit.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>

#include "loadgen/args.h"
#include "server/fd.h"

namespace loadgen {

struct Target {
  sockaddr_storage addr{};
  socklen_t len = 0;
  bool loopback_v4 = false;  // 127.0.0.0/8: source addresses can be spread
  std::string text;          // "127.0.0.1:42042", for messages
};

std::optional<Target> resolve(const Url& url, std::string* error);

// Raises the soft RLIMIT_NOFILE to the hard limit; returns the soft limit now
// in force.
uint64_t raise_fd_limit();

// Largest source index: sources are 127.0.0.1 (index 0, no bind) .. 127.0.0.254.
inline constexpr uint32_t kMaxSourceIndex = 253;
// Connections opened from one loopback source address before the next is
// used; well under half the default ephemeral range (connect() prefers even
// ports and scans them all once they run out).
inline constexpr uint32_t kConnectionsPerSource = 8000;

// Starts a non-blocking connect to `t`, from 127.0.0.(1 + source) when
// source > 0 (bound with IP_BIND_ADDRESS_NO_PORT so the port is picked at
// connect time, when the 4-tuple is known). Returns the socket with
// *in_progress set, or an empty UniqueFd with errno set.
hellepoll::UniqueFd open_connection(const Target& t, uint32_t source, bool* in_progress);

}  // namespace loadgen
