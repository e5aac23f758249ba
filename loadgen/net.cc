#include "loadgen/net.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>

#include <cerrno>
#include <cstring>

namespace loadgen {

std::optional<Target> resolve(const Url& url, std::string* error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const int rc = getaddrinfo(url.host.c_str(), url.port.c_str(), &hints, &res);
  if (rc != 0 || res == nullptr) {
    *error = "cannot resolve " + url.host + ": " + gai_strerror(rc);
    return std::nullopt;
  }
  Target t;
  std::memcpy(&t.addr, res->ai_addr, res->ai_addrlen);
  t.len = res->ai_addrlen;
  freeaddrinfo(res);
  char ip[INET6_ADDRSTRLEN] = "?";
  if (t.addr.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&t.addr);
    inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
    t.loopback_v4 = (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    t.text = std::string(ip) + ":" + url.port;
  } else {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&t.addr);
    inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
    t.text = "[" + std::string(ip) + "]:" + url.port;
  }
  return t;
}

uint64_t raise_fd_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 1024;
  if (rl.rlim_cur < rl.rlim_max) {
    rlimit want = rl;
    want.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &want) == 0) rl = want;
  }
  return rl.rlim_cur;
}

hellepoll::UniqueFd open_connection(const Target& t, uint32_t source, bool* in_progress) {
  hellepoll::UniqueFd fd(::socket(t.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return fd;
  // Requests are small and latency-measured: never let Nagle hold one back.
  int one = 1;
  setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (source > 0) {
    setsockopt(fd.get(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    sockaddr_in src{};
    src.sin_family = AF_INET;
    src.sin_addr.s_addr = htonl((127u << 24) | (1 + source));
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&src), sizeof src) != 0) {
      const int e = errno;
      fd.reset();
      errno = e;
      return fd;
    }
  }
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&t.addr), t.len) == 0) {
    *in_progress = false;
    return fd;
  }
  if (errno == EINPROGRESS) {
    *in_progress = true;
    return fd;
  }
  const int e = errno;
  fd.reset();
  errno = e;
  return fd;
}

}  // namespace loadgen
