#include "variants/testing/raw_socket.h"

#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>
#include <vector>

namespace hellepoll::variants {
namespace {

std::vector<pid_t> self_and_children(pid_t pid) {
  std::vector<pid_t> out{pid};
  std::ifstream f("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children");
  pid_t p;
  while (f >> p) out.push_back(p);
  return out;
}

}  // namespace

UniqueFd connect_loopback(uint16_t port, std::chrono::milliseconds timeout) {
  UniqueFd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!s) return s;
  timeval tv{static_cast<time_t>(timeout.count() / 1000),
             static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
  setsockopt(s.get(), SOL_SOCKET, SO_SNDTIMEO, &tv,
             sizeof tv);  // bounds connect() too
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(s.get(), reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0) return UniqueFd();
  return s;
}

bool send_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

void close_with_reset(UniqueFd &fd) {
  linger l{1, 0};
  setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
  fd.reset();
}

Ending read_until_closed(int fd, std::string *out, std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  char buf[16384];
  for (;;) {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    if (left.count() <= 0) return Ending::kTimeout;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) return Ending::kTimeout;
    ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) {
      out->append(buf, static_cast<size_t>(n));
    } else if (n == 0) {
      return Ending::kEof;
    } else if (errno != EAGAIN && errno != EINTR) {
      return Ending::kReset;
    }
  }
}

long unread_by_peer(int fd) {
  // The send queue first: once it is empty every byte has arrived, so the
  // receive queue read after it holds all that is left.
  int outq = 0;
  if (::ioctl(fd, TIOCOUTQ, &outq) != 0) return -1;
  sockaddr_in self{}, peer{};
  socklen_t len = sizeof self;
  if (::getsockname(fd, reinterpret_cast<sockaddr *>(&self), &len) != 0 ||
      ::getpeername(fd, reinterpret_cast<sockaddr *>(&peer), &len) != 0)
    return -1;
  // "  sl  local_address rem_address   st tx_queue:rx_queue ...", hex:
  // "   0: 0100007F:1F90 0100007F:D3A2 01 00000000:00000000 ..."
  std::ifstream f("/proc/net/tcp");
  std::string line;
  std::getline(f, line);
  while (std::getline(f, line)) {
    std::istringstream in(line);
    std::string slot, local, remote, state, queues;
    in >> slot >> local >> remote >> state >> queues;
    auto port = [](const std::string &addr) {
      return std::stoul(addr.substr(addr.find(':') + 1), nullptr, 16);
    };
    if (port(local) == ntohs(peer.sin_port) && port(remote) == ntohs(self.sin_port))
      return outq + static_cast<long>(std::stoul(queues.substr(queues.find(':') + 1), nullptr, 16));
  }
  return -1;
}

int count_fds(pid_t pid) {
  int n = 0;
  for (pid_t p : self_and_children(pid)) {
    DIR *d = opendir(("/proc/" + std::to_string(p) + "/fd").c_str());
    if (!d) continue;
    while (dirent *e = readdir(d)) {
      if (e->d_name[0] != '.') ++n;
    }
    closedir(d);
  }
  return n;
}

long rss_kib(pid_t pid) {
  long total = 0;
  for (pid_t p : self_and_children(pid)) {
    std::ifstream f("/proc/" + std::to_string(p) + "/status");
    std::string line;
    while (std::getline(f, line)) {
      if (line.rfind("VmRSS:", 0) == 0) total += std::stol(line.substr(6));
    }
  }
  return total;
}

size_t tcp_buffer_max(const char *sysctl) {
  std::ifstream f(sysctl);
  size_t min = 0, initial = 0, max = 0;
  f >> min >> initial >> max;
  return max;
}

long raise_fd_limit() {
  rlimit r{};
  getrlimit(RLIMIT_NOFILE, &r);
  r.rlim_cur = r.rlim_max;
  setrlimit(RLIMIT_NOFILE, &r);
  getrlimit(RLIMIT_NOFILE, &r);
  return static_cast<long>(r.rlim_cur);
}

size_t count_of(std::string_view hay, std::string_view needle) {
  size_t n = 0;
  for (size_t at = hay.find(needle); at != std::string_view::npos; at = hay.find(needle, at + needle.size()))
    ++n;
  return n;
}

}  // namespace hellepoll::variants
