// deny_io_uring ERRNO COMMAND [ARGS...]: runs COMMAND under a seccomp filter
// that fails io_uring_setup with ERRNO (EPERM, EACCES or ENOSYS), the way a
// container runtime's default profile does, so that a test can check what a
// uring variant says where io_uring is refused. Everything else is allowed.
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <string_view>

namespace {

int errno_named(std::string_view name) {
  if (name == "EPERM") return EPERM;
  if (name == "EACCES") return EACCES;
  if (name == "ENOSYS") return ENOSYS;
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  const int err = argc >= 3 ? errno_named(argv[1]) : -1;
  if (err < 0) {
    std::fprintf(stderr, "usage: deny_io_uring EPERM|EACCES|ENOSYS COMMAND [ARGS...]\n");
    return 2;
  }
  sock_filter filter[] = {
      // Another architecture's syscall numbers mean other calls: refuse them all.
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (static_cast<unsigned>(err) & SECCOMP_RET_DATA)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog prog{static_cast<unsigned short>(sizeof filter / sizeof filter[0]), filter};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
    std::fprintf(stderr, "deny_io_uring: cannot install the seccomp filter: %s\n", std::strerror(errno));
    return 2;
  }
  execv(argv[2], argv + 2);
  std::fprintf(stderr, "deny_io_uring: cannot run %s: %s\n", argv[2], std::strerror(errno));
  return 2;
}
