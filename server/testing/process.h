// ServerProcess: runs a server binary as a child process for integration
// tests. Starts it with --port 0, reads the port from its ready line
// ("... listening on HOST:PORT ..."), and always stops it (SIGTERM, then
// SIGKILL) when destroyed: no test leaves a server running.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace hellepoll::testing {

class ServerProcess {
 public:
  // `args` are passed after the binary; "--port 0" is added. `launcher`, if
  // any, runs the binary (a command line that ends with the one to run).
  ServerProcess(const std::string& binary, std::vector<std::string> args,
                std::vector<std::string> launcher = {});
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  bool ready() const { return port_ != 0; }
  uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }
  const std::string& ready_line() const { return ready_line_; }

  // Sends `sig`; returns false if the process is gone.
  bool signal(int sig);
  // Waits for exit; returns the exit status (as from waitpid) or -1 on timeout.
  int wait(std::chrono::milliseconds timeout);
  // Direct children (worker processes of a procs variant).
  std::vector<pid_t> children() const;
  // What the server wrote to stdout and stderr so far (a sanitizer report,
  // a worker that died): for failure messages.
  std::string output() const;

 private:
  std::string log_path_;  // removed when the process is destroyed
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  std::string ready_line_;
  bool reaped_ = false;
};

// Runs a command to completion (stdout+stderr captured), bounded by
// `timeout`. Returns the exit code, or -1 if it failed to start or timed out.
int run_command(const std::vector<std::string>& argv, std::string* output,
                std::chrono::milliseconds timeout = std::chrono::seconds(60));

}  // namespace hellepoll::testing
