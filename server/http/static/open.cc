#include "server/http/static/open.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <string_view>

namespace hellepoll::http::static_files {
namespace {

// O_NONBLOCK: opening a FIFO (or a device) would otherwise wait for a
// writer, and keep a pool thread for good; the caller's fstat() then
// refuses anything but a regular file. On a regular file it changes nothing.
constexpr int kOpenFlags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;

// ENOSYS once: every later open takes the check at once.
std::atomic<bool> openat2_missing{false};

std::string fd_path(int fd) {
  char link[32];
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  char buf[4096];
  const ssize_t n = ::readlink(link, buf, sizeof buf);
  if (n <= 0 || static_cast<size_t>(n) >= sizeof buf) return {};
  return std::string(buf, static_cast<size_t>(n));
}

UniqueFd open_checked(int root, const std::string& relative, int* err) {
  UniqueFd fd(::openat(root, relative.c_str(), kOpenFlags));
  if (!fd) {
    *err = errno;
    return fd;
  }
  const std::string base = fd_path(root);
  const std::string got = fd_path(fd.get());
  const bool beneath = !base.empty() && got.size() > base.size() && got.compare(0, base.size(), base) == 0 &&
                       (base == "/" || got[base.size()] == '/');
  if (!beneath) {
    *err = EXDEV;
    return UniqueFd();
  }
  return fd;
}

}  // namespace

UniqueFd open_beneath(int root, const std::string& relative, int* err, Beneath how) {
  *err = 0;
  if (how != Beneath::kCheckPath && !openat2_missing.load(std::memory_order_relaxed)) {
    open_how oh{};
    oh.flags = kOpenFlags;
    oh.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    for (;;) {
      const long fd = ::syscall(SYS_openat2, root, relative.c_str(), &oh, sizeof oh);
      if (fd >= 0) return UniqueFd(static_cast<int>(fd));
      if (errno == EAGAIN || errno == EINTR) continue;  // a rename raced the lookup
      break;
    }
    if (errno != ENOSYS && errno != EPERM) {
      *err = errno;
      return UniqueFd();
    }
    if (how == Beneath::kOpenat2) {
      *err = errno;
      return UniqueFd();
    }
    if (errno == ENOSYS) openat2_missing.store(true, std::memory_order_relaxed);
  }
  return open_checked(root, relative, err);
}

int open_error_status(int err) {
  switch (err) {
    case ENOENT:
    case ENOTDIR:
    case ENAMETOOLONG:
      return 404;
    case EACCES:
    case EPERM:
    case EXDEV:
    case ELOOP:
      return 403;
    default:
      return 500;
  }
}

}  // namespace hellepoll::http::static_files
