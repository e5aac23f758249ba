#include "server/testing/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "server/fd.h"

namespace hellepoll::testing {
namespace {

using Clock = std::chrono::steady_clock;

pid_t spawn(const std::vector<std::string>& argv, UniqueFd* out_read) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return -1;
  UniqueFd r(p[0]), w(p[1]);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(w.get(), 1);
    dup2(w.get(), 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  *out_read = std::move(r);
  return pid;
}

// Reads what is available from `fd` into `out` until `until`, or EOF.
// Returns false on EOF.
bool read_some(int fd, std::string* out, Clock::time_point until) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
  if (left <= 0) return true;
  pollfd pfd{fd, POLLIN, 0};
  if (poll(&pfd, 1, static_cast<int>(left)) <= 0) return true;
  char buf[4096];
  ssize_t n = ::read(fd, buf, sizeof buf);
  if (n <= 0) return false;
  out->append(buf, static_cast<size_t>(n));
  return true;
}

}  // namespace

ServerProcess::ServerProcess(const std::string& binary, std::vector<std::string> args,
                             std::vector<std::string> launcher) {
  std::vector<std::string> argv = std::move(launcher);
  argv.insert(argv.end(), {binary, "--port", "0"});
  argv.insert(argv.end(), args.begin(), args.end());
  // Output goes to a file, not a pipe: a server that logs a lot can never
  // block on a reader that stopped reading.
  const char* dir = std::getenv("TEST_TMPDIR");
  std::string path = std::string(dir ? dir : "/tmp") + "/server-XXXXXX";
  UniqueFd log(mkstemp(path.data()));
  if (!log) return;
  log_path_ = path;
  pid_ = fork();
  if (pid_ == 0) {
    dup2(log.get(), 1);
    dup2(log.get(), 2);
    std::vector<char*> cargs;
    for (const auto& a : argv) cargs.push_back(const_cast<char*>(a.c_str()));
    cargs.push_back(nullptr);
    execv(cargs[0], cargs.data());
    _exit(127);
  }
  const auto until = Clock::now() + std::chrono::seconds(10);
  std::string text;
  while (Clock::now() < until) {
    text = output();
    size_t at = text.find("listening on ");
    size_t nl = at == std::string::npos ? at : text.find('\n', at);
    if (nl != std::string::npos) {
      size_t colon = text.find(':', at);
      ready_line_ = text.substr(at, nl - at);
      port_ = static_cast<uint16_t>(std::atoi(text.c_str() + colon + 1));
      break;
    }
    int status;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      reaped_ = true;
      break;
    }
    usleep(2000);  // polling a file for the ready line
  }
  if (!port_) ready_line_ = text;  // what it said instead, for the failure message
}

std::string ServerProcess::output() const {
  std::ifstream f(log_path_);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0 && !reaped_) {
    kill(pid_, SIGTERM);
    if (wait(std::chrono::seconds(15)) == -1) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  if (!log_path_.empty()) unlink(log_path_.c_str());
}

bool ServerProcess::signal(int sig) { return pid_ > 0 && !reaped_ && kill(pid_, sig) == 0; }

int ServerProcess::wait(std::chrono::milliseconds timeout) {
  if (reaped_) return -1;
  const auto until = Clock::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      return status;
    }
    if (Clock::now() >= until) return -1;
    usleep(2000);  // polling a child's exit: waitpid has no timeout
  }
}

std::vector<pid_t> ServerProcess::children() const {
  std::vector<pid_t> out;
  std::ifstream f("/proc/" + std::to_string(pid_) + "/task/" + std::to_string(pid_) + "/children");
  pid_t p;
  while (f >> p) out.push_back(p);
  return out;
}

int run_command(const std::vector<std::string>& argv, std::string* output,
                std::chrono::milliseconds timeout) {
  UniqueFd out;
  pid_t pid = spawn(argv, &out);
  if (pid < 0) return -1;
  const auto until = Clock::now() + timeout;
  std::string text;
  while (Clock::now() < until && read_some(out.get(), &text, until)) {
  }
  if (output) *output = text;
  int status = 0;
  if (waitpid(pid, &status, WNOHANG) == 0) {
    if (Clock::now() >= until) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
      return -1;
    }
    waitpid(pid, &status, 0);
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace hellepoll::testing
