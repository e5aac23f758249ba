// Loopback addresses and listening sockets for tests over real sockets.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>

#include "server/fd.h"

namespace hellepoll::testing {

// 127.0.0.1:port.
inline sockaddr_in loopback(uint16_t port = 0) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

// A TCP socket listening on 127.0.0.1 at a port the kernel chose, which
// `port` receives; `flags` adds to SOCK_STREAM | SOCK_CLOEXEC (SOCK_NONBLOCK).
// backlog 0: bound, not listening (a port with nothing behind it while the
// socket lives). An empty UniqueFd when a call failed.
inline UniqueFd listen_loopback(int backlog, uint16_t* port = nullptr, int flags = 0) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | flags, 0));
  sockaddr_in a = loopback();
  socklen_t len = sizeof a;
  if (!fd || ::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), len) != 0 ||
      (backlog > 0 && ::listen(fd.get(), backlog) != 0) ||
      ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len) != 0)
    return UniqueFd();
  if (port) *port = ntohs(a.sin_port);
  return fd;
}

}  // namespace hellepoll::testing
