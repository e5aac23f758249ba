// Integration: the built loadgen binary against small in-test servers on
// ephemeral ports, each misbehaving in one way. Asserts on the --json counts
// and the exit status. No sleeps: servers listen before loadgen starts, and
// loadgen's own -n / --timeout / -d bound every run. Every real-socket case
// runs on each --backend (epoll, uring); uring's are skipped, with the
// reason, where io_uring is unavailable.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "server/backend/uring.h"
#include "server/fd.h"
#include "server/testing/loopback.h"

extern char** environ;

namespace {

using hellepoll::UniqueFd;

enum class Behaviour {
  kGood,                   // 200, Content-Length, keep-alive unless asked to close
  kChunked,                // 200, chunked body
  kReset,                  // reads the request, then resets the connection
  kError500,               // 500 with a body
  kStall,                  // reads requests, never answers
  kTruncated,              // promises 100 bytes, sends 10, closes
  kFirstOfBatch,           // answers the first request of each read, drops the rest (a broken pipeline)
  kStallOnce,              // kGood, but the 100th request is answered kStall later
  kEarly413,               // 413 after the head, before reading the body; waits for the client to close
  kEarly413Close,          // 413 after the head, then closes (which resets the unread body)
  kSlowReader,             // reads nothing for kStall on its first connection, then reads bodies and answers
  kFrozenAnswerThenReset,  // first request: answered (keep-alive) while loadgen is frozen past its
                           // next due time, then a reset; later requests kGood
  kFirstAnsweredLate,      // first request: answered kPastTheEnd late with Connection: close, the
                           // rest of its batch left unread; later requests kGood
  kCloseAfterFirst,        // answers the first request of each connection with Connection: close
                           // and closes, the rest of its batch unread (a server that does not pipeline)
  kCountPaths,             // kGood, counting the requests for each path
};

constexpr auto kStall = std::chrono::milliseconds(200);
constexpr int kStallAt = 100;
// Longer than the -d of the cases that use it (300 ms), timed from the
// first request, so that the answer comes in loadgen's end-of-run wait.
constexpr auto kPastTheEnd = std::chrono::milliseconds(400);
// Longer than two due intervals of the case that uses it (--rate 10).
constexpr auto kFrozen = std::chrono::milliseconds(250);
// A loadgen run that has not ended by then hangs (a bug): it is killed.
constexpr auto kRunLimit = std::chrono::seconds(10);

// The loadgen process running now, for servers that freeze it; 0 if none.
std::atomic<pid_t> g_loadgen_pid{0};

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool contains_ci(const std::string& hay, const std::string& needle) {
  return lower(hay).find(lower(needle)) != std::string::npos;
}

// True when every thread of process `pid` sleeps: loadgen's worker waits
// in epoll_wait with its pacing timer armed.
bool all_threads_asleep(pid_t pid) {
  std::error_code ec;
  bool any = false;
  for (const auto& t : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    std::ifstream in(t.path() / "stat");
    const std::string stat{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    const size_t paren = stat.rfind(')');  // "tid (name) S ..."
    if (paren == std::string::npos || paren + 2 >= stat.size() || stat[paren + 2] != 'S') return false;
    any = true;
  }
  return any;
}

// Stops loadgen once it sleeps; resumed by the caller with SIGCONT. Events
// that arrive while it is stopped are reported in arrival order when it
// resumes, so what happens meanwhile is ordered after its timer's expiry.
pid_t freeze_loadgen() {
  pid_t pid;
  while ((pid = g_loadgen_pid.load()) == 0) std::this_thread::yield();
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  while (!all_threads_asleep(pid) && std::chrono::steady_clock::now() < give_up) std::this_thread::yield();
  ::kill(pid, SIGSTOP);
  return pid;
}

bool write_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    const ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

// A blocking thread-per-connection server on 127.0.0.1:<ephemeral>.
class TestServer {
 public:
  explicit TestServer(Behaviour b) : behaviour_(b) {
    listen_.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    int one = 1;
    setsockopt(listen_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (b == Behaviour::kEarly413 || b == Behaviour::kEarly413Close) {
      // A small receive window (inherited by accepted sockets), so that a
      // large request body cannot be written before the early answer.
      int small = 4096;
      setsockopt(listen_.get(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    }
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(0, ::bind(listen_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a));
    EXPECT_EQ(0, ::listen(listen_.get(), 512));
    socklen_t len = sizeof a;
    getsockname(listen_.get(), reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }

  ~TestServer() {
    stopping_ = true;
    ::shutdown(listen_.get(), SHUT_RDWR);  // wakes accept()
    acceptor_.join();
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (int fd : open_) ::shutdown(fd, SHUT_RDWR);  // wakes stalled readers
    }
    for (auto& t : handlers_) t.join();
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/"; }
  int connections() const { return accepted_.load(); }
  std::map<std::string, int> paths() {
    std::lock_guard<std::mutex> lock(mu_);
    return paths_;
  }

 private:
  void accept_loop() {
    for (;;) {
      const int fd = ::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        if (stopping_ || errno != EINTR) return;
        continue;
      }
      ++accepted_;
      std::lock_guard<std::mutex> lock(mu_);
      open_.push_back(fd);
      handlers_.emplace_back([this, fd] { serve(fd); });
    }
  }

  void serve(int fd_raw) {
    UniqueFd fd(fd_raw);
    if (behaviour_ == Behaviour::kSlowReader && ++served_ == 1) {
      std::this_thread::sleep_for(kStall);  // the stall measured, not a wait
    }
    std::string buf;
    char tmp[4096];
    for (;;) {
      size_t end;
      while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
        const ssize_t n = ::read(fd.get(), tmp, sizeof tmp);
        if (n <= 0) return forget(fd);
        buf.append(tmp, static_cast<size_t>(n));
      }
      const std::string req = buf.substr(0, end + 4);
      buf.erase(0, end + 4);
      const bool http10 = req.find(" HTTP/1.0\r\n") != std::string::npos;
      const bool close =
          contains_ci(req, "Connection: close") || (http10 && !contains_ci(req, "Connection: keep-alive"));
      const std::string conn = close ? "Connection: close\r\n" : http10 ? "Connection: keep-alive\r\n" : "";
      const std::string ok = "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n" + conn + "\r\nhello world";
      const std::string ok_close =
          "HTTP/1.1 200 OK\r\nContent-Length: 11\r\nConnection: close\r\n\r\nhello world";
      if (behaviour_ == Behaviour::kCountPaths) {
        std::lock_guard<std::mutex> lock(mu_);
        ++paths_[req.substr(4, req.find(' ', 4) - 4)];
      }
      switch (behaviour_) {
        case Behaviour::kFirstOfBatch:
          buf.clear();  // the rest of this read: never answered
          if (!write_all(fd.get(), ok)) return forget(fd);
          break;
        case Behaviour::kStallOnce:
          if (++served_ == kStallAt) std::this_thread::sleep_for(kStall);  // the stall measured, not a wait
          if (!write_all(fd.get(), ok)) return forget(fd);
          break;
        case Behaviour::kEarly413:
        case Behaviour::kEarly413Close: {
          write_all(fd.get(),
                    "HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
          if (behaviour_ == Behaviour::kEarly413) {
            pollfd p{fd.get(), POLLRDHUP, 0};  // until the client (or the destructor) closes
            ::poll(&p, 1, -1);
          }
          return forget(fd);
        }
        case Behaviour::kSlowReader: {
          const size_t at = lower(req).find("content-length:");
          size_t left = at == std::string::npos ? 0 : std::strtoull(req.c_str() + at + 15, nullptr, 10);
          const size_t have = std::min(left, buf.size());
          buf.erase(0, have);
          left -= have;
          std::vector<char> sink(1 << 16);
          while (left > 0) {
            const ssize_t n = ::read(fd.get(), sink.data(), std::min(left, sink.size()));
            if (n <= 0) return forget(fd);
            left -= static_cast<size_t>(n);
          }
          if (!write_all(fd.get(), ok)) return forget(fd);
          break;
        }
        case Behaviour::kFrozenAnswerThenReset:
          if (++served_ == 1) {
            const pid_t pid = freeze_loadgen();
            std::this_thread::sleep_for(kFrozen);  // the freeze measured, not a wait
            write_all(fd.get(), ok);
            linger l{1, 0};  // close() now sends RST
            setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
            forget(fd);
            ::kill(pid, SIGCONT);
            return;
          }
          if (!write_all(fd.get(), ok)) return forget(fd);
          break;
        case Behaviour::kFirstAnsweredLate:
          if (++served_ == 1) {
            std::this_thread::sleep_for(kPastTheEnd);  // the delay measured, not a wait
            write_all(fd.get(), ok_close);
            return forget(fd);
          }
          if (!write_all(fd.get(), ok)) return forget(fd);
          break;
        case Behaviour::kCloseAfterFirst:
          write_all(fd.get(), ok_close);
          return forget(fd);
        case Behaviour::kGood:
        case Behaviour::kCountPaths:
          if (!write_all(fd.get(), "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n" + conn + "\r\nhello world"))
            return forget(fd);
          break;
        case Behaviour::kChunked:
          if (!write_all(fd.get(), "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n" + conn +
                                       "\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"))
            return forget(fd);
          break;
        case Behaviour::kReset: {
          linger l{1, 0};  // close() now sends RST
          setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
          return forget(fd);
        }
        case Behaviour::kError500:
          if (!write_all(fd.get(),
                         "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n" + conn + "\r\noops"))
            return forget(fd);
          break;
        case Behaviour::kStall:
          continue;  // read on, answer nothing
        case Behaviour::kTruncated:
          write_all(fd.get(), "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b");
          return forget(fd);
      }
      if (close) return forget(fd);
    }
  }

  // Drops `fd` from the list the destructor shuts down, then closes it.
  void forget(UniqueFd& fd) {
    std::lock_guard<std::mutex> lock(mu_);
    std::erase(open_, fd.get());
    fd.reset();
  }

  const Behaviour behaviour_;
  UniqueFd listen_;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> accepted_{0};
  std::atomic<int> served_{0};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<int> open_;
  std::vector<std::thread> handlers_;
  std::map<std::string, int> paths_;
};

struct RunResult {
  int exit_code = -1;
  std::string output;  // human output (stdout + stderr)
  std::string json;
};

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs the loadgen binary (a data dependency, at loadgen/loadgen in the
// runfiles tree, which is the test's working directory), behind `launcher`
// (a command and its arguments) if one is given.
RunResult run_loadgen(const std::vector<std::string>& args, const std::string& url,
                      const std::vector<std::string>& launcher = {}) {
  static std::atomic<int> serial{0};
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string dir = tmp ? tmp : "/tmp";
  const std::string tag = std::to_string(getpid()) + "-" + std::to_string(serial++);
  const std::string json_path = dir + "/loadgen-" + tag + ".json";
  const std::string out_path = dir + "/loadgen-" + tag + ".out";

  std::vector<std::string> argv = launcher;
  argv.push_back("loadgen/loadgen");
  argv.insert(argv.end(), args.begin(), args.end());
  argv.insert(argv.end(), {"--json", json_path, url});
  std::vector<char*> cargv;
  for (std::string& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  pid_t pid;
  RunResult r;
  const int rc = posix_spawn(&pid, cargv[0], &fa, nullptr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  EXPECT_EQ(rc, 0) << "cannot start " << argv[0] << " from " << get_current_dir_name();
  if (rc != 0) return r;
  g_loadgen_pid = pid;
  std::mutex mu;
  std::condition_variable cv;
  bool exited = false;
  std::thread watchdog([&] {
    std::unique_lock<std::mutex> lock(mu);
    if (!cv.wait_for(lock, kRunLimit, [&] { return exited; })) ::kill(pid, SIGKILL);
  });
  int status = 0;
  waitpid(pid, &status, 0);
  {
    std::lock_guard<std::mutex> lock(mu);
    exited = true;
  }
  cv.notify_one();
  watchdog.join();
  g_loadgen_pid = 0;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.output = slurp(out_path);
  r.json = slurp(json_path);
  return r;
}

// The number at a dotted path of keys in the JSON ("result.errors.reset").
// Keys are found in order, each after the previous, which is enough for the
// fixed layout loadgen writes.
std::optional<double> json_number(const std::string& json, const std::string& path) {
  size_t pos = 0, start = 0;
  while (start <= path.size()) {
    size_t dot = path.find('.', start);
    // "p99.9" style keys contain dots: only split at dots that name objects.
    if (dot != std::string::npos && path.compare(start, dot - start, "result") != 0 &&
        path.compare(start, dot - start, "errors") != 0 && path.compare(start, dot - start, "status") != 0 &&
        path.compare(start, dot - start, "latency_us") != 0 &&
        path.compare(start, dot - start, "uncorrected_latency_us") != 0 &&
        path.compare(start, dot - start, "setting") != 0) {
      dot = std::string::npos;
    }
    const std::string key = "\"" + path.substr(start, dot - start) + "\":";
    pos = json.find(key, pos);
    if (pos == std::string::npos) return std::nullopt;
    pos += key.size();
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  if (json.compare(pos, 4, "true") == 0) return 1;
  if (json.compare(pos, 5, "false") == 0) return 0;
  return std::strtod(json.c_str() + pos, nullptr);
}

// A request body larger than the client's socket buffer can take, in a
// file for --body-file; made once.
std::string big_body_file() {
  static const std::string path = [] {
    const char* tmp = std::getenv("TEST_TMPDIR");
    const std::string p = std::string(tmp ? tmp : "/tmp") + "/loadgen-big-body";
    size_t wmem_max = 4 << 20;
    std::ifstream sysctl("/proc/sys/net/ipv4/tcp_wmem");
    size_t lo, mid;
    if (sysctl >> lo >> mid >> wmem_max) wmem_max = std::max<size_t>(wmem_max, 4 << 20);
    std::ofstream out(p, std::ios::binary);
    out << std::string(4 * wmem_max, 'x');
    return p;
  }();
  return path;
}

constexpr const char* kBigBody = "<big body file>";

struct Expect {
  const char* path;
  double value;
};

struct Case {
  const char* name;
  std::optional<Behaviour> server;  // nullopt: nothing listens
  std::vector<std::string> args;
  int exit_code;
  std::vector<Expect> equal;
  const char* output_starts_with = nullptr;
  const char* output_contains = nullptr;
};

const std::vector<Case> kCases = {
    {"keepalive_all_good",
     Behaviour::kGood,
     {"-n", "200", "-c", "4", "-k"},
     0,
     {{"result.requests", 200},
      {"result.responses", 200},
      {"result.status.2xx", 200},
      {"result.errors.total", 0},
      {"result.valid", 1},
      {"result.bytes_read", 200 * 50}}},
    {"connection_per_request_good",
     Behaviour::kGood,
     {"-n", "40", "-c", "2"},
     0,
     {{"result.responses", 40}, {"result.errors.total", 0}}},
    {"http10_keepalive_good",
     Behaviour::kGood,
     {"-n", "50", "-c", "2", "-k", "--http1.0"},
     0,
     {{"result.responses", 50}, {"result.errors.total", 0}}},
    {"chunked_pipelined_good",
     Behaviour::kChunked,
     {"-n", "300", "-c", "3", "-k", "--pipeline", "8"},
     0,
     {{"result.responses", 300}, {"result.status.2xx", 300}, {"result.errors.total", 0}}},
    {"warmup_is_discarded",
     Behaviour::kGood,
     {"-n", "100", "-c", "2", "-k", "--warmup", "100ms"},
     0,
     {{"result.requests", 100}, {"result.responses", 100}, {"result.errors.total", 0}}},
    {"reset_counted",
     Behaviour::kReset,
     {"-n", "20", "-c", "2"},
     1,
     {{"result.errors.reset", 20}, {"result.errors.total", 20}, {"result.responses", 0}, {"result.valid", 0}},
     "ERRORS: 20 failed requests"},
    {"reset_counted_keepalive",
     Behaviour::kReset,
     {"-n", "20", "-c", "2", "-k"},
     1,
     {{"result.errors.reset", 20}, {"result.errors.total", 20}}},
    {"non2xx_counted",
     Behaviour::kError500,
     {"-n", "30", "-c", "3", "-k"},
     1,
     {{"result.responses", 30},
      {"result.status.5xx", 30},
      {"result.errors.non2xx", 30},
      {"result.errors.total", 30},
      {"result.valid", 0}},
     "ERRORS: 30 failed requests"},
    {"stall_times_out",
     Behaviour::kStall,
     {"-n", "4", "-c", "2", "-k", "--timeout", "200ms"},
     1,
     {{"result.errors.timeout", 4}, {"result.errors.total", 4}, {"result.responses", 0}},
     "ERRORS: 4 failed requests"},
    {"truncated_body_is_short_read",
     Behaviour::kTruncated,
     {"-n", "10", "-c", "2"},
     1,
     {{"result.errors.short_read", 10}, {"result.errors.total", 10}, {"result.responses", 0}}},
    {"truncated_body_is_short_read_keepalive",
     Behaviour::kTruncated,
     {"-n", "10", "-c", "2", "-k"},
     1,
     {{"result.errors.short_read", 10}, {"result.errors.total", 10}}},
    {"expected_status_and_body",
     Behaviour::kGood,
     {"-n", "50", "-c", "2", "-k", "--expect-status", "200", "--expect-body", "hello world"},
     0,
     {{"result.responses", 50}, {"result.errors.total", 0}, {"result.valid", 1}}},
    {"expected_body_chunked_and_pipelined",
     Behaviour::kChunked,
     {"-n", "40", "-c", "2", "-k", "--pipeline", "4", "--expect-body", "hello world"},
     0,
     {{"result.responses", 40}, {"result.errors.total", 0}}},
    {"unexpected_body_counted",
     Behaviour::kGood,
     {"-n", "50", "-c", "2", "-k", "--expect-body", "Hello World"},
     1,
     {{"result.responses", 50},
      {"result.errors.unexpected_body", 50},
      {"result.errors.total", 50},
      {"result.valid", 0}},
     "ERRORS: 50 failed requests"},
    {"unexpected_chunked_body_counted",
     Behaviour::kChunked,
     {"-n", "20", "-c", "2", "-k", "--expect-body", "hello"},
     1,
     {{"result.errors.unexpected_body", 20}, {"result.errors.total", 20}}},
    {"unexpected_status_counted_once",
     Behaviour::kGood,
     {"-n", "50", "-c", "2", "-k", "--expect-status", "201", "--expect-body", "other"},
     1,
     {{"result.errors.unexpected_status", 50},
      {"result.errors.unexpected_body", 0},
      {"result.errors.non2xx", 0},
      {"result.errors.total", 50}}},
    {"expected_5xx_is_no_error",
     Behaviour::kError500,
     {"-n", "30", "-c", "3", "-k", "--expect-status", "500", "--expect-body", "oops"},
     0,
     {{"result.status.5xx", 30}, {"result.errors.total", 0}}},
    {"early_413_counts_as_413",
     Behaviour::kEarly413,
     {"-n", "3", "-c", "1", "-k", "-m", "POST", "--body-file", kBigBody},
     1,
     {{"result.responses", 3},
      {"result.status.4xx", 3},
      {"result.errors.non2xx", 3},
      {"result.errors.parse", 0},
      {"result.errors.total", 3}}},
    {"early_413_then_close_counts_as_413",
     Behaviour::kEarly413Close,
     {"-n", "3", "-c", "1", "-k", "-m", "POST", "--body-file", kBigBody},
     1,
     {{"result.responses", 3},
      {"result.status.4xx", 3},
      {"result.errors.non2xx", 3},
      {"result.errors.reset", 0},
      {"result.errors.total", 3}}},
    // Frozen past its next due time, loadgen wakes to its pacing timer
    // first: the send meets the reset and reads the answer waiting behind
    // it, whose offer must not run a second dispatch inside the first.
    {"answer_read_by_a_failed_send_is_dispatched_once",
     Behaviour::kFrozenAnswerThenReset,
     {"--rate", "10", "-d", "500ms", "-c", "1", "--pipeline", "2"},
     1,
     {{"result.responses", 6},
      {"result.lost", 0},
      {"result.errors.reset", 1},
      {"result.errors.total", 1},
      {"result.unanswered_at_end", 0},
      {"result.not_sent", 0}}},
    // Requests 0-3 are in flight at the end, 4-6 due; the server answers 0
    // after the end with Connection: close. 1-3 go back to be sent again
    // on a new connection with 4-6, all within the wait.
    {"requests_declined_after_the_end_are_sent_again_at_a_fixed_rate",
     Behaviour::kFirstAnsweredLate,
     {"--rate", "20", "-d", "300ms", "-c", "1", "--pipeline", "4", "--timeout", "1s"},
     0,
     {{"result.responses", 7},
      {"result.not_sent", 0},
      {"result.unanswered_at_end", 0},
      {"result.errors.total", 0},
      {"result.valid", 1}}},
    // A connection per request: the one answered after the end closes, and
    // a new one must open for the 6 requests that fell due meanwhile.
    {"requests_owed_at_the_end_get_a_new_connection",
     Behaviour::kFirstAnsweredLate,
     {"--rate", "20", "-d", "300ms", "-c", "1", "--no-keepalive", "--timeout", "1s"},
     0,
     {{"result.responses", 7}, {"result.not_sent", 0}, {"result.errors.total", 0}, {"result.valid", 1}}},
    // Each connection answers one request of a batch of 4: 37 batches of 4,
    // then 3, 2 and 1 as the quota runs out, each but the answered one resent.
    {"requests_resent_after_a_close_mid_batch_are_counted",
     Behaviour::kCloseAfterFirst,
     {"-n", "40", "-c", "1", "-k", "--pipeline", "4"},
     0,
     {{"result.requests", 40},
      {"result.responses", 40},
      {"result.resent", 37 * 3 + 2 + 1},
      {"result.errors.total", 0},
      {"result.valid", 1}},
     nullptr,
     "; 114 resent after a close"},
    {"refused_connect_reported",
     std::nullopt,
     {"-n", "10", "-c", "2"},
     1,
     {{"result.errors.connect", 2}, {"result.errors.total", 2}, {"result.responses", 0}},
     "ERRORS:",
     "cannot connect to 127.0.0.1:"},
};

// A port with nothing listening: bind one, read its number, close it.
std::string dead_url() {
  uint16_t port = 0;
  const UniqueFd s = hellepoll::testing::listen_loopback(0, &port);
  return "http://127.0.0.1:" + std::to_string(port) + "/";
}

// The backend under test, passed to every run as --backend.
class Loadgen : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "uring") {
      const std::string why = hellepoll::UringScheduler::unavailable();
      if (!why.empty()) GTEST_SKIP() << "io_uring unavailable: " << why;
    }
  }
  RunResult run(std::vector<std::string> args, const std::string& url) {
    args.insert(args.end(), {"--backend", GetParam()});
    return run_loadgen(args, url);
  }
};

INSTANTIATE_TEST_SUITE_P(Backends, Loadgen, ::testing::Values("epoll", "uring"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

TEST_P(Loadgen, EveryErrorIsCountedAndReported) {
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.name);
    std::optional<TestServer> server;
    if (c.server) server.emplace(*c.server);
    std::vector<std::string> args = c.args;
    for (std::string& a : args) {
      if (a == kBigBody) a = big_body_file();
    }
    const RunResult r = run(args, server ? server->url() : dead_url());
    EXPECT_EQ(r.exit_code, c.exit_code) << r.output;
    ASSERT_FALSE(r.json.empty()) << r.output;
    for (const Expect& e : c.equal) {
      EXPECT_EQ(json_number(r.json, e.path), e.value) << e.path << "\n" << r.output;
    }
    if (c.output_starts_with) {
      EXPECT_EQ(r.output.rfind(c.output_starts_with, 0), 0u) << r.output;
    }
    if (c.output_contains) {
      EXPECT_NE(r.output.find(c.output_contains), std::string::npos) << r.output;
    }
  }
}

// requests == responses + lost + unanswered_at_end, and requests agrees with
// the bytes written; loadgen checks the same of each connection.
void expect_accounting_adds_up(const RunResult& r) {
  const double requests = json_number(r.json, "result.requests").value_or(-1);
  EXPECT_EQ(requests, json_number(r.json, "result.responses").value_or(0) +
                          json_number(r.json, "result.lost").value_or(0) +
                          json_number(r.json, "result.unanswered_at_end").value_or(0))
      << r.json;
  EXPECT_EQ(json_number(r.json, "result.bytes_written").value_or(-1),
            requests * json_number(r.json, "setting.request_bytes").value_or(0))
      << r.json;
  EXPECT_EQ(json_number(r.json, "result.miscounted_connections"), 0) << r.json;
}

// Several URLs: each connection sends to them in turn, pipelined or not,
// and the requests, padded to one size, are framed and counted right.
TEST_P(Loadgen, SeveralUrlsAreRequestedInRotation) {
  TestServer server(Behaviour::kCountPaths);
  const std::string base = server.url();
  for (const char* pipeline : {"1", "3"}) {
    SCOPED_TRACE(pipeline);
    const RunResult r =
        run({"-n", "40", "-c", "2", "-k", "--pipeline", pipeline, base + "a", base + "long/path/bbbb"},
            base + "c");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(json_number(r.json, "result.responses"), 40) << r.json;
    expect_accounting_adds_up(r);
  }
  const std::map<std::string, int> seen = server.paths();
  ASSERT_EQ(3u, seen.size());
  int total = 0;
  for (const auto& [path, n] : seen) {
    total += n;
    EXPECT_NEAR(n, 80 / 3, 4) << path;
  }
  EXPECT_EQ(80, total);
}

TEST_P(Loadgen, TimedRunWithThreadsAndPipelineHasATimeline) {
  TestServer server(Behaviour::kGood);
  const RunResult r = run({"-d", "1200ms", "-t", "2", "-c", "4", "--pipeline", "4"}, server.url());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_GT(json_number(r.json, "result.responses").value_or(0), 100);
  EXPECT_EQ(json_number(r.json, "result.errors.total"), 0);
  // What was in flight at the deadline was waited for and answered.
  EXPECT_EQ(json_number(r.json, "result.unanswered_at_end"), 0);
  EXPECT_EQ(json_number(r.json, "result.not_sent"), 0);
  EXPECT_EQ(json_number(r.json, "result.requests"), json_number(r.json, "result.responses"));
  expect_accounting_adds_up(r);
  EXPECT_EQ(json_number(r.json, "setting.threads"), 2);
  EXPECT_EQ(json_number(r.json, "setting.pipeline"), 4);
  EXPECT_NE(r.json.find("\"backend\":\"" + GetParam() + "\""), std::string::npos) << r.json;
  EXPECT_NE(r.output.find(", backend " + GetParam()), std::string::npos) << r.output;
  EXPECT_NE(r.json.find("\"timeline\":[{\"t\":1,\"responses\":"), std::string::npos) << r.json;
  EXPECT_NE(r.json.find("\"spectrum\":[["), std::string::npos);
  EXPECT_NE(r.output.find("Requests/sec:"), std::string::npos);
}

// One connection at 400/s; the server holds one answer for 200 ms. The
// ~80 requests that fell due meanwhile wait too: measured from their due
// times they show the stall in the tail, measured from their sends only the
// held request does.
TEST_P(Loadgen, RateIsHeldAndLatencyCorrected) {
  TestServer server(Behaviour::kStallOnce);
  const RunResult r = run({"--rate", "400", "-d", "1s", "-c", "1", "--latency"}, server.url());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  const double responses = json_number(r.json, "result.responses").value_or(0);
  EXPECT_NEAR(responses, 400, 20) << r.output;  // 5%
  EXPECT_EQ(json_number(r.json, "latency_us.corrected"), 1);
  EXPECT_EQ(json_number(r.json, "uncorrected_latency_us.corrected"), 0);
  const double stall_us = std::chrono::duration<double, std::micro>(kStall).count();
  EXPECT_GE(json_number(r.json, "latency_us.max").value_or(0), stall_us * 0.99) << r.output;
  EXPECT_GE(json_number(r.json, "latency_us.p99").value_or(0), stall_us * 0.75) << r.output;
  EXPECT_GE(json_number(r.json, "uncorrected_latency_us.max").value_or(0), stall_us * 0.99) << r.output;
  EXPECT_LT(json_number(r.json, "uncorrected_latency_us.p99").value_or(1e9), stall_us * 0.25) << r.output;
  EXPECT_NE(r.output.find("Uncorrected Latency"), std::string::npos) << r.output;
}

// The first request's body cannot all be written until the server, after
// kStall, starts reading; it answers as soon as it has read it. Measured from
// the send that took its last byte the answer is quick; from the due time it
// took the stall.
TEST_P(Loadgen, UncorrectedLatencyStartsWhenTheRequestIsSent) {
  TestServer server(Behaviour::kSlowReader);
  const RunResult r =
      run({"--rate", "2", "-d", "1s", "-c", "1", "-m", "POST", "--body-file", big_body_file()}, server.url());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  const double stall_us = std::chrono::duration<double, std::micro>(kStall).count();
  EXPECT_GE(json_number(r.json, "latency_us.max").value_or(0), stall_us * 0.99) << r.output;
  EXPECT_LT(json_number(r.json, "uncorrected_latency_us.max").value_or(1e9), stall_us * 0.5) << r.output;
}

// A server that answers only the first request of a pipelined batch: the
// rest stay in flight; at the deadline loadgen waits --timeout for them and
// then counts them, so the run is invalid.
TEST_P(Loadgen, UnansweredPipelinedRequestsMakeTheRunInvalid) {
  TestServer server(Behaviour::kFirstOfBatch);
  const std::vector<std::string> args = {"-d", "200ms", "-c", "2", "--pipeline", "8", "--timeout", "1s"};
  const RunResult r = run(args, server.url());
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_EQ(json_number(r.json, "result.valid"), 0);
  EXPECT_GT(json_number(r.json, "result.responses").value_or(0), 0) << r.output;
  EXPECT_GT(json_number(r.json, "result.unanswered_at_end").value_or(0), 0) << r.output;
  EXPECT_EQ(json_number(r.json, "result.errors.total"), 0) << r.output;  // nothing timed out in the window
  expect_accounting_adds_up(r);
  EXPECT_EQ(r.output.rfind("ERRORS: 0 failed requests, ", 0), 0u) << r.output;
  EXPECT_NE(r.output.find("unanswered at end"), std::string::npos) << r.output;

  // An explicit allowance makes the same run valid, and says so.
  std::vector<std::string> allowed = args;
  allowed.insert(allowed.end(), {"--allow-unanswered", "1000"});
  const RunResult a = run(allowed, server.url());
  EXPECT_EQ(a.exit_code, 0) << a.output;
  EXPECT_GT(json_number(a.json, "result.unanswered_at_end").value_or(0), 0) << a.output;
  EXPECT_NE(a.output.find("within --allow-unanswered 1000"), std::string::npos) << a.output;
}

// At a fixed rate, requests that fall due while the only connection waits
// on unanswered ones are never sent: counted, and in the latency at their age.
TEST_P(Loadgen, RequestsNeverSentAtAFixedRateAreCounted) {
  TestServer server(Behaviour::kStall);
  const RunResult r = run({"--rate", "100", "-d", "300ms", "-c", "1", "--timeout", "1s"}, server.url());
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_EQ(json_number(r.json, "result.unanswered_at_end"), 1) << r.output;
  EXPECT_GE(json_number(r.json, "result.not_sent").value_or(0), 25) << r.output;
  // The first request, unanswered, entered the corrected latency at its age
  // at the end: the 300 ms window and the 1 s wait.
  EXPECT_GE(json_number(r.json, "latency_us.max").value_or(0), 1.25e6) << r.output;
  expect_accounting_adds_up(r);
  EXPECT_NE(r.output.find("not sent"), std::string::npos) << r.output;
}

TEST(Loadgen, HelpAndBadUsage) {
  RunResult r = run_loadgen({"--help"}, "http://127.0.0.1:1/");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.output.find("Examples:"), std::string::npos) << r.output;
  r = run_loadgen({"-c", "0"}, "http://127.0.0.1:1/");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("bad value for --connections"), std::string::npos) << r.output;
}

// Where io_uring is refused (a seccomp filter on io_uring_setup, as a
// container runtime's default profile installs), --backend uring says why
// in one line and exits 2; it never falls back to epoll.
TEST(Loadgen, UringRefusedIsOneLineAndExit2) {
  TestServer server(Behaviour::kGood);
  for (const char* err : {"EPERM", "ENOSYS"}) {
    SCOPED_TRACE(err);
    const RunResult r = run_loadgen({"-n", "10", "-c", "1", "-k", "--backend", "uring"}, server.url(),
                                    {"variants/deny_io_uring", err});
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
    EXPECT_EQ(r.output.rfind("loadgen: ", 0), 0u) << r.output;
    EXPECT_NE(r.output.find("io_uring"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("--backend epoll"), std::string::npos) << r.output;
    EXPECT_TRUE(r.json.empty()) << r.json;
    EXPECT_EQ(server.connections(), 0);
  }
  // The same filter leaves --backend epoll running: the line came from the refusal.
  const RunResult e = run_loadgen({"-n", "10", "-c", "1", "-k", "--backend", "epoll"}, server.url(),
                                  {"variants/deny_io_uring", "EPERM"});
  EXPECT_EQ(e.exit_code, 0) << e.output;
  EXPECT_EQ(json_number(e.json, "result.responses"), 10) << e.output;
}

}  // namespace
