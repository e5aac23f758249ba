// Raw-socket helpers for the hostile-client and fault suites: clients that
// misbehave in ways testing::Client (one polite blocking client) cannot.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>

#include "server/fd.h"

namespace hellepoll::variants {

// A blocking TCP connection to 127.0.0.1:port (connect bounded by
// `timeout`), or an empty fd.
UniqueFd connect_loopback(uint16_t port, std::chrono::milliseconds timeout = std::chrono::seconds(2));
// Sends everything or fails (no SIGPIPE).
bool send_all(int fd, std::string_view bytes);
// Closes with RST (SO_LINGER 0), as a client that vanishes does.
void close_with_reset(UniqueFd &fd);
// How reading a connection to its end ended.
enum class Ending {
  kEof,      // the peer closed in order (FIN)
  kReset,    // RST (or another error): whatever it had not delivered is lost
  kTimeout,  // still open
};
inline void PrintTo(Ending e, std::ostream *os) {
  *os << (e == Ending::kEof ? "EOF" : e == Ending::kReset ? "reset" : "timeout");
}
// Reads what arrives within `timeout` until the connection ends; says how.
// Bytes read are appended to `out`.
Ending read_until_closed(int fd, std::string *out, std::chrono::milliseconds timeout);
// Bytes sent on the connected loopback socket `fd` that the process at the
// other end has not read yet: those still in fd's send queue (not yet
// acknowledged, so maybe not arrived) plus those waiting in the peer's
// receive queue (/proc/net/tcp), or -1 if either cannot be read. 0 proves
// the peer made a read that took the last byte sent.
long unread_by_peer(int fd);
// Open descriptors of `pid` and, for a procs variant, of its children.
int count_fds(pid_t pid);
// Resident set size of `pid` and its children, in KiB.
long rss_kib(pid_t pid);
// The largest size the kernel's autotuning may give one TCP socket buffer:
// the third field of /proc/sys/net/ipv4/tcp_wmem or tcp_rmem (`sysctl`), or
// 0 if it cannot be read.
size_t tcp_buffer_max(const char *sysctl);
// Raises the soft RLIMIT_NOFILE to the hard limit; returns the new limit.
long raise_fd_limit();
// Occurrences of `needle` in `hay`.
size_t count_of(std::string_view hay, std::string_view needle);

}  // namespace hellepoll::variants
